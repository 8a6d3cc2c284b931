"""Body -> detail (docs/architecture.md, "The event"), field specs, and the token bucket."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_processor import errors, fields, payload, ratelimit


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b'{"a": 1}', "application/json", {"a": 1}),
        (b'{"a": 1}', "application/json; charset=utf-8", {"a": 1}),
        (b'{"a": 1}', "application/cloudevents+json", {"a": 1}),
        (b'{"a": 1}', None, {"a": 1}),  # no content type, parseable: JSON
        (b'\xef\xbb\xbf{"a": 1}', "application/json", {"a": 1}),  # a UTF-8 BOM is ignored
        (b'\xef\xbb\xbf{"a": 1}', None, {"a": 1}),
        (b"[1, 2]", "application/json", {"body": [1, 2]}),  # other JSON values are wrapped
        (b'"text"', "application/json", {"body": "text"}),
        (b"null", None, {"body": None}),
        (
            b"a=1&b=two&a=3&empty=",
            "application/x-www-form-urlencoded",
            {"a": ["1", "3"], "b": "two", "empty": ""},
        ),
        (b"hello", "text/plain", {"body": "hello"}),
        (b"<x/>", "application/xml", {"body": "<x/>"}),
        (b"plain words", None, {"body": "plain words"}),
        (b"", None, {"body": ""}),
    ],
)
def test_detail_of_a_body(body: bytes, content_type: str | None, detail: Any) -> None:
    assert payload.parse(body, content_type) == detail


def test_declared_json_that_does_not_parse_is_malformed() -> None:
    with pytest.raises(errors.MalformedPayload, match="body is not valid JSON"):
        payload.parse(b"{nope", "application/json")


def test_compressed_bodies_are_unsupported() -> None:
    with pytest.raises(errors.UnsupportedMediaType, match="Content-Encoding 'gzip'"):
        payload.parse(b"x", "application/json", "gzip")
    assert payload.parse(b"{}", "application/json", "identity") == {}


def test_binary_bodies_are_unsupported() -> None:
    with pytest.raises(errors.UnsupportedMediaType, match="body is binary"):
        payload.parse(b"\xff\xfe\x00", "application/octet-stream")


def test_form_body_that_is_not_utf8_is_malformed() -> None:
    with pytest.raises(errors.MalformedPayload):
        payload.parse(b"a=\xff", "application/x-www-form-urlencoded")


@pytest.mark.parametrize(
    ("specs", "headers", "detail", "expected"),
    [
        (["header:X-Event"], {"x-event": "push"}, {}, "push"),
        (["json:data.object.id"], {}, {"data": {"object": {"id": "pi_1"}}}, "pi_1"),
        (["json:n"], {}, {"n": 42}, "42"),
        (["json:flag"], {}, {"flag": True}, None),  # booleans are not identifiers
        (["json:obj"], {}, {"obj": {"a": 1}}, None),  # neither are objects
        (["json:a.b"], {}, {"a": "not an object"}, None),
        (["json:missing", "header:X-Fallback"], {"x-fallback": "f"}, {}, "f"),
        (["header:X-Empty", "const:default"], {"x-empty": ""}, {}, "default"),
    ],
)
def test_field_extraction(
    specs: list[str], headers: dict[str, str], detail: Any, expected: str | None
) -> None:
    parsed = tuple(fields.parse(s) for s in specs)
    assert fields.extract(parsed, headers, detail) == expected


def test_token_bucket_refills_continuously_up_to_its_burst() -> None:
    bucket = ratelimit.TokenBucket(per_second=2, capacity=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token every half second
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0  # long idle: back to the burst, not beyond
    assert [bucket.take(100.0) for _ in range(3)][-1] > 0


@pytest.mark.parametrize(
    ("tat", "now", "per_second", "burst", "n", "horizon", "starts", "new_tat"),
    [
        # a fresh bucket: the burst at once, then one every 1/rate
        (0, 1000, 10, 3, 5, 1000, [1000, 1000, 1000, 1100, 1200], 1500),
        # burst 1: evenly spaced from now
        (0, 1000, 2, 1, 3, 5000, [1000, 1500, 2000], 2500),
        # only the starts within the horizon
        (0, 1000, 2, 1, 5, 600, [1000, 1500], 2000),
        # the previous claim already booked up to 1500: the next start is there
        (1500, 1000, 10, 1, 2, 1000, [1500, 1600], 1700),
        # ... with a burst of 3, the burst's tolerance (2 x 100 ms) brings them earlier
        (1500, 1000, 10, 3, 3, 1000, [1300, 1400, 1500], 1800),
        # nothing left before the horizon
        (5000, 1000, 1, 1, 1, 1000, [], 5000),
        # long idle: back to the burst, not beyond
        (0, 10**9, 100, 2, 3, 5, [10**9, 10**9], 10**9 + 20),
    ],
)
def test_schedule_spaces_sends_by_rate_and_burst(
    tat: float,
    now: float,
    per_second: float,
    burst: int,
    n: int,
    horizon: float,
    starts: list[float],
    new_tat: float,
) -> None:
    got, got_tat = ratelimit.schedule(tat, now, per_second, burst, n, horizon)
    assert got == pytest.approx(starts)
    assert got_tat == pytest.approx(new_tat)
