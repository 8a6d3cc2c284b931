"""The scheme registry: every scheme has a module, and each signer's output verifies."""

from __future__ import annotations

import base64
import typing
from typing import Any

import pytest

from tests.unit import specs
from webhook_processor import config, verify

NOW = 1_700_000_000.0
URL = "https://hooks.example.com/in/src?x=1"
JSON_BODY = b'{"event":"created","id":"evt_1","amount":4200}'
FORM_BODY = b"MessageSid=SM1&Body=hello+world&From=%2B15551234567"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()

# A valid config and secret for each scheme.
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "github": ({}, "gh-secret"),
    "stripe": ({}, "whsec_stripe_test_secret"),
    "slack": ({}, "8f742231b10e8888abcd99yyyzzz85a5"),
    "shopify": ({}, "shpss_shopify_secret"),
    "standard-webhooks": ({}, STANDARD_SECRET),
    "svix": ({}, STANDARD_SECRET),
    "twilio": ({"public_url": "https://hooks.example.com/in/src"}, "twilio-auth-token"),
    "square": ({"public_url": "https://hooks.example.com/in/src"}, "square-signature-key"),
    "paddle": ({}, "pdl_ntfset_01h_paddle_secret"),
    "gitlab": ({}, "gitlab-token"),
    "hmac": (
        {
            "header": "X-Signature",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "v1=",
            "timestamp_header": "X-Timestamp",
            "id_header": "X-Id",
            "signed_content": "{id}.{timestamp}.{body}",
        },
        "hmac-secret",
    ),
    "basic": ({"username": "whp"}, "basic-password"),
    "api-key": ({"header": "X-Api-Key"}, "api-key-value"),
    "none": ({}, ""),
}
SCHEMES = typing.get_args(config.Scheme)


def source(scheme: str) -> verify.Spec:
    keys, secret = CASES[scheme]
    raw: dict[str, Any] = {"verify": scheme, **keys}
    if scheme != "none":
        raw["secret"] = secret
    return specs.validated(raw)


def test_every_scheme_has_a_module() -> None:
    assert set(SCHEMES) == set(verify.SCHEMES)
    for scheme in SCHEMES:
        module = verify.SCHEMES[scheme]
        assert callable(module.verifier), scheme
        assert callable(module.signer), scheme


def test_every_scheme_has_a_round_trip_case() -> None:
    assert set(SCHEMES) == set(CASES)


@pytest.mark.parametrize("body", [JSON_BODY, FORM_BODY], ids=["json", "form"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_round_trip(scheme: str, body: bytes) -> None:
    src = source(scheme)
    secret = CASES[scheme][1]
    signed = verify.signer(src, secret)(body, NOW, URL)
    content_type = "application/json" if body is JSON_BODY else "application/x-www-form-urlencoded"
    headers = {"content-type": content_type, **{k.lower(): v for k, v in signed.headers.items()}}
    request = verify.Request(body=body, headers=headers, url=signed.url)
    verify.verifier(src, [secret])(request, NOW)
    # Rotation: the signing secret is the second of two configured.
    if scheme != "none":
        verify.verifier(src, [*_other_secret(scheme), secret])(request, NOW)


def _other_secret(scheme: str) -> list[str]:
    if scheme in ("standard-webhooks", "svix"):
        return ["whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()]
    return ["an-older-secret"]


def test_credential_headers() -> None:
    assert "x-gitlab-token" in verify.credential_headers(source("gitlab"))
    assert "x-api-key" in verify.credential_headers(source("api-key"))
    assert "authorization" in verify.credential_headers(source("basic"))
    assert "x-gitlab-token" not in verify.credential_headers(source("github"))
    assert "x-api-key" not in verify.credential_headers(source("hmac"))


SIGNED_SCHEMES = [scheme for scheme in SCHEMES if scheme != "none"]


@pytest.mark.parametrize("empty", ["", "  ", "\t"])
@pytest.mark.parametrize("scheme", SIGNED_SCHEMES)
def test_an_empty_secret_is_refused_by_every_verifier_and_signer(scheme: str, empty: str) -> None:
    """An empty key verifies whatever is signed with an empty key: anyone could forge it."""
    src = source(scheme)
    with pytest.raises(ValueError, match=r"^a secret is empty$"):
        verify.verifier(src, [CASES[scheme][1], empty])
    with pytest.raises(ValueError, match=r"^the secret is empty$"):
        verify.signer(src, empty)
