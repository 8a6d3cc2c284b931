"""Config errors name the file, the key path and the fix; valid configs load with defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_processor import config, errors


def load(tmp_path: Path, text: str) -> config.Config:
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    return config.load(file)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        load(tmp_path, text)
    assert caught.value.file.endswith("whp.yaml")
    return caught.value.problems


def test_the_design_example_loads_with_documented_defaults(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
storage: {path: data/whp.db, retention_days: 7}
server: {host: 127.0.0.1, port: 8080}
admin: {token: env:WHP_ADMIN_TOKEN}
sources:
  github: {verify: github, secret: env:GITHUB_WEBHOOK_SECRET}
  stripe: {verify: stripe, secret: env:STRIPE_WEBHOOK_SECRET, tolerance_seconds: 300}
  acme:
    verify: hmac
    header: X-Acme-Signature
    algorithm: sha256
    encoding: hex
    secret: file:secrets/acme
    event_type: json:type
    idempotency_key: header:X-Acme-Delivery
    max_body_bytes: 1048576
    rate_limit: {per_second: 100, burst: 200}
    schema: schemas/acme.json
destinations:
  orders:
    url: http://127.0.0.1:9000/hooks
    signing_secret: env:ORDERS_SIGNING_SECRET
routes:
  - name: stripe-payments
    destination: orders
    pattern: {source: [stripe], detail-type: [{prefix: "payment_intent."}]}
""",
    )
    assert cfg.storage.path == str(tmp_path.resolve() / "data/whp.db")
    acme = cfg.sources["acme"]
    assert acme.secret == "file:" + str(tmp_path.resolve() / "secrets/acme")
    assert acme.schema_ == str(tmp_path.resolve() / "schemas/acme.json")
    assert cfg.sources["github"].max_body_bytes == 1024 * 1024
    assert cfg.sources["github"].tolerance_seconds == 300
    retry = cfg.destinations["orders"].retry
    assert (retry.max_attempts, retry.initial_interval_seconds, retry.multiplier) == (8, 5, 4)
    assert retry.max_interval_seconds == 36000
    assert cfg.destinations["orders"].timeout_seconds == 15
    assert cfg.literal_secrets() == []


def test_an_empty_file_is_a_valid_config_with_no_sources(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.sources == {}
    assert cfg.server.port == 8080


def test_unknown_key_suggests_the_spelling(tmp_path: Path) -> None:
    found = problems(tmp_path, "sources:\n  gh: {verify: github, secret: env:X, algoritm: sha1}\n")
    assert found == ["sources.gh.algoritm: unknown key (did you mean 'algorithm'?)"]


def test_unknown_top_level_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "zzz: 1\n")
    assert found.startswith(
        "zzz: unknown key (allowed keys: admin, alerts, delivery, destinations, logging"
    )


def test_bad_value_names_path_and_allowed_values(tmp_path: Path) -> None:
    """Not what was given: text under the wrong key may be a pasted secret."""
    found = problems(
        tmp_path, "sources:\n  a: {verify: hmac, header: X-S, secret: env:S, algorithm: md5}\n"
    )
    assert found == ["sources.a.algorithm: Input should be 'sha1', 'sha256' or 'sha512'"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "server: {port: 99999}\nsources:\n  a: {verify: nope, secret: env:S}\n"
        "destinations:\n  d: {url: ftp://x}\n",
    )
    assert [p.split(":")[0] for p in found] == [
        "server.port",
        "sources.a.verify",
        "destinations.d.url",
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{verify: github}", "verify: github needs 'secret', or 'secrets' during rotation"),
        ("{verify: github, secret: env:A, secrets: [env:B]}", "give either 'secret' or 'secrets'"),
        ("{verify: none, secret: env:A}", "verify: none takes no secret"),
        ("{verify: hmac, secret: env:A}", "header: missing required key (verify: hmac needs"),
        ("{verify: basic, secret: env:A}", "username: missing required key (verify: basic"),
        ("{verify: github, secret: env:A, header: X}", "header: does not apply to verify: github"),
        (
            "{verify: stripe, secret: env:A, public_url: 'https://x'}",
            "public_url: does not apply to verify: stripe",
        ),
        (
            "{verify: github, secret: 'env:'}",
            "secret reference 'env:' names nothing after the colon",
        ),
        ("{verify: github, secret: 'env:1BAD'}", "env: needs an environment variable name"),
        (
            "{verify: github, secret: env:A, event_type: 'body:x'}",
            "must start with header:, json: or const:",
        ),
        ("{verify: github, secret: env:A, idempotency_key: 'json:a..b'}", "empty segment"),
        ("{verify: hmac, header: X, secret: env:A, signed_content: 'x'}", "must include {body}"),
        ("{verify: github, secret: env:A, max_body_bytes: 0}", "greater than 0"),
        ("{verify: twilio, secret: env:A, public_url: 'ftp://x'}", "should match pattern"),
    ],
)
def test_source_rules(tmp_path: Path, source: str, message: str) -> None:
    (found,) = problems(tmp_path, f"sources:\n  s: {source}\n")
    assert found.startswith("sources.s"), found
    assert message in found


