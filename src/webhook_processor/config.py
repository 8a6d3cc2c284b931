"""whp.yaml: loaded once, validated strictly, into a frozen object.

Relative paths (storage, schema, `file:` secrets, delivery certificates) are made absolute
against the config file's folder while loading, so nothing downstream needs to know where the file
was. Secret references are checked for form here and resolved later, only by the commands that
need them (see `secrets.py`); certificate files are read and loaded here (egress.py).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import urllib.parse
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from webhook_processor import egress, errors, fields, patterns

DEFAULT_FILE = "whp.yaml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECRET_KEYS = frozenset({"secret", "secrets", "signing_secret", "token"})

Scheme = Literal[
    "github",
    "stripe",
    "slack",
    "shopify",
    "standard-webhooks",
    "svix",
    "twilio",
    "square",
    "paddle",
    "gitlab",
    "hmac",
    "basic",
    "api-key",
    "none",
]
TIMESTAMPED = frozenset({"stripe", "slack", "standard-webhooks", "svix", "paddle"})

# Keys that only make sense for some schemes; any other scheme rejects them.
SCHEME_KEYS: dict[str, frozenset[str]] = {
    "header": frozenset({"hmac", "api-key"}),
    "algorithm": frozenset({"hmac"}),
    "encoding": frozenset({"hmac"}),
    "prefix": frozenset({"hmac"}),
    "timestamp_header": frozenset({"hmac"}),
    "id_header": frozenset({"hmac"}),
    "signed_content": frozenset({"hmac"}),
    "public_url": frozenset({"twilio", "square"}),
    "username": frozenset({"basic"}),
    "tolerance_seconds": TIMESTAMPED | {"hmac"},
}
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "hmac": ("header",),
    "api-key": ("header",),
    "basic": ("username",),
}


def _relative_to_config(value: str, info: ValidationInfo) -> str:
    base = (info.context or {}).get("base_dir")
    if base is None or Path(value).is_absolute():
        return value
    return str(Path(base) / value)


def _secret_ref(value: str, info: ValidationInfo) -> str:
    kind, sep, rest = value.partition(":")
    if not sep or kind not in ("env", "file", "aws-sm"):
        return value  # a literal secret: allowed, `whp check` warns
    if not rest:
        raise ValueError(f"secret reference '{kind}:' names nothing after the colon")
    if kind == "env" and not ENV_NAME_RE.match(rest):
        raise ValueError(f"'{rest}' is not a valid environment variable name")
    if kind == "file":
        return "file:" + _relative_to_config(rest, info)
    return value


def _field_spec(value: str) -> str:
    fields.parse(value)
    return value


def _name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(
            f"name {value!r} must be 1-64 letters, digits, '-' or '_', starting alphanumeric"
        )
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
FieldSpecText = Annotated[str, AfterValidator(_field_spec)]
RelPath = Annotated[str, AfterValidator(_relative_to_config)]
Name = Annotated[str, AfterValidator(_name)]
ProxySetting = Annotated[str, AfterValidator(egress.check_proxy)]
CaFile = Annotated[RelPath, AfterValidator(egress.check_ca_file)]
ReadableFile = Annotated[RelPath, AfterValidator(egress.check_readable)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Storage(Strict):
    path: RelPath = "whp.db"
    retention_days: PositiveInt = 7
    busy_timeout_seconds: PositiveFloat = 5.0


class Server(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)


class Admin(Strict):
    token: SecretRef | None = None


class Logging(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"


class RateLimit(Strict):
    per_second: PositiveFloat
    burst: PositiveInt | None = None

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else max(1, int(self.per_second))


class Source(Strict):
    verify: Scheme
    secret: SecretRef | None = None
    secrets: list[SecretRef] | None = Field(default=None, min_length=1)
    tolerance_seconds: PositiveInt = 300
    header: str | None = None
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    id_header: str | None = None
    signed_content: str = "{body}"
    username: str | None = None
    public_url: str | None = Field(default=None, pattern=r"^https?://")
    event_type: FieldSpecText | None = None
    idempotency_key: FieldSpecText | None = None
    max_body_bytes: PositiveInt = 1024 * 1024
    rate_limit: RateLimit | None = None
    schema_: RelPath | None = Field(default=None, alias="schema")

    @model_validator(mode="after")
    def _scheme_rules(self) -> Source:
        for key in sorted(self.model_fields_set):
            allowed = SCHEME_KEYS.get(key)
            if allowed is not None and self.verify not in allowed:
                raise ValueError(
                    f"key '{key}' does not apply to verify: {self.verify} "
                    f"(it applies to: {', '.join(sorted(allowed))})"
                )
        for key in REQUIRED_KEYS.get(self.verify, ()):
            if key not in self.model_fields_set:
                raise ValueError(f"verify: {self.verify} needs the key '{key}'")
        if self.secret is not None and self.secrets is not None:
            raise ValueError("give either 'secret' or 'secrets', not both")
        if self.verify == "none":
            if self.secret is not None or self.secrets is not None:
                raise ValueError("verify: none takes no secret")
        elif self.secret is None and self.secrets is None:
            raise ValueError(f"verify: {self.verify} needs 'secret' (or 'secrets' during rotation)")
        if self.verify == "hmac" and "{body}" not in self.signed_content:
            raise ValueError("signed_content must include {body}")
        return self

    @property
    def secret_refs(self) -> list[str]:
        if self.secrets is not None:
            return list(self.secrets)
        return [self.secret] if self.secret is not None else []


class Retry(Strict):
    max_attempts: PositiveInt = 8
    initial_interval_seconds: PositiveFloat = 5
    multiplier: float = Field(default=4, ge=1)
    max_interval_seconds: PositiveFloat = 36000


_TRANSPORT_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection"}
)


def reserved_header(name: str) -> bool:
    """Headers a delivery sets itself (or its transport does): never forwarded from the event,
    since a copy would forge or break them."""
    low = name.lower()
    return low in _TRANSPORT_HEADERS or low.startswith(("webhook-", "whp-"))


def _forwardable(names: list[str]) -> list[str]:
    for name in names:
        if reserved_header(name):
            raise ValueError(f"header {name!r} is set by whp itself and cannot be forwarded")
    return [name.lower() for name in names]


def _destination_url(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if not host:
        raise ValueError("names no host: give the receiver's URL, e.g. https://example.com/hooks")
    if "@" in parts.netloc:
        raise ValueError(
            "must not carry credentials (user:password@host): a URL is not kept as a secret "
            "(`whp destinations list` shows it); receivers authenticate deliveries by their "
            "webhook-signature (signing_secret)"
        )
    return url


class Egress(Strict):
    """How deliveries leave (egress.py): `delivery:` holds the defaults, a destination its own.
    A client certificate and its key go together: a destination's `client_cert` takes its own
    `client_key` (or none), never the default one."""

    proxy: ProxySetting | None = None
    ca_file: CaFile | None = None
    client_cert: ReadableFile | None = None
    client_key: ReadableFile | None = None

    @model_validator(mode="after")
    def _client_pair(self) -> Egress:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert, the certificate it is the key of")
        if self.client_cert is not None:
            egress.check_client_pair(self.client_cert, self.client_key)
        return self


class Destination(Egress):
    url: Annotated[str, Field(pattern=r"^https?://"), AfterValidator(_destination_url)]
    signing_secret: SecretRef | None = None
    timeout_seconds: PositiveFloat = 15
    retry: Retry = Retry()
    forward_headers: Annotated[list[str], AfterValidator(_forwardable)] = []
    max_concurrency: PositiveInt = 10
    rate_limit: RateLimit | None = None
    paused: bool = False


class Route(Strict):
    name: Name
    destination: str
    pattern: dict[str, Any]

    @model_validator(mode="after")
    def _valid_pattern(self) -> Route:
        try:
            patterns.compile(self.pattern)
        except patterns.PatternError as exc:
            raise ValueError(f"pattern of route '{self.name}': {exc}") from None
        return self


class Config(Strict):
    storage: Storage = Storage()
    server: Server = Server()
    admin: Admin = Admin()
    logging: Logging = Logging()
    delivery: Egress = Egress()
    sources: dict[Name, Source] = {}
    destinations: dict[Name, Destination] = {}
    routes: list[Route] = []

    @model_validator(mode="after")
    def _routes_refer_to_destinations(self) -> Config:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise ValueError(f"two routes are named '{route.name}'; route names must be unique")
            seen.add(route.name)
            if route.destination not in self.destinations:
                known = ", ".join(sorted(self.destinations)) or "none defined"
                raise ValueError(
                    f"route '{route.name}' names destination '{route.destination}', "
                    f"which is not defined (destinations: {known})"
                )
        return self

    def egress_of(self, name: str) -> Egress:
        """Destination `name`'s way out: its own keys, else the `delivery:` defaults."""
        own, default = self.destinations[name], self.delivery
        pair = own if own.client_cert is not None else default
        return Egress.model_construct(  # each part was checked as it loaded
            proxy=own.proxy if own.proxy is not None else default.proxy,
            ca_file=own.ca_file if own.ca_file is not None else default.ca_file,
            client_cert=pair.client_cert,
            client_key=pair.client_key,
        )

    def warnings(self) -> list[str]:
        """What is accepted but risky, as `key path: why`: `whp check` prints them."""
        found = [
            f"{key}: secret written inline; use env:NAME or file:PATH"
            for key in self.literal_secrets()
        ]
        found += [
            f"sources.{name}.verify: none: anyone who can reach /webhooks/{name} can send it "
            "webhooks; keep it behind something that authenticates"
            for name, src in sorted(self.sources.items())
            if src.verify == "none"
        ]
        return found

    def literal_secrets(self) -> list[str]:
        """Key paths of secrets written inline: accepted, but `whp check` warns."""
        found = []
        refs: list[tuple[str, str | None]] = [("admin.token", self.admin.token)]
        for name, src in self.sources.items():
            key = "secrets" if src.secrets is not None else "secret"
            refs += [(f"sources.{name}.{key}", ref) for ref in src.secret_refs]
        for name, dest in self.destinations.items():
            refs.append((f"destinations.{name}.signing_secret", dest.signing_secret))
        for path, ref in refs:
            if ref is not None and ref.partition(":")[0] not in ("env", "file", "aws-sm"):
                found.append(path)
        return sorted(set(found))


