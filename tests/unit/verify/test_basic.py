"""HTTP Basic: Authorization: Basic base64(username:password)."""

from __future__ import annotations

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, basic

# Official example from RFC 7617 section 2 (https://www.rfc-editor.org/rfc/rfc7617#section-2):
# user-id "Aladdin", password "open sesame".
USERNAME = "Aladdin"
PASSWORD = "open sesame"
AUTHORIZATION = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
NOW = 1_700_000_000.0

SOURCE = specs.validated({"verify": "basic", "secret": "x", "username": USERNAME})


def verify(
    headers: dict[str, str], secrets: tuple[str, ...] = (PASSWORD,), body: bytes = b"{}"
) -> None:
    basic.verifier(SOURCE, secrets)(base.Request(body, headers), NOW)


def test_official_vector_verifies() -> None:
    verify({"authorization": AUTHORIZATION})


def test_signer_reproduces_official_vector() -> None:
    signed = basic.signer(SOURCE, PASSWORD)(b"{}", NOW, "https://example.com/b")
    assert signed.headers == {"Authorization": AUTHORIZATION}


def test_scheme_name_is_case_insensitive() -> None:
    # RFC 7235 section 2.1: the auth-scheme is case-insensitive.
    verify({"authorization": "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="})


def test_body_is_not_covered() -> None:
    """Basic authenticates the sender only: a changed body cannot be detected."""
    verify({"authorization": AUTHORIZATION}, body=b"changed")


def test_wrong_password_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="username or password does not match"):
        verify({"authorization": AUTHORIZATION}, secrets=("open sesame!",))


def test_wrong_username_fails() -> None:
    source = specs.validated({"verify": "basic", "secret": "x", "username": "Ali"})
    with pytest.raises(errors.SignatureInvalid, match="username or password does not match"):
        basic.verifier(source, [PASSWORD])(base.Request(b"", {"authorization": AUTHORIZATION}), NOW)


def test_rotation_second_secret_matches() -> None:
    verify({"authorization": AUTHORIZATION}, secrets=("old password", PASSWORD))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing authorization header"):
        verify({"x-api-key": PASSWORD})


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "expected Basic"),
        ("QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "expected Basic"),
        ("Basic not*base64", "not valid base64"),
        ("Basic QWxhZGRpbg==", "not username:password"),  # "Aladdin", no colon
    ],
)
def test_malformed_header(value: str, problem: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match=problem):
        verify({"authorization": value})


def test_username_with_colon_is_rejected_at_start_up() -> None:
    """The config refuses it too; this is the verifier's own guard, past the config."""
    source = base.Spec(scheme="basic", username="a:b")
    with pytest.raises(ValueError, match="cannot contain ':'"):
        basic.verifier(source, ["p"])


def test_round_trip_with_lower_case_headers_and_utf8() -> None:
    source = specs.validated({"verify": "basic", "secret": "x", "username": "zoë"})
    signed = basic.signer(source, "pässwörd")(b"{}", NOW, "")
    headers = {k.lower(): v for k, v in signed.headers.items()}
    basic.verifier(source, ["pässwörd"])(base.Request(b"{}", headers), NOW)
