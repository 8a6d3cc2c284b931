"""Signature verification: one small pure module per scheme, all over the raw body bytes.

Each scheme module exposes two factories, called once at start-up with the source's config and its
resolved secrets, so that per-request work is only the digest and a constant-time comparison:

    verifier(source, secrets) -> Verify    Verify(request, now) raises errors.SignatureInvalid
    signer(source, secret)    -> Sign      Sign(body, now, url) -> Signed   (for `whp send`)

A factory raises ValueError, naming the problem but never the secret, for a secret of the wrong
form; `verifier` and `signer` here refuse an empty or blank secret for every scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from webhook_processor.verify import (
    apikey,
    basic,
    github,
    gitlab,
    hmac_generic,
    none,
    paddle,
    shopify,
    slack,
    square,
    standard,
    stripe,
    twilio,
)
from webhook_processor.verify.base import Request, Sign, Signed, Spec, Verify

__all__ = [
    "Request",
    "Sign",
    "Signed",
    "Spec",
    "Verify",
    "credential_headers",
    "signer",
    "verifier",
]

SCHEMES: dict[str, ModuleType] = {
    "github": github,
    "stripe": stripe,
    "slack": slack,
    "shopify": shopify,
    "standard-webhooks": standard,
    "svix": standard,
    "twilio": twilio,
    "square": square,
    "paddle": paddle,
    "gitlab": gitlab,
    "hmac": hmac_generic,
    "basic": basic,
    "api-key": apikey,
    "none": none,
}


def verifier(source: Spec, secrets: Sequence[str]) -> Verify:
    # An empty key verifies whatever is signed with an empty key: anyone could forge it.
    if source.scheme != "none" and any(not secret.strip() for secret in secrets):
        raise ValueError("a secret is empty")
    result: Verify = SCHEMES[source.scheme].verifier(source, secrets)
    return result


def signer(source: Spec, secret: str) -> Sign:
    if source.scheme != "none" and not secret.strip():
        raise ValueError("the secret is empty")
    result: Sign = SCHEMES[source.scheme].signer(source, secret)
    return result


def credential_headers(source: Spec) -> frozenset[str]:
    """Request headers that carry credentials: never stored, never logged."""
    names = {"authorization", "proxy-authorization", "cookie"}
    if source.scheme == "gitlab":
        names.add("x-gitlab-token")
    if source.scheme == "api-key" and source.header:
        names.add(source.header.lower())
    return frozenset(names)
