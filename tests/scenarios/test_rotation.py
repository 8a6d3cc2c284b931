"""A rotation of a provider's secret, on both runtimes: the new secret is accepted, and so is the
previous one while the provider still signs with it (locally `secrets: [new, old]`; on AWS the
secret's AWSCURRENT and AWSPREVIOUS stages); the one before that no longer is."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from tests.scenarios import runtimes, signers

pytestmark = pytest.mark.scenarios


def signed_with(runtime: runtimes.Runtime, secret: str) -> tuple[int, object]:
    body = json.dumps({"ref": "refs/heads/main", "after": uuid.uuid4().hex}).encode()
    return runtime.send("github", body, signers.github(secret, body))


def test_a_webhook_signed_with_the_previous_secret_is_accepted_during_a_rotation(
    runtime: runtimes.Runtime,
) -> None:
    first = runtime.secrets.current("github")
    assert signed_with(runtime, first)[0] == 202
    second = "gh-scn-rotated-" + secrets.token_hex(16)
    runtime.rotate_secret("github", second)
    assert signed_with(runtime, second)[0] == 202
    assert signed_with(runtime, first)[0] == 202  # the provider has not switched yet
    assert signed_with(runtime, "gh-scn-never-" + secrets.token_hex(8))[0] == 401

    third = "gh-scn-again-" + secrets.token_hex(16)
    runtime.rotate_secret("github", third)  # `first` is now two rotations old
    assert signed_with(runtime, third)[0] == 202
    assert signed_with(runtime, second)[0] == 202
    status, answer = signed_with(runtime, first)
    assert (status, answer) == (
        401,
        {"error": "invalid_signature", "detail": "signature does not match any configured secret"},
    )
    runtime.settle()
    assert len(runtime.events("github")) == 5
    assert len(runtime.deliveries_received("orders")) == 5
