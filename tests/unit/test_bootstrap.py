"""Start-up problems (secrets, schemas, secret formats) are config errors with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_processor import bootstrap, config, errors, secrets


def runtimes_problems(tmp_path: Path, sources: str, env: dict[str, str]) -> list[str]:
    file = tmp_path / "whp.yaml"
    file.write_text(f"sources:\n{sources}")
    with pytest.raises(errors.ConfigError) as caught:
        bootstrap.source_runtimes(config.load(file), str(file), env)
    return caught.value.problems


def test_every_unresolvable_secret_is_reported_with_its_key(tmp_path: Path) -> None:
    found = runtimes_problems(
        tmp_path,
        "  a: {verify: github, secret: env:MISSING}\n"
        "  b: {verify: github, secrets: [env:SET, file:nope.txt]}\n"
        "  c: {verify: github, secret: env:EMPTY}\n",
        {"SET": "x", "EMPTY": " "},
    )
    assert found == [
        "sources.a.secret: environment variable MISSING is not set",
        f"sources.b.secrets[1]: secret file {tmp_path.resolve() / 'nope.txt'} does not exist",
        "sources.c.secret: environment variable EMPTY is empty",
    ]


def test_secret_of_the_wrong_form_is_reported_without_its_value(tmp_path: Path) -> None:
    (found,) = runtimes_problems(
        tmp_path, "  a: {verify: standard-webhooks, secret: env:S}\n", {"S": "plainsecretvalue"}
    )
    assert found.startswith("sources.a.secret: ")
    assert "whsec_" in found
    assert "plainsecretvalue" not in found


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not valid JSON/YAML"),
        ('{"type": 12}', "is not a valid JSON Schema"),
    ],
)
def test_schema_file_problems(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "s.json").write_text(content)
    (found,) = runtimes_problems(
        tmp_path, "  a: {verify: github, secret: env:S, schema: s.json}\n", {"S": "x"}
    )
    assert found.startswith("sources.a.schema: ")
    assert message in found


def test_yaml_schemas_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("type: object\nrequired: [id]\n")
    file = tmp_path / "whp.yaml"
    file.write_text("sources:\n  a: {verify: github, secret: env:S, schema: s.yaml}\n")
    runtime = bootstrap.source_runtimes(config.load(file), str(file), {"S": "x"})["a"]
    assert runtime.schema is not None
    runtime.schema({"id": 1})
    with pytest.raises(errors.SchemaViolation):
        runtime.schema({})


def test_file_secrets_are_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("  value-from-file\n")
    assert secrets.resolve(f"file:{tmp_path / 's'}", {}) == "value-from-file"
    assert secrets.resolve("literal", {}) == "literal"
    assert secrets.resolve("env:A", {"A": "from-env"}) == "from-env"
    with pytest.raises(errors.SecretError, match="resolved by the AWS runtime only"):
        secrets.resolve("aws-sm:prod/github", {})


# --- empty secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["", "   ", "\t\n"])
def test_an_empty_literal_secret_is_refused(ref: str) -> None:
    with pytest.raises(errors.SecretError, match=r"^the secret is empty$"):
        secrets.resolve(ref, {})


@pytest.mark.parametrize("value", ["", "  \n"])
def test_an_empty_secret_from_aws_is_refused(value: str) -> None:
    with pytest.raises(errors.SecretError, match=r"^secret aws-sm:prod/github is empty$"):
        secrets.resolve("aws-sm:prod/github", {}, aws=lambda name: value)


# --- `whp check` and `whp serve`: every start-up problem of one load at once -----------------


def load_problems(tmp_path: Path, text: str, env: dict[str, str]) -> list[str]:
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    with pytest.raises(errors.ConfigError) as caught:
        bootstrap.load(str(file), env)
    assert caught.value.file == str(file)
    return caught.value.problems


def test_load_resolves_the_secrets_of_the_parts_that_validated(tmp_path: Path) -> None:
    """The README's example: a schema problem and a secret problem, reported together."""
    found = load_problems(
        tmp_path,
        "sources:\n"
        "  github: {verify: github, secret: env:GH, algoritm: sha1}\n"
        "  stripe: {verify: stripe, secret: env:STRIPE_WEBHOOK_SECRET}\n"
        "  app: {verify: standard-webhooks, secret: env:GH}\n"
        "destinations: {orders: {url: 'http://x', signing_secret: env:ORDERS_SIGNING}}\n"
        "admin: {token: env:ADMIN}\n"
        "routes: [{name: r, destination: orders, pattern: {source: [github]}}]\n",
        {"GH": "gh-secret"},
    )
    assert found == [
        "sources.github.algoritm: unknown key (did you mean 'algorithm'?)",
        "sources.stripe.secret: environment variable STRIPE_WEBHOOK_SECRET is not set",
        "sources.app.secret: verify: standard-webhooks needs secrets of the form "
        "whsec_<base64> (HMAC key) or whpk_<base64> (ed25519 public key)",
        "destinations.orders.signing_secret: environment variable ORDERS_SIGNING is not set",
        "admin.token: environment variable ADMIN is not set",
    ]


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "destinations.d.signing_secret: environment variable SIGNING is not set"),
        (
            {"SIGNING": "plain-signing-value"},
            "destinations.d.signing_secret: signing_secret must have the form "
            "whsec_<base64 of the key bytes>",
        ),
        ({"SIGNING": "whsec_"}, "destinations.d.signing_secret: signing_secret must have"),
    ],
)
def test_load_checks_destination_signing_secrets(
    tmp_path: Path, env: dict[str, str], problem: str
) -> None:
    (found,) = load_problems(
        tmp_path, "destinations: {d: {url: 'http://x', signing_secret: env:SIGNING}}\n", env
    )
    assert found.startswith(problem), found
    assert "plain-signing-value" not in found


def test_load_checks_the_admin_token_and_opens_no_store(tmp_path: Path) -> None:
    (found,) = load_problems(
        tmp_path, "storage: {path: whp.db}\nadmin: {token: file:admin.token}\n", {}
    )
    assert found == f"admin.token: secret file {tmp_path.resolve() / 'admin.token'} does not exist"
    assert not (tmp_path / "whp.db").exists()


def test_load_returns_the_config_when_every_check_passes(tmp_path: Path) -> None:
    file = tmp_path / "whp.yaml"
    file.write_text(
        "admin: {token: env:ADMIN}\n"
        "sources: {gh: {verify: github, secret: env:GH}}\n"
        "destinations: {d: {url: 'http://x', signing_secret: env:SIGNING}}\n"
    )
    env = {"ADMIN": "a-token", "GH": "gh", "SIGNING": "whsec_" + "A" * 32}
    cfg = bootstrap.load(str(file), env)
    assert set(cfg.sources) == {"gh"}
    assert not (tmp_path / "whp.db").exists()


def test_load_bounds_every_problem_it_quotes(tmp_path: Path) -> None:
    (found,) = load_problems(
        tmp_path, f"sources: {{a: {{verify: github, secret: env:{'A' * 5000}}}}}\n", {}
    )
    assert found.startswith("sources.a.secret: environment variable AAAA")
    assert len(found) <= 300, len(found)
