"""`proxy`, `ca_file`, `client_cert` and `client_key`, per destination and under `delivery:`:
checked when the config loads (each problem with its key path and file), resolved at startup
(`proxy: env` reads the environment then, and only then)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.e2e.pki import Pki, private_ca
from webhook_processor import config, egress, errors
from webhook_processor.bootstrap import local


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return private_ca(tmp_path_factory.mktemp("pki"))


def load(tmp_path: Path, text: str) -> config.Config:
    file = tmp_path / "whp.yaml"
    file.write_text(text)
    return config.load(file)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def orders(keys: str) -> str:
    return f"destinations:\n  orders: {{url: https://orders.internal/hooks, {keys}}}\n"


def test_paths_are_relative_to_the_config_file_and_defaults_apply(tmp_path: Path, pki: Pki) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for name, source in [
        ("ca.pem", pki.ca),
        ("whp.pem", pki.client_cert),
        ("whp.key", pki.client_key),
    ]:
        (certs / name).write_bytes(source.read_bytes())
    cfg = load(
        tmp_path,
        "delivery:\n"
        "  proxy: http://proxy.internal:3128\n"
        "  ca_file: certs/ca.pem\n"
        "  client_cert: certs/whp.pem\n"
        "  client_key: certs/whp.key\n"
        "destinations:\n"
        "  orders: {url: https://orders.internal/hooks}\n"
        "  inside: {url: https://inside.internal/hooks, proxy: none}\n"
        f"  other: {{url: https://other.internal/hooks, client_cert: {pki.client_bundle}}}\n",
    )
    base = tmp_path.resolve() / "certs"
    assert cfg.egress_of("orders") == config.Egress(
        proxy="http://proxy.internal:3128",
        ca_file=str(base / "ca.pem"),
        client_cert=str(base / "whp.pem"),
        client_key=str(base / "whp.key"),
    )
    assert cfg.egress_of("inside").proxy == "none"
    other = cfg.egress_of("other")
    # A certificate and its key go together: never the default key with another certificate.
    assert (other.client_cert, other.client_key) == (str(pki.client_bundle), None)
    assert other.ca_file == str(base / "ca.pem")


def test_without_these_keys_every_destination_goes_direct(tmp_path: Path) -> None:
    cfg = load(tmp_path, "destinations:\n  orders: {url: https://orders.internal/hooks}\n")
    assert cfg.egress_of("orders") == config.Egress()
    sender = local.http_sender(cfg, "whp.yaml", {"HTTPS_PROXY": "http://proxy:3128"})
    assert sender.transport_for("orders") is sender.transport_for("")


def test_a_missing_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "delivery: {ca_file: nowhere/ca.pem}\n"
        + orders("client_cert: /no/such/whp.pem, client_key: whp.key"),
    )
    missing = tmp_path.resolve()
    assert found == [
        f"delivery.ca_file: cannot read {missing / 'nowhere/ca.pem'}: No such file or directory",
        "destinations.orders.client_cert: cannot read /no/such/whp.pem: No such file or directory",
        f"destinations.orders.client_key: cannot read {missing / 'whp.key'}: "
        "No such file or directory",
    ]


def test_files_that_are_not_what_they_should_be(tmp_path: Path, pki: Pki) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert problems(tmp_path, orders(f"ca_file: {junk}")) == [
        f"destinations.orders.ca_file: {junk} holds no certificate in PEM form"
    ]
    assert problems(tmp_path, orders(f"client_cert: {junk}, client_key: {pki.client_key}")) == [
        f"destinations.orders: client_cert: {junk} holds no certificate in PEM form"
    ]
    assert problems(tmp_path, orders(f"client_cert: {pki.client_cert}, client_key: {junk}")) == [
        f"destinations.orders: client_key: {junk} holds no private key in PEM form"
    ]
    assert problems(tmp_path, orders(f"client_cert: {pki.client_cert}")) == [
        f"destinations.orders: client_cert: {pki.client_cert} holds no private key: give client_key"
    ]
    assert problems(
        tmp_path, orders(f"client_cert: {pki.client_cert}, client_key: {pki.server_key}")
    ) == [
        f"destinations.orders: client_key: {pki.server_key} is not the key of client_cert "
        f"{pki.client_cert}"
    ]
    assert problems(tmp_path, orders(f"client_key: {pki.client_key}")) == [
        "destinations.orders: client_key needs client_cert, the certificate it is the key of"
    ]


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(
    tmp_path: Path, pki: Pki
) -> None:
    key = serialization.load_pem_private_key(pki.client_key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.client_cert.read_bytes() + encrypted.read_bytes())
    (found,) = problems(
        tmp_path, orders(f"client_cert: {pki.client_cert}, client_key: {encrypted}")
    )
    assert found.startswith(f"destinations.orders: client_key: {encrypted} is encrypted: ")
    (found,) = problems(tmp_path, orders(f"client_cert: {bundle}"))
    assert found.startswith(
        f"destinations.orders: client_cert: the key in {bundle}: it is encrypted"
    )


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("socks5://127.0.0.1:1080", "socks proxies are not supported"),
        ("socks5h://proxy:1080", "socks proxies are not supported"),
        ("ftp://proxy:21", "must be an http:// or https:// proxy URL"),
        ("proxy.internal:3128", "must be an http:// or https:// proxy URL"),
        ("http://", "must be an http:// or https:// proxy URL"),
        ("http://proxy:port", "is not a valid URL"),
        ("http://user:secret@proxy:3128", "must not carry credentials"),
    ],
)
def test_a_proxy_must_be_an_http_or_https_url(tmp_path: Path, proxy: str, message: str) -> None:
    (found,) = problems(tmp_path, f"delivery: {{proxy: '{proxy}'}}\n")
    assert found.startswith(f"delivery.proxy: {message}"), found
    assert "secret" not in found


@pytest.mark.parametrize("proxy", ["env", "none", "http://proxy:3128", "https://proxy.internal/"])
def test_valid_proxy_settings(tmp_path: Path, proxy: str) -> None:
    assert load(tmp_path, orders(f"proxy: '{proxy}'")).egress_of("orders").proxy == proxy


URL = "https://orders.example.com/hooks"


@pytest.mark.parametrize(
    ("env", "found"),
    [
        ({}, None),
        ({"HTTPS_PROXY": "http://p:1"}, ("HTTPS_PROXY", "http://p:1")),
        (
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
            ("https_proxy", "http://low:1"),
        ),
        ({"https_proxy": "", "HTTPS_PROXY": "http://up:1"}, ("HTTPS_PROXY", "http://up:1")),
        ({"HTTP_PROXY": "http://p:1"}, None),  # for http:// URLs only
        ({"ALL_PROXY": "http://all:1"}, ("ALL_PROXY", "http://all:1")),
        ({"HTTPS_PROXY": "http://p:1", "ALL_PROXY": "http://all:1"}, ("HTTPS_PROXY", "http://p:1")),
        ({"HTTPS_PROXY": "p:3128"}, ("HTTPS_PROXY", "http://p:3128")),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "no_proxy": "localhost, .example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "orders.example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*.example.com"}, None),
        ({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "ample.com"}, ("HTTPS_PROXY", "http://p:1")),
        (
            {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "other.example.com"},
            ("HTTPS_PROXY", "http://p:1"),
        ),
    ],
)
def test_proxy_from_the_environment(env: dict[str, str], found: tuple[str, str] | None) -> None:
    assert egress.proxy_from_environment(URL, env) == found


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [("10.1.2.3", True), ("10.0.0.0/8", True), ("10.1.2.4", False), ("example.com", False)],
)
def test_no_proxy_with_addresses(no_proxy: str, bypassed: bool) -> None:
    env = {"HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert (egress.proxy_from_environment("http://10.1.2.3:8000/h", env) is None) == bypassed


def test_an_unusable_proxy_from_the_environment_is_a_startup_error_without_its_credentials(
    tmp_path: Path,
) -> None:
    file = tmp_path / "whp.yaml"
    file.write_text(orders("proxy: env"))
    env = {"https_proxy": "socks5://user:hunter2@proxy:1080"}
    with pytest.raises(errors.ConfigError) as caught:
        local.http_sender(config.load(file), str(file), env)
    (found,) = caught.value.problems
    assert found.startswith("destinations.orders.proxy: env: https_proxy: socks proxies are not")
    assert "hunter2" not in found


def test_a_proxy_from_the_environment_may_carry_credentials(tmp_path: Path) -> None:
    file = tmp_path / "whp.yaml"
    file.write_text(orders("proxy: env"))
    env = {"HTTPS_PROXY": "http://user:hunter2@proxy:3128"}
    sender = local.http_sender(config.load(file), str(file), env)
    assert sender.transport_for("orders") is not sender.transport_for("")