def test_secret_values_are_never_echoed_in_errors(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "sources:\n  s: {verify: github, secret: [hunter2-secret]}\n")
    assert found.startswith("sources.s.secret: ")
    assert "hunter2" not in found


@pytest.mark.parametrize(
    "url", ["https://alice:s3cret@hooks.example.com/in", "http://token@hooks.example.com/in"]
)
def test_destination_url_must_not_carry_credentials(tmp_path: Path, url: str) -> None:
    (found,) = problems(tmp_path, f"destinations: {{d: {{url: '{url}'}}}}\n")
    assert found.startswith("destinations.d.url: "), found
    assert "must not carry credentials (user:password@host)" in found
    assert "s3cret" not in found


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://", "names no host"),
        ("https:///hooks", "names no host"),
        ("http://[::1/hooks", "is not a valid URL (Invalid IPv6 URL)"),
        ("ftp://example.com/hooks", "should match pattern"),
    ],
)
def test_destination_url_must_be_usable(tmp_path: Path, url: str, message: str) -> None:
    (found,) = problems(tmp_path, f"destinations: {{d: {{url: '{url}'}}}}\n")
    assert found.startswith("destinations.d.url: "), found
    assert message in found


def test_destination_url_may_carry_an_at_sign_after_the_host(tmp_path: Path) -> None:
    cfg = load(tmp_path, "destinations: {d: {url: 'https://h.example.com/u/a@b?c=@'}}\n")
    assert cfg.destinations["d"].url == "https://h.example.com/u/a@b?c=@"


def test_route_must_name_a_defined_destination(tmp_path: Path) -> None:
    (found,) = problems(
        tmp_path,
        "destinations: {a: {url: 'http://x'}}\n"
        "routes: [{name: r, destination: b, pattern: {source: [x]}}]\n",
    )
    assert found == "routes[0].destination: names no defined destination (destinations: a)"


def test_route_names_are_unique(tmp_path: Path) -> None:
    (found,) = problems(
        tmp_path,
        "destinations: {a: {url: 'http://x'}}\n"
        "routes:\n  - {name: r, destination: a, pattern: {source: [x]}}\n"
        "  - {name: r, destination: a, pattern: {source: [x]}}\n",
    )
    assert found == "routes[1].name: two routes are named 'r'; route names must be unique"


def test_source_names_must_fit_in_a_url_path(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "sources:\n  'bad name': {verify: none}\n")
    assert found.startswith("sources.bad name: a name must be 1-64 letters")


def test_invalid_yaml_reports_line_and_column(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, "sources:\n  a: [unclosed\n")
    assert found.startswith("line 3, column 1: invalid YAML")


def test_a_key_given_twice_is_an_error_not_the_last_one_silently(tmp_path: Path) -> None:
    """A second `github:` would otherwise replace the first, its verification with it."""
    (found,) = problems(
        tmp_path,
        "sources:\n"
        "  github: {verify: github, secret: env:GH}\n"
        "  stripe: {verify: stripe, secret: env:GH, tolerance_seconds: 60, tolerance_seconds: 0}\n",
    )
    assert found == (
        "line 3, column 67: invalid YAML: duplicate key 'tolerance_seconds' (first given on line 3)"
    )
    (found,) = problems(tmp_path, "sources:\n  github: {verify: none}\n  github: {verify: none}\n")
    assert found == "line 3, column 3: invalid YAML: duplicate key 'github' (first given on line 2)"


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "sources:\n"
        "  a: &common {verify: github, secret: env:GH}\n"
        "  b: {<<: *common, max_body_bytes: 2048}\n",
    )
    assert (cfg.sources["b"].verify, cfg.sources["b"].max_body_bytes) == ("github", 2048)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert problems(tmp_path, "- a\n- b\n") == [
        "the top level must be a mapping of keys (storage, sources, ...)"
    ]


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match="file not found \\(create one with `whp init`\\)"):
        config.load(tmp_path / "nope.yaml")


def test_literal_secrets_are_listed_for_a_warning(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "sources:\n  a: {verify: github, secrets: [env:A, plain-text]}\n"
        "destinations: {d: {url: 'http://x', signing_secret: whsec_abc}}\n",
    )
    assert cfg.literal_secrets() == ["destinations.d.signing_secret", "sources.a.secrets"]
