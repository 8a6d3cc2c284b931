"""How deliveries leave: straight or through a proxy, trusting which CAs, with which client
certificate. Per destination, with defaults under `delivery:` in whp.yaml:

    delivery:
      proxy: http://proxy.internal:3128   # or `env` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY), or `none`
      ca_file: certs/internal-ca.pem      # trust these CAs instead of the public ones
      client_cert: certs/whp.pem          # shown to receivers that ask for one
      client_key: certs/whp.key           # unless the key is in client_cert's file

The config checks these when it loads (`check_*`: a ValueError saying what is wrong), the
composition root resolves each destination's `Route` once at startup (`proxy: env` reads the
environment then, and only then), and adapters/http/outbound.py turns a route into a transport.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import exceptions as crypto_errors
from cryptography import x509
from cryptography.hazmat.primitives import serialization

PROXY_FROM_ENV = "env"
NO_PROXY = "none"


@dataclass(frozen=True, slots=True)
class Route:
    """A destination's way out; `DIRECT` (the default) is straight, trusting the public CAs."""

    proxy: str | None = None  # an http:// or https:// URL
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


DIRECT = Route()


def no_passphrase() -> str:
    """The password callback of `SSLContext.load_cert_chain`: without one, OpenSSL would ask
    for the passphrase of an encrypted key on the terminal."""
    raise ValueError("it is encrypted: whp takes no passphrase; give an unencrypted key")


# --- checks, for the config --------------------------------------------------------------------


def check_proxy(value: str, *, credentials: bool = False) -> str:
    """`value` is `env`, `none`, or an http:// or https:// proxy URL (without credentials unless
    `credentials`: a config file is no place for a password)."""
    if value in (PROXY_FROM_ENV, NO_PROXY):
        return value
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        raise ValueError(
            "socks proxies are not supported (httpx needs its socksio extra for them): "
            "give an http:// or https:// proxy"
        )
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            "must be an http:// or https:// proxy URL such as http://proxy.internal:3128, "
            f"'{PROXY_FROM_ENV}' (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) or '{NO_PROXY}'"
        )
    if not credentials and "@" in parts.netloc:
        raise ValueError(
            "must not carry credentials (user:password@host) in the config file: put the URL "
            f"with them in HTTPS_PROXY or HTTP_PROXY and write proxy: {PROXY_FROM_ENV}"
        )
    return value


def check_ca_file(path: str) -> str:
    _read(path)
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise ValueError(f"{path} holds no certificate in PEM form") from None
    return path


def check_readable(path: str) -> str:
    _read(path)
    return path


def check_client_pair(cert: str, key: str | None) -> None:
    """The certificate and its key load as a pair (the key from `cert`'s file without `key`)."""
    try:
        x509.load_pem_x509_certificates(_read(cert))
    except ValueError:
        raise ValueError(f"client_cert: {cert} holds no certificate in PEM form") from None
    if key is not None:
        try:
            serialization.load_pem_private_key(_read(key), password=None)
        except TypeError:  # "Password was not given but private key is encrypted"
            raise ValueError(
                f"client_key: {key} is encrypted: whp takes no passphrase; give an unencrypted "
                "key, readable by whp alone"
            ) from None
        except (ValueError, crypto_errors.UnsupportedAlgorithm):
            raise ValueError(f"client_key: {key} holds no private key in PEM form") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=no_passphrase)
    except ValueError as exc:  # from no_passphrase: the key in the certificate's file
        raise ValueError(f"client_cert: the key in {cert}: {exc}") from None
    except ssl.SSLError as exc:
        if key is None:
            raise ValueError(f"client_cert: {cert} holds no private key: give client_key") from None
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise ValueError(f"client_key: {key} is not the key of client_cert {cert}") from None
        raise ValueError(f"client_cert with client_key: cannot be loaded ({exc})") from None


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


# --- proxy: env ------------------------------------------------------------------------------


def proxy_from_environment(url: str, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The proxy the environment gives for `url`, as (variable, URL), read as curl and httpx
    read it: `<scheme>_proxy`, else `all_proxy` (each in lower case first, then upper case);
    none when `no_proxy` lists the host ("*" for all, a domain for it and its subdomains, an IP
    address or network)."""

    def variable(name: str) -> tuple[str, str]:
        for spelling in (name, name.upper()):
            if env.get(spelling):
                return spelling, env[spelling]
        return name, ""

    parts = urllib.parse.urlsplit(url)
    if _bypassed(parts.hostname or "", variable("no_proxy")[1]):
        return None
    name, value = variable(f"{parts.scheme}_proxy")
    if not value:
        name, value = variable("all_proxy")
    if not value:
        return None
    return name, value if "://" in value else f"http://{value}"  # as httpx reads "proxy:3128"


def _bypassed(host: str, no_proxy: str) -> bool:
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        if address is not None and entry:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.removeprefix("*").lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def proxy_label(proxy: str) -> str:
    """The proxy's host and port, for error messages (never its credentials)."""
    parts = urllib.parse.urlsplit(proxy)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
