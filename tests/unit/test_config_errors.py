"""Config problems: every one of a file at once, each at the key path to change, never echoing a
value that may be a secret; and the risky-but-accepted things `whp check` warns about."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_processor import config, errors

SECRET = "hunter2-0f9d8c7b6a5e4d3c2b1a0f9e8d7c6b5a"


def load(tmp_path: Path, text: str) -> config.Config:
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    return config.load(file)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


# --- empty secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("sources:\n  s: {verify: github, secret: ''}\n", "sources.s.secret"),
        ("sources:\n  s: {verify: github, secret: '   '}\n", "sources.s.secret"),
        ("sources:\n  s: {verify: stripe, secrets: [env:A, '']}\n", "sources.s.secrets[1]"),
        ("sources:\n  s: {verify: basic, username: u, secret: ''}\n", "sources.s.secret"),
        ("sources:\n  s: {verify: api-key, header: X-Key, secret: ' '}\n", "sources.s.secret"),
        ('sources:\n  s: {verify: gitlab, secret: "\\t"}\n', "sources.s.secret"),
        ("admin: {token: ''}\n", "admin.token"),
        (
            "destinations: {d: {url: 'http://x', signing_secret: ' '}}\n",
            "destinations.d.signing_secret",
        ),
    ],
)
def test_an_empty_secret_is_a_config_error(tmp_path: Path, text: str, path: str) -> None:
    """An empty key would verify requests signed with an empty key: anyone could forge them."""
    (found,) = problems(tmp_path, text)
    assert found == f"{path}: is empty (give env:NAME, file:PATH or aws-sm:NAME)"


# --- every problem at once, at its key path ----------------------------------------------------


def test_every_rule_of_a_source_is_checked_not_only_the_first(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "sources:\n"
        "  s: {verify: hmac, username: u, public_url: 'https://x', signed_content: '{id}'}\n",
    )
    assert found == [
        "sources.s.public_url: does not apply to verify: hmac (it applies to: square, twilio)",
        "sources.s.username: does not apply to verify: hmac (it applies to: basic)",
        "sources.s.header: missing required key (verify: hmac needs it)",
        "sources.s.secret: missing required key (verify: hmac needs 'secret', "
        "or 'secrets' during rotation)",
        "sources.s.signed_content: must include {body}",
        "sources.s.signed_content: uses {id} but no id_header is set",
    ]


@pytest.mark.parametrize(
    ("source", "found"),
    [
        (
            "{verify: hmac, header: X-S, secret: env:A, signed_content: '{ts}.{body}'}",
            "sources.s.signed_content: has an unknown placeholder {ts} "
            "(known: {id}, {timestamp}, {body})",
        ),
        (
            "{verify: hmac, header: X-S, secret: env:A, signed_content: '{timestamp}{body}'}",
            "sources.s.signed_content: uses {timestamp} but no timestamp_header is set",
        ),
        (
            "{verify: basic, username: 'a:b', secret: env:A}",
            "sources.s.username: a Basic username cannot contain ':'",
        ),
        (
            "{verify: api-key, header: '', secret: env:A}",
            "sources.s.header: must be an HTTP header name (letters, digits, '-', ...)",
        ),
        (
            "{verify: github, secret: env:A, secrets: [env:B]}",
            "sources.s: give either 'secret' or 'secrets', not both",
        ),
        ("{verify: none, secret: env:A}", "sources.s.secret: verify: none takes no secret"),
    ],
)
def test_source_rules_name_the_key_to_change(tmp_path: Path, source: str, found: str) -> None:
    """Problems a start-up used to report under `secret` (the verifier raised them) are the
    config's, at their own key."""
    assert problems(tmp_path, f"sources:\n  s: {source}\n") == [found]


def test_a_route_naming_an_unknown_destination_points_at_its_destination_key(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        "destinations: {orders: {url: 'http://x'}}\n"
        "routes:\n  - {name: a, destination: orders, pattern: {source: [x]}}\n"
        "  - {name: b, destination: order, pattern: {source: [x]}}\n"
        "  - {name: b, destination: orders, pattern: {source: [x]}}\n",
    )
    assert found == [
        "routes[1].destination: names no defined destination "
        "(destinations: orders; did you mean 'orders'?)",
        "routes[2].name: two routes are named 'b'; route names must be unique",
    ]


def test_route_problems_are_reported_with_the_problems_of_other_parts(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "sources:\n  s: {verify: github, secret: env:A, algoritm: sha1}\n"
        "destinations: {orders: {url: 'http://x'}}\n"
        "routes: [{name: a, destination: nope, pattern: {source: [x]}}]\n",
    )
    assert found == [
        "sources.s.algoritm: unknown key (did you mean 'algorithm'?)",
        "routes[0].destination: names no defined destination (destinations: orders)",
    ]


def test_an_invalid_route_does_not_hide_the_problems_of_the_others(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "destinations: {orders: {url: 'http://x'}}\n"
        "routes:\n  - {name: a, destination: orders, pattern: {source: x}}\n"
        "  - {name: a, destination: nope, pattern: {source: [x]}}\n",
    )
    assert [p.split(":")[0] for p in found] == [
        "routes[0]",
        "routes[1].name",
        "routes[1].destination",
    ]


def test_a_route_is_not_blamed_for_a_destination_that_is_invalid(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "destinations: {orders: {url: 'ftp://x'}}\n"
        "routes: [{name: a, destination: orders, pattern: {source: [x]}}]\n",
    )
    assert [p.split(":")[0] for p in found] == ["destinations.orders.url"]


