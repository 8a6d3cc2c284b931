"""Twilio: X-Twilio-Signature over the URL + sorted form params, or the URL with bodySHA256."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest

from tests.unit import specs
from webhook_processor import errors
from webhook_processor.verify import base, twilio

# Official test vectors from twilio/twilio-python tests/unit/test_request_validator.py.
TOKEN = "12345"
URI = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
JSON_BODY = b'{"property": "value", "boolean": true}'
BODY_HASH = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
URI_WITH_BODY = URI + "&bodySHA256=" + BODY_HASH
JSON_EXPECTED = "a9nBmqA0ju/hNViExpshrM61xv4="  # test_validation_of_body_succeeds
DUPLICATE_BODY = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
DUPLICATE_EXPECTED = "IK+Dwps556ElfBT0I3Rgjkr1wJU="  # test_compute_signature_duplicate_*

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
FORM_BODY = urlencode(PARAMS).encode()
NOW = 1_700_000_000.0
SOURCE = specs.validated({"verify": "twilio", "secret": "x"})


def verify(
    signature: str | None,
    body: bytes = FORM_BODY,
    url: str = URI,
    headers: dict[str, str] = FORM,
    secrets: tuple[str, ...] = (TOKEN,),
) -> None:
    all_headers = dict(headers)
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    twilio.verifier(SOURCE, secrets)(base.Request(body, all_headers, url), NOW)


def test_official_form_vector_verifies() -> None:
    verify(EXPECTED)


def test_form_body_with_charset_parameter() -> None:
    verify(EXPECTED, headers={"content-type": "Application/X-WWW-Form-Urlencoded; charset=utf-8"})


def test_form_params_order_in_body_does_not_matter() -> None:
    verify(EXPECTED, body=urlencode(sorted(PARAMS.items(), reverse=True)).encode())


def test_official_duplicate_keys_vector() -> None:
    # Repeated names: every value signed, values sorted (twilio-python's compute_signature).
    verify(DUPLICATE_EXPECTED, body=DUPLICATE_BODY)
    verify(DUPLICATE_EXPECTED, body=b"Digits=1234&Sid=CA123&Digits=5678&SidAccount=AC123")


def test_signer_reproduces_official_vectors() -> None:
    sign = twilio.signer(SOURCE, TOKEN)
    assert sign(FORM_BODY, NOW, URI) == base.Signed({"X-Twilio-Signature": EXPECTED}, URI)
    assert sign(DUPLICATE_BODY, NOW, URI).headers["X-Twilio-Signature"] == DUPLICATE_EXPECTED
    assert sign(JSON_BODY, NOW, URI) == base.Signed(
        {"X-Twilio-Signature": JSON_EXPECTED}, URI_WITH_BODY
    )


@pytest.mark.parametrize(
    ("url", "signature"),
    [
        # test_validation_removes_port_on_https: signed without the port.
        (URI.replace(".com", ".com:1234"), EXPECTED),
        # test_validation_removes_port_on_http: signed with the port, as given.
        (URI.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        # test_validation_adds_port_on_https: signed with :443.
        (URI, "kvajT1Ptam85bY51eRf/AJRuM3w="),
        # test_validation_adds_port_on_http: signed with :80.
        (URI.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ],
)
def test_official_port_vectors(url: str, signature: str) -> None:
    verify(signature, url=url)


def test_default_port_signature_does_not_match_another_port() -> None:
    with pytest.raises(errors.SignatureInvalid, match="does not match"):
        verify("kvajT1Ptam85bY51eRf/AJRuM3w=", url=URI.replace(".com", ".com:8443"))


def test_official_json_vector_verifies() -> None:
    verify(JSON_EXPECTED, body=JSON_BODY, url=URI_WITH_BODY, headers=JSON)


def test_json_tampered_body_fails_on_body_hash() -> None:
    with pytest.raises(errors.SignatureInvalid, match="bodySHA256 does not match"):
        verify(
            JSON_EXPECTED,
            body=JSON_BODY.replace(b"true", b"false"),
            url=URI_WITH_BODY,
            headers=JSON,
        )


def test_json_tampered_hash_fails_on_signature() -> None:
    body = b'{"property": "other"}'
    url = URI + "&bodySHA256=" + hashlib.sha256(body).hexdigest()
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(JSON_EXPECTED, body=body, url=url, headers=JSON)


def test_json_without_body_hash_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="needs bodySHA256"):
        verify(JSON_EXPECTED, body=JSON_BODY, url=URI, headers=JSON)


def test_bodyless_request_signs_url_alone() -> None:
    # A GET callback: the parameters are in the URL's query, which is signed as part of the URL.
    signed = twilio.signer(SOURCE, TOKEN)(b"", NOW, URI)
    assert signed.url == URI
    verify(signed.headers["X-Twilio-Signature"], body=b"", headers={})


def test_tampered_form_body_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(EXPECTED, body=urlencode({**PARAMS, "Digits": "1235"}).encode())


def test_added_form_param_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(EXPECTED, body=FORM_BODY + b"&Extra=1")


def test_tampered_url_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(EXPECTED, url=URI.replace("foo=1", "foo=2"))


def test_wrong_secret_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(EXPECTED, secrets=("54321",))


def test_rotation_second_secret_matches() -> None:
    verify(EXPECTED, secrets=("54321", TOKEN))


def test_missing_header() -> None:
    with pytest.raises(errors.SignatureInvalid, match="missing x-twilio-signature header"):
        verify(None)


@pytest.mark.parametrize("value", ["not-base64!", EXPECTED.lower(), EXPECTED[:-1]])
def test_malformed_header_fails(value: str) -> None:
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(value)


def test_form_body_not_utf8_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="malformed form body"):
        verify(EXPECTED, body=b"Body=%FF")


def test_unknown_url_fails() -> None:
    with pytest.raises(errors.SignatureInvalid, match="request URL is unknown"):
        verify(EXPECTED, url="")


def test_blank_values_are_signed() -> None:
    body = b"Body=&From=%2B1"
    signed = twilio.signer(SOURCE, TOKEN)(body, NOW, URI)
    verify(signed.headers["X-Twilio-Signature"], body=body)
    with pytest.raises(errors.SignatureInvalid, match="signature does not match"):
        verify(signed.headers["X-Twilio-Signature"], body=b"From=%2B1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/t", "https://example.com/t?bodySHA256="),
        ("https://example.com/t?a=1", "https://example.com/t?a=1&bodySHA256="),
        ("https://example.com/t?", "https://example.com/t?bodySHA256="),
    ],
)
def test_signer_adds_body_hash_to_url(url: str, expected: str) -> None:
    signed = twilio.signer(SOURCE, "tok")(b'{"a": 1}', NOW, url)
    assert signed.url.startswith(expected)
    headers = {**JSON, **{k.lower(): v for k, v in signed.headers.items()}}
    twilio.verifier(SOURCE, ["tok"])(base.Request(b'{"a": 1}', headers, signed.url), NOW)


def test_round_trip_form_with_lower_case_headers_and_utf8() -> None:
    body = urlencode({"Body": "héllo wörld ✓", "From": "+1"}).encode()
    signed = twilio.signer(SOURCE, "tok")(body, NOW, "https://example.com/sms")
    headers = {**FORM, **{k.lower(): v for k, v in signed.headers.items()}}
    twilio.verifier(SOURCE, ["tok"])(base.Request(body, headers, signed.url), NOW)
