"""Standard Webhooks (and Svix, which it was taken from): `webhook-id`, `webhook-timestamp` and
`webhook-signature` (Svix: `svix-id`, `svix-timestamp`, `svix-signature`; both sets are accepted).
The signed content is `{id}.{timestamp}.{body}`; the signature header is a space-separated list of
`v1,<base64 HMAC-SHA256>` and/or `v1a,<base64 ed25519 signature>`; any one valid entry passes.

Secrets: `whsec_<base64>` is an HMAC key (v1); `whpk_<base64>` an ed25519 public key (v1a, verify
only); `whsk_<base64>` an ed25519 private key (v1a, sign only).

https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping, Sequence
from secrets import token_urlsafe

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from webhook_processor import errors, signing
from webhook_processor.verify import base


def _key(secret: str, prefix: str, scheme: str, sizes: tuple[int, ...] = ()) -> bytes:
    raw = signing.b64decode(secret[len(prefix) :])
    if not raw or (sizes and len(raw) not in sizes):
        size = f" of a {' or '.join(map(str, sizes))}-byte key" if sizes else ""
        raise ValueError(
            f"verify: {scheme}: malformed {prefix} secret: expected {prefix}<base64{size}>"
        )
    return raw


# The headers that may carry the signed message id, in the order the verifier picks its header
# set: the first present names it. The preset idempotency key (presets.py) reads them in the same
# order, so that it is the id that was verified whichever set carried it: a captured request
# resent with its headers renamed, or with the other set's id added, is the same event.
ID_HEADERS = ("webhook-id", "svix-id")


def _prefix(headers: Mapping[str, str], scheme: str) -> str:
    for name in ID_HEADERS:
        if name in headers:
            return name.removesuffix("id")
    return "svix-" if scheme == "svix" else "webhook-"  # names the header found missing


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    scheme = source.scheme
    hmac_keys: list[bytes] = []
    public_keys: list[Ed25519PublicKey] = []
    for secret in secrets:
        if secret.startswith("whsec_"):
            hmac_keys.append(_key(secret, "whsec_", scheme))
        elif secret.startswith("whpk_"):
            public_keys.append(
                Ed25519PublicKey.from_public_bytes(_key(secret, "whpk_", scheme, (32,)))
            )
        else:
            raise ValueError(
                f"verify: {scheme} needs secrets of the form whsec_<base64> (HMAC key) "
                "or whpk_<base64> (ed25519 public key)"
            )
    tolerance = source.tolerance_seconds

    def verify(request: base.Request, now: float) -> None:
        prefix = _prefix(request.headers, scheme)
        msg_id = base.header(request.headers, prefix + "id")
        timestamp = base.header(request.headers, prefix + "timestamp")
        value = base.header(request.headers, prefix + "signature")
        base.check_timestamp(timestamp, now, tolerance, f"{prefix}timestamp header")
        v1: list[bytes] = []
        v1a: list[bytes] = []
        for entry in value.split():
            version, _, encoded = entry.partition(",")
            sig = signing.b64decode(encoded) if version in ("v1", "v1a") else None
            if sig:
                (v1 if version == "v1" else v1a).append(sig)
        if not v1 and not v1a:
            raise errors.SignatureInvalid(
                f"malformed {prefix}signature header: expected v1,<base64> or v1a,<base64> entries"
            )
        signed = signing.signed_content(msg_id, timestamp, request.body)
        for key in hmac_keys:
            expected = signing.v1_digest(key, signed)
            if any(hmac.compare_digest(expected, sig) for sig in v1):
                return
        for public_key in public_keys:
            for sig in v1a:
                try:
                    public_key.verify(sig, signed)
                except InvalidSignature:
                    continue
                return
        raise base.mismatch()

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    scheme = source.scheme
    prefix = "svix-" if scheme == "svix" else "webhook-"
    if secret.startswith("whsec_"):
        key = _key(secret, "whsec_", scheme)

        def signature(signed: bytes) -> str:
            return "v1," + base64.b64encode(signing.v1_digest(key, signed)).decode()

    elif secret.startswith("whsk_"):
        seed = _key(secret, "whsk_", scheme, (32, 64))[:32]  # the seed, or libsodium's seed+public
        private_key = Ed25519PrivateKey.from_private_bytes(seed)

        def signature(signed: bytes) -> str:
            return "v1a," + base64.b64encode(private_key.sign(signed)).decode()

    elif secret.startswith("whpk_"):
        raise ValueError(
            f"verify: {scheme} cannot sign with a public key; pass the private key whsk_..."
        )
    else:
        raise ValueError(
            f"verify: {scheme} signs with whsec_<base64> (HMAC key) "
            "or whsk_<base64> (ed25519 private key)"
        )

    def sign(body: bytes, now: float, url: str) -> base.Signed:
        msg_id = "msg_" + token_urlsafe(18)
        ts = str(int(now))
        signed = signing.signed_content(msg_id, ts, body)
        headers = {
            prefix + "id": msg_id,
            prefix + "timestamp": ts,
            prefix + "signature": signature(signed),
        }
        return base.Signed(headers, url)

    return sign
