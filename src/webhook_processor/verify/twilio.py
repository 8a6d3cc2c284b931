"""Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1 of the URL + the sorted POST parameters>`.

For a form body, each parameter name is followed by its value, sorted by name (a repeated name
once per value, its values sorted). For a JSON body, Twilio adds `bodySHA256=<hex SHA-256 of the
body>` to the URL's query and signs the URL alone. As twilio-python's RequestValidator does, the
URL is tried both without its port and with it (the scheme's default port when it has none).

https://www.twilio.com/docs/usage/webhooks/webhooks-security
https://github.com/twilio/twilio-python/blob/main/twilio/request_validator.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from urllib.parse import parse_qs, parse_qsl, urlsplit

from webhook_processor import errors
from webhook_processor.verify import base

HEADER = "x-twilio-signature"
FORM = "application/x-www-form-urlencoded"
BODY_HASH = "bodySHA256"


def _form_params(body: bytes) -> bytes:
    """The signed suffix for a form body; UnicodeDecodeError (a ValueError) when not UTF-8."""
    pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)
    return "".join(n + v for n in sorted(values) for v in sorted(values[n])).encode()


def _urls(url: str) -> list[str]:
    """The URL without its port, and with it (adding 443 or 80 when there is none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port:
        without = parts._replace(netloc=parts.netloc.rpartition(":")[0]).geturl()
        with_port = parts.geturl()
    else:
        default = 443 if parts.scheme == "https" else 80
        without = parts.geturl()
        with_port = parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    return [without] if without == with_port else [without, with_port]


def _digest(key: bytes, url: str, params: bytes) -> bytes:
    return base64.b64encode(hmac.new(key, url.encode() + params, hashlib.sha1).digest())


def _is_form(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == FORM


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    keys = [s.encode() for s in secrets]

    def verify(request: base.Request, now: float) -> None:
        given = base.header(request.headers, HEADER).encode()
        if not request.url:
            raise errors.SignatureInvalid("cannot verify: the request URL is unknown")
        if _is_form(request.headers.get("content-type", "")):
            try:
                params = _form_params(request.body)
            except ValueError:
                raise errors.SignatureInvalid("malformed form body: not UTF-8") from None
        else:
            params = b""
            hashes = parse_qs(urlsplit(request.url).query).get(BODY_HASH)
            if hashes is not None:
                actual = hashlib.sha256(request.body).hexdigest().encode()
                if not hmac.compare_digest(actual, hashes[0].encode()):
                    raise errors.SignatureInvalid(
                        f"the URL's {BODY_HASH} does not match the SHA-256 of the body"
                    )
            elif request.body:
                raise errors.SignatureInvalid(
                    f"a body that is not {FORM} needs {BODY_HASH} in the URL's query"
                )
        for url in _urls(request.url):
            for key in keys:
                if hmac.compare_digest(_digest(key, url, params), given):
                    return
        raise base.mismatch()

    return verify


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def signer(source: base.Spec, secret: str) -> base.Sign:
    """Signs a body that parses as JSON as Twilio signs JSON (send it as application/json), and
    any other body as a form (send it as application/x-www-form-urlencoded)."""
    key = secret.encode()

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        if _is_json(body):
            separator = "" if url.endswith(("?", "&")) else "&" if "?" in url else "?"
            url = f"{url}{separator}{BODY_HASH}={hashlib.sha256(body).hexdigest()}"
            params = b""
        else:
            params = _form_params(body)
        return base.Signed({"X-Twilio-Signature": _digest(key, url, params).decode()}, url)

    return sign
