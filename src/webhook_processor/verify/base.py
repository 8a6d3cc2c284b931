"""What every scheme module shares: the request view, the signer's result, and header/timestamp
checks with uniform error messages."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from webhook_processor import errors


@dataclass(frozen=True, slots=True)
class Request:
    """A received webhook as the verifiers see it. Header names are lower-case. `url` is the URL
    the provider called: the source's `public_url` plus the request's query string, or the URL as
    received."""

    body: bytes
    headers: Mapping[str, str]
    url: str = ""


@dataclass(frozen=True, slots=True)
class Signed:
    """What `whp send` adds to a request: headers, and the URL (Twilio signs a query parameter)."""

    headers: dict[str, str]
    url: str


Verify = Callable[[Request, float], None]
Sign = Callable[[bytes, float, str], Signed]


def header(headers: Mapping[str, str], name: str) -> str:
    """The named (lower-case) header's value; SignatureInvalid naming it when absent or empty."""
    value = headers.get(name)
    if not value:
        raise errors.SignatureInvalid(f"missing {name} header")
    return value


def check_timestamp(timestamp: str, now: float, tolerance: int, name: str) -> int:
    """Parse a Unix-seconds timestamp and enforce the tolerance in both directions."""
    try:
        ts = int(timestamp)
    except ValueError:
        raise errors.SignatureInvalid(f"malformed {name}: not a Unix timestamp") from None
    if ts < now - tolerance:
        raise errors.SignatureInvalid(f"{name} is too old (more than {tolerance}s in the past)")
    if ts > now + tolerance:
        raise errors.SignatureInvalid(f"{name} is too new (more than {tolerance}s in the future)")
    return ts


def mismatch(what: str = "signature") -> errors.SignatureInvalid:
    return errors.SignatureInvalid(f"{what} does not match any configured secret")
