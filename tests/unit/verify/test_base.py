"""The shared HMAC check: prepared keys give exactly the stdlib's HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from webhook_processor import errors
from webhook_processor.verify import base

SECRETS = [
    "s3cret",
    "",
    "k" * 64,  # one SHA-256 block exactly
    "l" * 65,  # longer than a block: HMAC hashes the key first
    "whsec_ünïcode",
]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("content", [b"", b"{}", b"x" * 1024, bytes(range(256)) * 9])
def test_prepared_key_digest_is_the_stdlib_hmac(secret: str, content: bytes) -> None:
    key = base.HmacKey(secret)
    expected = hmac.new(secret.encode(), content, hashlib.sha256).digest()
    assert key.digest(content) == expected
    assert key.digest(content) == expected, "a digest must leave the prepared key unchanged"
    assert key.digest(content + b"!") != expected


def test_check_hmac_passes_any_key_and_any_given_signature() -> None:
    keys = base.hmac_keys(["old", "new"])
    signed = hmac.new(b"new", b"body", hashlib.sha256).hexdigest().encode()
    base.check_hmac(keys, b"body", [b"00" * 32, signed], base.hex_digest)
    with pytest.raises(errors.SignatureInvalid, match="does not match any configured secret"):
        base.check_hmac(keys, b"bodY", [b"00" * 32, signed], base.hex_digest)