# --- nothing that may be a secret is echoed ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"sources:\n  s: {{verify: hmac, header: X-S, secret: env:A, algorithm: {SECRET}}}\n",
        f"sources:\n  s: {{verify: {SECRET}, secret: env:A}}\n",
        f"sources:\n  s: {{verify: github, secret: env:A, tolerance_seconds: {SECRET}}}\n",
        f"sources:\n  s: {SECRET}\n",
        f"sources:\n  s: {{verify: basic, username: [{SECRET}], secret: env:A}}\n",
        f"sources:\n  s: {{verify: github, secrets: [[{SECRET}]]}}\n",
        f"sources:\n  s: {{verify: github, secrets: {{a: {SECRET}}}}}\n",
        f"sources:\n  s: {{verify: github, secret: 'env:{SECRET}'}}\n",
        f"sources:\n  s: {{verify: github, secret: env:A, event_type: {SECRET}}}\n",
        f"sources:\n  s: {{verify: github, secret: env:A, public_url: {SECRET}}}\n",
        f"admin: {SECRET}\n",
        f"admin: {{token: [{SECRET}]}}\n",
        f"logging: {{level: {SECRET}}}\n",
        f"server: {{host: [{SECRET}]}}\n",
        f"destinations: {{d: {{url: {SECRET}}}}}\n",
        f"destinations: {{d: {{url: 'http://x', signing_secret: [{SECRET}]}}}}\n",
        f"destinations: {{d: {{url: 'http://x'}}}}\nroutes: [{{name: r, destination: {SECRET},"
        " pattern: {source: [x]}}]\n",
    ],
)
def test_a_value_that_may_be_a_secret_is_never_echoed(tmp_path: Path, text: str) -> None:
    found = problems(tmp_path, text)
    assert found
    assert not [p for p in found if "hunter2" in p], found


def test_a_literal_value_gets_a_did_you_mean_instead_of_an_echo(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "sources:\n  s: {verify: githb, secret: env:A}\n")
    assert found.startswith("sources.s.verify: Input should be 'github', 'stripe'")
    assert found.endswith("(did you mean 'github'?)")


def test_numbers_are_echoed_within_a_bound(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, f"server: {{port: {'9' * 500}}}\n")
    assert found.startswith("server.port: Input should be less than or equal to 65535 (got 999")
    assert len(found) < 160, found


@pytest.mark.parametrize(
    "text",
    [
        f"sources:\n  s: {{verify: github, secret: env:A, {'k' * 500}: 1}}\n",
        f"sources:\n  '{'n' * 500}': {{verify: none}}\n",
        "destinations: {d: {url: 'http://x'}}\n"
        f"routes: [{{name: r, destination: d, pattern: {{source: {'x' * 500}}}}}]\n",
    ],
)
def test_every_problem_is_bounded_in_length(tmp_path: Path, text: str) -> None:
    for found in problems(tmp_path, text):
        assert len(found) < 400, found


# --- warnings ------------------------------------------------------------------------------


def test_a_pattern_field_the_envelope_does_not_have_is_a_warning(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "destinations: {d: {url: 'http://x'}}\n"
        "routes:\n"
        "  - {name: a, destination: d, pattern: {source: [x], detail_type: [y]}}\n"
        "  - name: b\n"
        "    destination: d\n"
        "    pattern: {$or: [{source: [x]}, {details: {a: [1]}}], detail: {b: [2]}}\n"
        "  - {name: c, destination: d, pattern: {zzz: [1]}}\n",
    )
    assert cfg.warnings() == [
        "routes[0].pattern.detail_type: the event has no such field (did you mean 'detail-type'?)",
        "routes[1].pattern.$or[1].details: the event has no such field (did you mean 'detail'?)",
        "routes[2].pattern.zzz: the event has no such field (its fields: "
        "version, id, source, account, time, region, resources, detail-type, detail)",
    ]


def test_every_envelope_field_may_be_matched(tmp_path: Path) -> None:
    fields = ["version", "id", "source", "account", "time", "region", "resources", "detail-type"]
    pattern = ", ".join(f"{name}: [x]" for name in fields)
    cfg = load(
        tmp_path,
        "destinations: {d: {url: 'http://x'}}\n"
        f"routes: [{{name: a, destination: d, pattern: {{{pattern}, detail: {{a: [1]}}}}}}]\n",
    )
    assert cfg.warnings() == []


def test_an_id_key_that_is_not_the_signed_id_is_a_warning(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "sources:\n"
        "  a: {verify: standard-webhooks, secret: env:A, idempotency_key: header:webhook-id}\n"
        "  b: {verify: hmac, header: X-S, id_header: X-Id, signed_content: '{id}{body}',"
        " secret: env:A, idempotency_key: header:X-Other}\n"
        "  c: {verify: hmac, header: X-S, id_header: X-Id, signed_content: '{id}{body}',"
        " secret: env:A, idempotency_key: header:x-id}\n"
        "  d: {verify: svix, secret: env:A, idempotency_key: json:id}\n",
    )
    assert cfg.warnings() == [
        "sources.a.idempotency_key: header:webhook-id is not the id the signature covers: "
        "a captured webhook resent with other headers is stored again "
        "(leave idempotency_key out to dedupe on the signed id)",
        "sources.b.idempotency_key: header:X-Other is not the id the signature covers: "
        "a captured webhook resent with other headers is stored again "
        "(leave idempotency_key out to dedupe on the signed id)",
    ]
