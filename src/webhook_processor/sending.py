"""`whp send`: build a correctly signed test webhook for a source, as its provider would send it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from webhook_processor import config, errors, presets, verify


@dataclass(frozen=True, slots=True)
class Outgoing:
    url: str
    headers: dict[str, str]
    body: bytes


def content_type_for(source: config.Source, body: bytes) -> str:
    try:
        json.loads(body)
    except ValueError:
        if source.verify == "twilio":
            return "application/x-www-form-urlencoded"
        return "text/plain; charset=utf-8"
    return "application/json"


def build(
    source: config.Source,
    secret: str,
    body: bytes,
    url: str,
    now: float,
    *,
    event_type: str | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Outgoing:
    """Sign `body` for `source` and post it to `url` (the server's own address).

    A scheme that signs the URL signs `public_url` when the source has one: that is the URL the
    server checks against. Any query the signer adds (Twilio's bodySHA256) is carried over."""
    out = {"Content-Type": content_type or content_type_for(source, body), "User-Agent": "whp-send"}
    type_specs, key_specs = presets.specs(source)
    if event_type is not None:
        spec = type_specs[0] if type_specs else None
        if spec is None or spec.kind != "header":
            where = f"from {spec}" if spec else "from nowhere (it is always 'unknown')"
            raise errors.UsageError(
                f"--event-type: this source takes its event type {where}; put the type in the file"
            )
        out[spec.arg] = event_type
    try:
        sign = verify.signer(source, secret)
    except ValueError as exc:
        raise errors.UsageError(f"cannot sign for this source: {exc}") from None
    signed_url = source.public_url or url
    signed = sign(body, now, signed_url)
    # A delivery id of its own, as the provider sends one, unless the signer made the id: a
    # second id header beside the signed one would be read instead of it.
    signed_names = {name.lower() for name in signed.headers}
    key_headers = [spec.arg for spec in key_specs if spec.kind == "header"]
    if key_headers and key_specs[0].kind == "header" and signed_names.isdisjoint(key_headers):
        out[key_headers[0]] = str(uuid.uuid4())
    out.update(headers or {})
    out.update(signed.headers)
    added = signed.url.removeprefix(signed_url)  # e.g. Twilio's "?bodySHA256=..."
    if added:
        url += ("&" if "?" in url else "?") + added.lstrip("?&")
    return Outgoing(url, out, body)
