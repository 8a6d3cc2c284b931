"""whp.yaml: loaded once, validated strictly, into a frozen object.

Relative paths (storage, schema, `file:` secrets, delivery certificates) are made absolute
against the config file's folder while loading, so nothing downstream needs to know where the file
was. Secret references are checked for form here and resolved later, only by the commands that
need them (see `secrets.py`); certificate files are read and loaded here (egress.py).

Every problem of a file is reported at once (`problems.py` words them): each rule a validator
checks, at its own key. `read` also keeps the parts that validate on their own, so that a start-up
can check their secrets while the rest of the file is still wrong.
"""

from __future__ import annotations

import difflib
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from webhook_processor import delivery, egress, errors, fields, patterns, problems, yamlfile

DEFAULT_FILE = "whp.yaml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
REF_KINDS = ("env", "file", "aws-sm")
# RFC 9110 section 5.6.2: a header name is a token.
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
PLACEHOLDER_RE = re.compile(r"\{(\w*)\}")  # of signed_content, as verify/hmac_generic.py reads it

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
    # An empty key verifies whatever is signed with an empty key: anyone could forge it.
    if not value.strip():
        raise ValueError("is empty (give env:NAME, file:PATH or aws-sm:NAME)")
    kind, sep, rest = value.partition(":")
    if not sep or kind not in REF_KINDS:
        return value  # a literal secret: allowed, `whp check` warns
    if not rest:
        raise ValueError(f"secret reference '{kind}:' names nothing after the colon")
    if kind == "env" and not ENV_NAME_RE.match(rest):  # not quoted: it may be a pasted secret
        raise ValueError(
            "env: needs an environment variable name (letters, digits and '_', "
            "not starting with a digit)"
        )
    if kind == "file":
        return "file:" + _relative_to_config(rest, info)
    return value


def _field_spec(value: str) -> str:
    kind, sep, _ = value.partition(":")
    if not sep or kind not in ("header", "json", "const"):  # not quoted: it may be a secret
        raise ValueError("must start with header:, json: or const: (e.g. header:X-Event-Type)")
    fields.parse(value)  # its messages quote a spec, which this is by now
    return value


def _name(value: str) -> str:
    if not NAME_RE.match(value):  # the key path shows the name
        raise ValueError("a name must be 1-64 letters, digits, '-' or '_', starting alphanumeric")
    return value


