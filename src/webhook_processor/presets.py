"""Provider presets: where each scheme's senders put the event type and the idempotency key.

A source's own `event_type:` / `idempotency_key:` replaces the preset. Several specs are tried in
order; the first that yields a value wins.
"""

from __future__ import annotations

from webhook_processor import config, fields

# scheme: (event type specs, idempotency key specs)
PRESETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "github": (("header:X-GitHub-Event",), ("header:X-GitHub-Delivery",)),
    "stripe": (("json:type",), ("json:id",)),
    "slack": (("json:event.type", "json:type"), ("json:event_id",)),
    "shopify": (
        ("header:X-Shopify-Topic",),
        ("header:X-Shopify-Webhook-Id", "header:X-Shopify-Event-Id"),
    ),
    "standard-webhooks": (("json:type",), ("header:webhook-id",)),
    "svix": (("json:type",), ("header:svix-id", "header:webhook-id")),
    "twilio": ((), ("header:I-Twilio-Idempotency-Token",)),
    "square": (("json:type",), ("json:event_id",)),
    "paddle": (("json:event_type",), ("json:event_id",)),
    "gitlab": (
        ("header:X-Gitlab-Event",),
        ("header:Idempotency-Key", "header:X-Gitlab-Event-UUID"),
    ),
}


def specs(
    source: config.Source,
) -> tuple[tuple[fields.FieldSpec, ...], tuple[fields.FieldSpec, ...]]:
    """(event type specs, idempotency key specs) for a source: its own, else its scheme's preset."""
    preset_type, preset_key = PRESETS.get(source.verify, ((), ()))
    type_texts = (source.event_type,) if source.event_type else preset_type
    key_texts = (source.idempotency_key,) if source.idempotency_key else preset_key
    return tuple(map(fields.parse, type_texts)), tuple(map(fields.parse, key_texts))
