"""`whp send` builds a request its source verifies, with the signed id as its only id."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from webhook_processor import config, fields, presets, sending, verify

NOW = 1_700_000_000.0
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.mark.parametrize(
    "raw",
    [
        {"verify": "standard-webhooks", "secret": SECRET},
        {"verify": "svix", "secret": SECRET},
        {
            "verify": "hmac",
            "secret": "k",
            "header": "X-Sig",
            "id_header": "X-Id",
            "signed_content": "{id}.{body}",
        },
    ],
    ids=lambda raw: raw["verify"],
)
def test_a_sent_webhook_carries_one_id_the_signed_one(raw: dict[str, Any]) -> None:
    source = config.Source.model_validate(raw)
    secret = source.secret_refs[0]
    out = sending.build(source, secret, b"{}", "http://127.0.0.1:9/webhooks/s", NOW)
    headers = {name.lower(): value for name, value in out.headers.items()}
    assert len(headers) == len(out.headers), out.headers
    verify.verifier(source, [secret])(verify.Request(out.body, headers, out.url), NOW)
    _, key_specs = presets.specs(source)
    key = fields.extract(key_specs, headers, {}, out.body)
    assert key is not None
    assert key.startswith("msg_")  # the signer's id, not a made-up delivery header