def load(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming file, key path and problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise errors.ConfigError(
            str(file), ["file not found (create one with `whp init`)"]
        ) from None
    except OSError as exc:
        raise errors.ConfigError(str(file), [f"cannot read: {exc.strerror}"]) from None
    return parse(text, file)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error. PyYAML
    keeps the last one silently: a second `github:` under `sources:` would replace the first,
    its verification scheme included. (Terraform's yamldecode refuses such a file too.)"""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> Any:
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden
            continue
        key = loader.construct_object(key_node)
        if not isinstance(key, typing.Hashable):  # construct_mapping says what is wrong
            continue
        if key in first_line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given on line {first_line[key] + 1})",
                key_node.start_mark,
            )
        first_line[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _mapping_without_duplicates,
)


def parse(text: str, file: Path) -> Config:
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise errors.ConfigError(str(file), [f"{where}invalid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise errors.ConfigError(
            str(file), ["the top level must be a mapping of keys (storage, sources, ...)"]
        )
    try:
        return Config.model_validate(raw, context={"base_dir": file.resolve().parent})
    except ValidationError as exc:
        raise errors.ConfigError(str(file), [_describe(e) for e in exc.errors()]) from None


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    path = _key_path(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(allowed)}"
        return f"{path}: unknown key ({fix})"
    if kind == "missing":
        return f"{path}: missing required key"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind != "value_error" and not (set(map(str, loc)) & SECRET_KEYS):
        message += f" (got {error.get('input')!r})"
    return f"{path}: {message}"


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Walk the model tree along `loc` to list the keys allowed there."""
    node: Any = Config
    for part in loc:
        node = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = next((f for n, f in node.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            node = field.annotation
        else:
            origin = typing.get_origin(node)
            args = typing.get_args(node)
            if origin in (dict, list) and args:
                node = args[-1]
            else:
                return []
    node = _unwrap(node)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return sorted((f.alias or n) for n, f in node.model_fields.items())
    return []


def _unwrap(node: Any) -> Any:
    origin = typing.get_origin(node)
    if origin is Annotated:
        return _unwrap(typing.get_args(node)[0])
    if origin in (Union, types.UnionType):
        rest = [a for a in typing.get_args(node) if a is not type(None)]
        return _unwrap(rest[0]) if len(rest) == 1 else node
    return node