def _header_name(value: str) -> str:
    if not HEADER_NAME_RE.match(value):
        raise ValueError("must be an HTTP header name (letters, digits, '-', ...)")
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
FieldSpecText = Annotated[str, AfterValidator(_field_spec)]
RelPath = Annotated[str, AfterValidator(_relative_to_config)]
Name = Annotated[str, AfterValidator(_name)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
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
    header: HeaderName | None = None
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: HeaderName | None = None
    id_header: HeaderName | None = None
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
        found = problems.Problems()
        for key in sorted(self.model_fields_set):
            allowed = SCHEME_KEYS.get(key)
            if allowed is not None and self.verify not in allowed:
                found.add(
                    (key,),
                    f"does not apply to verify: {self.verify} "
                    f"(it applies to: {', '.join(sorted(allowed))})",
                )
        for key in REQUIRED_KEYS.get(self.verify, ()):
            if key not in self.model_fields_set:
                found.add((key,), f"missing required key (verify: {self.verify} needs it)")
        secret_key = "secrets" if self.secrets is not None else "secret"
        if self.secret is not None and self.secrets is not None:
            found.add((), "give either 'secret' or 'secrets', not both")
        elif self.verify == "none" and self.secret_refs:
            found.add((secret_key,), "verify: none takes no secret")
        elif self.verify != "none" and not self.secret_refs:
            found.add(
                ("secret",),
                f"missing required key (verify: {self.verify} needs 'secret', "
                "or 'secrets' during rotation)",
            )
        if self.verify == "hmac":
            for problem in self._template_problems():
                found.add(("signed_content",), problem)
        if self.verify == "basic" and self.username is not None and ":" in self.username:
            found.add(("username",), "a Basic username cannot contain ':'")
        found.raise_any("Source")
        return self

    def _template_problems(self) -> list[str]:
        """signed_content's problems (verify/hmac_generic.py refuses the same at start-up)."""
        found = [] if "{body}" in self.signed_content else ["must include {body}"]
        headers = {"timestamp": self.timestamp_header, "id": self.id_header}
        for name in dict.fromkeys(PLACEHOLDER_RE.findall(self.signed_content)):
            if name != "body" and name not in headers:
                known = "{id}, {timestamp}, {body}"
                found.append(f"has an unknown placeholder {{{name}}} (known: {known})")
            elif name != "body" and not headers[name]:
                found.append(f"uses {{{name}}} but no {name}_header is set")
        return found

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


def _forwardable(names: list[str]) -> list[str]:
    return list(delivery.forwardable(names))


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


DestinationUrl = Annotated[str, Field(pattern=r"^https?://"), AfterValidator(_destination_url)]


class Destination(Egress):
    url: DestinationUrl
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


AlertMetric = Literal[
    "dead_deliveries", "failure_rate", "oldest_pending_seconds", "rejected_signatures"
]
BY_SOURCE = frozenset({"rejected_signatures"})
WINDOWED = frozenset({"failure_rate", "rejected_signatures"})
DEFAULT_WINDOW_SECONDS = 300.0
MAX_WINDOW_SECONDS = 86400.0  # the counts of a window are kept in memory, a sample an interval


class Notify(Strict):
    """A receiver of alert notifications (a Slack incoming webhook, say)."""

    url: DestinationUrl
    signing_secret: SecretRef | None = None


class AlertRule(Strict):
    name: Name
    metric: AlertMetric
    destination: str | None = None
    source: str | None = None
    above: float = Field(ge=0)
    window_seconds: float | None = Field(default=None, gt=0, le=MAX_WINDOW_SECONDS)

    @model_validator(mode="after")
    def _subject(self) -> AlertRule:
        found = problems.Problems()
        wanted, other = (
            ("source", "destination") if self.metric in BY_SOURCE else ("destination", "source")
        )
        if getattr(self, wanted) is None:
            found.add((wanted,), f"missing required key (metric: {self.metric} needs a {wanted})")
        if getattr(self, other) is not None:
            found.add((other,), f"does not apply to metric: {self.metric} (it takes a {wanted})")
        if self.window_seconds is not None and self.metric not in WINDOWED:
            found.add(
                ("window_seconds",),
                f"does not apply to metric: {self.metric} (it is measured now; windows apply "
                "to failure_rate and rejected_signatures)",
            )
        if self.metric == "failure_rate" and self.above >= 1:
            found.add(
                ("above",),
                "failure_rate is a share of the attempts, 0..1: a rule above 1 or more never "
                "fires (0.5 is half of them failing)",
            )
        found.raise_any("AlertRule")
        return self

    @property
    def subject(self) -> str:
        return str(self.source if self.metric in BY_SOURCE else self.destination)

    @property
    def window(self) -> float | None:
        """Its window, defaulted, for the windowed metrics (None for the others)."""
        if self.metric not in WINDOWED:
            return None
        return self.window_seconds if self.window_seconds is not None else DEFAULT_WINDOW_SECONDS


class Alerts(Strict):
    interval_seconds: float = Field(default=10, ge=1)
    notify: list[Notify] = []
    rules: list[AlertRule] = []

    @field_validator("rules", mode="wrap")
    @classmethod
    def _unique_names(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[AlertRule]:
        found = problems.Problems()
        rules: list[AlertRule] = []
        try:
            rules = handler(value)
        except ValidationError as exc:
            found.keep(exc)
        seen: set[str] = set()
        for i, item in enumerate(value if isinstance(value, list) else []):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    found.add(
                        (i, "name"), f"two rules are named '{name}'; rule names must be unique"
                    )
                seen.add(name)
        found.raise_any("rules")
        return rules


def _unknown_name(kind: str, name: str, known: Any) -> str:
    """`names no defined destination (destinations: a, b; did you mean 'a'?)`. The name itself
    is not quoted: the key path shows where, and it may be a pasted secret."""
    names = sorted(known)
    hint = difflib.get_close_matches(name, names, n=1)
    fix = f"; did you mean '{hint[0]}'?" if hint else ""
    return f"names no defined {kind} ({kind}s: {', '.join(names) or 'none defined'}{fix})"


class Config(Strict):
    storage: Storage = Storage()
    server: Server = Server()
    admin: Admin = Admin()
    logging: Logging = Logging()
    delivery: Egress = Egress()
    sources: dict[Name, Source] = {}
    destinations: dict[Name, Destination] = {}
    routes: list[Route] = []
    alerts: Alerts = Alerts()  # after sources and destinations: its rules name them

    @field_validator("routes", mode="wrap")
    @classmethod
    def _routes_refer_to_destinations(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> list[Route]:
        """Names and destinations are checked on the raw routes, so that an invalid route does
        not hide the problems of the others. Fields validate in order: `destinations` is in
        info.data unless it failed, and then no route is blamed for it."""
        found = problems.Problems()
        routes: list[Route] = []
        try:
            routes = handler(value)
        except ValidationError as exc:
            found.keep(exc)
        destinations = info.data.get("destinations")
        seen: set[str] = set()
        for i, item in enumerate(value if isinstance(value, list) else []):
            name = item.get("name") if isinstance(item, dict) else None
            target = item.get("destination") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    found.add(
                        (i, "name"), f"two routes are named '{name}'; route names must be unique"
                    )
                seen.add(name)
            if destinations is not None and isinstance(target, str) and target not in destinations:
                found.add((i, "destination"), _unknown_name("destination", target, destinations))
        found.raise_any("routes")
        return routes

    @field_validator("alerts", mode="wrap")
    @classmethod
    def _rules_refer_to_config(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Alerts:
        """A rule's destination or source must be defined; checked on the raw rules, as the
        routes are, so that one invalid rule hides nothing of the others."""
        found = problems.Problems()
        alerts = Alerts()
        try:
            alerts = handler(value)
        except ValidationError as exc:
            found.keep(exc)
        rules = value.get("rules") if isinstance(value, dict) else None
        for i, item in enumerate(rules if isinstance(rules, list) else []):
            for key in ("destination", "source"):
                known = info.data.get(f"{key}s")
                name = item.get(key) if isinstance(item, dict) else None
                if known is not None and isinstance(name, str) and name not in known:
                    found.add(("rules", i, key), _unknown_name(key, name, known))
        found.raise_any("alerts")
        return alerts

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
        found += [
            f"sources.{name}.idempotency_key: {problems.bounded(str(src.idempotency_key))} is "
            "not the id the signature covers: a captured webhook resent with other headers is "
            "stored again (leave idempotency_key out to dedupe on the signed id)"
            for name, src in sorted(self.sources.items())
            if _key_is_not_the_signed_id(src)
        ]
        for i, route in enumerate(self.routes):
            found += problems.pattern_warnings(f"routes[{i}].pattern", route.pattern)
        if self.alerts.rules and not self.alerts.notify:
            found.append(
                "alerts.notify: no receiver: rules fire and resolve in /api/stats and the "
                "server's log only"
            )
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
        for i, receiver in enumerate(self.alerts.notify):
            refs.append((f"alerts.notify[{i}].signing_secret", receiver.signing_secret))
        for path, ref in refs:
            if ref is not None and ref.partition(":")[0] not in REF_KINDS:
                found.append(path)
        return sorted(set(found))


def _key_is_not_the_signed_id(src: Source) -> bool:
    """A `header:` idempotency key on a scheme that signs an id, other than that id's header:
    the preset (presets.py) is the id that was verified, whichever header carried it."""
    kind, _, header = (src.idempotency_key or "").partition(":")
    if kind != "header":
        return False  # a json: key is in the signed body; const: is the user's choice
    if src.verify in ("standard-webhooks", "svix"):
        return True  # two header sets carry the signed id
    signs_id = src.verify == "hmac" and src.id_header and "{id}" in src.signed_content
    return bool(signs_id) and header.lower() != str(src.id_header).lower()


@dataclass(frozen=True)
class Loaded:
    """A config file read as far as it validates. `config` is the whole of it, or None and
    `problems` say why; `valid` holds the parts that validate on their own (sources,
    destinations, admin: the whole config when it is valid), whose secrets can still be checked."""

    file: str
    config: Config | None
    problems: list[str]
    valid: Config


def load(path: str | Path) -> Config:
    """Read and validate a config file; raise ConfigError naming file, key path and problem."""
    loaded = read(path)
    if loaded.config is None:
        raise errors.ConfigError(loaded.file, loaded.problems)
    return loaded.config


def read(path: str | Path) -> Loaded:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Loaded(str(file), None, ["file not found (create one with `whp init`)"], Config())
    except OSError as exc:
        return Loaded(str(file), None, [f"cannot read: {exc.strerror}"], Config())
    return parse_parts(text, file)


def parse(text: str, file: Path) -> Config:
    loaded = parse_parts(text, file)
    if loaded.config is None:
        raise errors.ConfigError(loaded.file, loaded.problems)
    return loaded.config


def parse_parts(text: str, file: Path) -> Loaded:
    try:
        raw = yamlfile.load(text)
    except yamlfile.YAMLError as exc:
        return Loaded(str(file), None, [yamlfile.describe(exc)], Config())
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return Loaded(
            str(file),
            None,
            ["the top level must be a mapping of keys (storage, sources, ...)"],
            Config(),
        )
    context = {"base_dir": file.resolve().parent}
    try:
        cfg = Config.model_validate(raw, context=context)
    except ValidationError as exc:
        found = [problems.describe(e, Config) for e in exc.errors()]
        return Loaded(str(file), None, found, _valid_parts(raw, context))
    return Loaded(str(file), cfg, [], cfg)


def _valid_parts(raw: dict[Any, Any], context: dict[str, Any]) -> Config:
    """The sources, destinations and admin of `raw` that validate on their own."""
    parts: dict[str, Any] = {}
    for section in ("sources", "destinations"):
        items = raw.get(section)
        if isinstance(items, dict):
            parts[section] = {
                name: value
                for name, value in items.items()
                if _validates({section: {name: value}}, context)
            }
    if "admin" in raw and _validates({"admin": raw["admin"]}, context):
        parts["admin"] = raw["admin"]
    return Config.model_validate(parts, context=context)


def _validates(raw: dict[str, Any], context: dict[str, Any]) -> bool:
    try:
        Config.model_validate(raw, context=context)
    except ValidationError:
        return False
    return True
