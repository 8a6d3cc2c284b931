"""Provider presets: where each scheme's senders put the event type and the idempotency key.

A source's own `event_type:` / `idempotency_key:` replaces the preset. Several specs are tried in
order; the first that yields a value wins. A scheme that signs a message id dedupes on that id,
read exactly where its verifier read it: a key the signature does not cover would let a captured
request, resent with another value there, be stored again.
"""

from __future__ import annotations

from webhook_processor import fields
from webhook_processor.verify import base, hmac_generic, standard

SIGNED_ID = tuple(f"header:{name}" for name in standard.ID_HEADERS)

# scheme: (event type specs, idempotency key specs)
PRESETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "github": (("header:X-GitHub-Event",), ("header:X-GitHub-Delivery",)),
    "stripe": (("json:type",), ("json:id",)),
    "slack": (("json:event.type", "json:type"), ("json:event_id",)),
    "shopify": (
        ("header:X-Shopify-Topic",),
        ("header:X-Shopify-Webhook-Id", "header:X-Shopify-Event-Id"),
    ),
    "standard-webhooks": (("json:type",), SIGNED_ID),
    "svix": (("json:type",), SIGNED_ID),
    "twilio": ((), ("header:I-Twilio-Idempotency-Token",)),
    "square": (("json:type",), ("json:event_id",)),
    "paddle": (("json:event_type",), ("json:event_id",)),
    "gitlab": (
        ("header:X-Gitlab-Event",),
        ("header:Idempotency-Key", "header:X-Gitlab-Event-UUID"),
    ),
}


def specs(
    source: base.Spec,
) -> tuple[tuple[fields.FieldSpec, ...], tuple[fields.FieldSpec, ...]]:
    """(event type specs, idempotency key specs) for a source: its own, else its scheme's preset."""
    preset_type, preset_key = PRESETS.get(source.scheme, ((), ()))
    id_header = hmac_generic.signed_id_header(source) if source.scheme == "hmac" else None
    if id_header is not None:
        preset_key = (f"header:{id_header}",)
    type_texts = (source.event_type,) if source.event_type else preset_type
    key_texts = (source.idempotency_key,) if source.idempotency_key else preset_key
    return tuple(map(fields.parse, type_texts)), tuple(map(fields.parse, key_texts))
