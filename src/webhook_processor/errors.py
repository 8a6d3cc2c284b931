"""The one exception tree of webhook-processor.

Each error knows how an entrypoint reports it: the HTTP status and error code for the ingest API,
and the exit status for the CLI.

    WhpError                     exit 1
     ├── ConfigError             exit 2   a config file problem: file, key path, what is wrong
     ├── SecretError             exit 2   a secret reference that cannot be resolved
     ├── UsageError              exit 2   400 invalid_request: a bad argument (CLI flag, API query)
 ├── NotFound                exit 2   404 not_found: no such event, delivery or destination
     ├── StoreUnavailable        exit 3   503 store_unavailable
     └── Rejected                         a webhook the ingest endpoint refuses
          ├── MalformedRequest            400 malformed_request (not HTTP/1.1 the server can parse)
          ├── HeadersTooLarge             431 headers_too_large
          ├── RequestTimeout              408 request_timeout
          ├── MethodNotAllowed            405 method_not_allowed (also CONNECT, on any path)
          ├── UnknownSource               404 unknown_source
          ├── PayloadTooLarge             413 payload_too_large
          ├── SignatureInvalid            401 invalid_signature
          ├── RateLimited                 429 rate_limited (carries retry_after seconds)
          ├── UnsupportedMediaType        415 unsupported_media_type
          ├── MalformedPayload            400 malformed_payload
          └── SchemaViolation             422 schema_violation

Messages never contain secret values, and what they echo of a request is cut short (`shown`).
"""

from __future__ import annotations


class WhpError(Exception):
    status = 500
    code = "internal_error"
    exit_code = 1

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(WhpError):
    exit_code = 2

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {p}" for p in problems]
        super().__init__("\n".join(lines))


class SecretError(WhpError):
    exit_code = 2


class UsageError(WhpError):
    status = 400
    code = "invalid_request"
    exit_code = 2


class NotFound(WhpError):
    status = 404
    code = "not_found"
    exit_code = 2


class StoreUnavailable(WhpError):
    status = 503
    code = "store_unavailable"
    exit_code = 3


class Rejected(WhpError):
    """A webhook refused at ingest; nothing was stored."""


class MalformedRequest(Rejected):
    """A request the HTTP server cannot parse (on any path): a bad request line, a header name
    or value holding characters HTTP forbids, a contradictory Content-Length, bad chunking."""

    status = 400
    code = "malformed_request"


class HeadersTooLarge(Rejected):
    """A request line and headers over the server's limit (entrypoints/web.py)."""

    status = 431
    code = "headers_too_large"


class RequestTimeout(Rejected):
    """A request not received in full within the server's time limit (entrypoints/web.py)."""

    status = 408
    code = "request_timeout"


class MethodNotAllowed(Rejected):
    status = 405
    code = "method_not_allowed"


class UnknownSource(Rejected):
    status = 404
    code = "unknown_source"


class PayloadTooLarge(Rejected):
    status = 413
    code = "payload_too_large"


class SignatureInvalid(Rejected):
    status = 401
    code = "invalid_signature"


class RateLimited(Rejected):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnsupportedMediaType(Rejected):
    status = 415
    code = "unsupported_media_type"


class MalformedPayload(Rejected):
    status = 400
    code = "malformed_payload"


class SchemaViolation(Rejected):
    status = 422
    code = "schema_violation"


SHOWN_CHARACTERS = 100


def shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """`value` quoted for a message or a log line, cut to `limit` characters: what a sender puts
    in a URL or a header may be as long as the request allows (64 KiB)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def cut(text: str, limit: int) -> str:
    """`text` (which may quote a sender's values) cut to `limit` characters, saying so."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
