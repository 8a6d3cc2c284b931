"""`whp init`, `whp check`, `whp send` (its errors, and what it sends to a plain HTTP server),
`whp events` and the global `--config`, run in-process."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from webhook_processor import models
from webhook_processor.adapters.sqlite import events
from webhook_processor.entrypoints import cli

from .threaded import uvicorn_on_a_thread


def run(*args: str) -> int:
    return cli.main(list(args))


def test_init_writes_a_config_that_checks_out_of_the_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    assert run("init", "--config", str(cfg)) == 0
    secrets = tmp_path / ".whp"
    assert (secrets / ".gitignore").read_text().endswith("*\n")
    assert (secrets / "app.secret").read_text().startswith("whsec_")
    assert oct((secrets / "github.secret").stat().st_mode & 0o777) == "0o600"
    assert run("check", "--config", str(cfg)) == 0
    out = capsys.readouterr()
    assert "ok (3 sources" in out.out
    assert "warning" not in out.err


def test_init_keeps_an_existing_config_and_its_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    run("init", "--config", str(cfg))
    secret = (tmp_path / ".whp" / "github.secret").read_text()
    cfg.write_text(cfg.read_text() + "\n# mine\n")
    assert run("init", "--config", str(cfg)) == 0
    assert cfg.read_text().endswith("# mine\n")
    assert (tmp_path / ".whp" / "github.secret").read_text() == secret
    assert "left it as it is" in capsys.readouterr().out


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str, Path]:
    """`whp check` on a config of `text`: its exit status, its stderr, the config's path."""
    cfg = tmp_path / "whp.yaml"
    cfg.write_text(text)
    status = run("check", "--config", str(cfg))
    return status, capsys.readouterr().err, cfg


def test_check_reports_problems_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err, cfg = check(
        tmp_path, capsys, "sources:\n  gh: {verify: github, secret: env:WHP_TEST_UNSET_VAR}\n"
    )
    assert status == 2
    assert f"{cfg}: sources.gh.secret: environment variable WHP_TEST_UNSET_VAR is not set" in err


def test_check_warns_about_literal_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err, _ = check(
        tmp_path, capsys, "sources:\n  gh: {verify: github, secret: inline-value}\n"
    )
    assert status == 0
    assert "sources.gh.secret: secret written inline" in err
    assert "inline-value" not in err


def test_check_warns_about_sources_that_verify_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err, cfg = check(
        tmp_path,
        capsys,
        "sources:\n  open: {verify: none}\n  gh: {verify: github, secret: env:HOME}\n",
    )
    assert status == 0
    [warning] = err.splitlines()
    assert warning.startswith(f"warning: {cfg}: sources.open.verify: none: anyone who can reach")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "nope", "x.json"], "no source named 'nope'"),
        (
            ["send", "stripe", "body.json", "--event-type", "x"],
            "takes its event type from json:type",
        ),
        (["send", "github", "missing.json"], "cannot read missing.json"),
        (["send", "github", "body.json", "-H", "novalue"], "expected 'Name: value'"),
    ],
)
def test_send_usage_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    (tmp_path / "body.json").write_text("{}")
    capsys.readouterr()
    assert run(*args) == 2
    assert message in capsys.readouterr().err


def test_events_list_on_a_fresh_config_explains_there_is_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    assert run("events", "list") == 3
    assert "has `whp serve` run yet" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--since", "--until"])
def test_events_list_rejects_bad_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    assert run("events", "list", flag, "yesterday") == 2
    assert "expected an RFC 3339 time or a duration" in capsys.readouterr().err


def stored(tmp_path: Path, count: int) -> list[str]:
    """`count` events in the store of the config `whp init` wrote in tmp_path; ids newest first."""
    made = [
        models.Event(
            id=models.new_event_id(1_700_000_000 + n),
            source="github",
            event_type="push",
            idempotency_key=None,
            received_ms=1_700_000_000_000 + n,
            content_type="application/json",
            headers={},
            body=b"{}",
        )
        for n in range(count)
    ]

    async def write() -> None:
        store = events.GroupCommitStore(str(tmp_path / "whp.db"), 5)
        store.start()
        for e in made:
            await store.add(e)
        await store.stop()

    asyncio.run(write())
    return [e.id for e in reversed(made)]


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "501"])
def test_events_list_limit_must_be_a_number_from_1_to_500(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    stored(tmp_path, 1)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        run("events", "list", "--limit", limit)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --limit" in err
    assert "give a whole number from 1 to 500" in err  # as the admin API's limit


def test_events_list_pages_with_the_cursor_it_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    ids = stored(tmp_path, 5)
    capsys.readouterr()
    pages: list[list[str]] = []
    notes: list[str] = []
    cursor: list[str] = []
    while True:
        assert run("events", "list", "--limit", "2", *cursor) == 0
        out = capsys.readouterr()
        pages.append([line.split()[0] for line in out.out.splitlines()[1:]])
        notes.append(out.err)
        found = re.fullmatch(r"\(the (?:newest|next) 2; more with --cursor (\S+)\)\n", out.err)
        if not found:
            break
        cursor = ["--cursor", found.group(1)]
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert notes[0].startswith("(the newest 2;")
    assert notes[1].startswith("(the next 2;")
    assert notes[2] == ""  # the last page says nothing more


def test_events_list_json_keeps_stdout_to_events_and_gives_the_cursor_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    ids = stored(tmp_path, 5)
    capsys.readouterr()
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(5):
        assert run("events", "list", "--json", "--limit", "3", *cursor) == 0
        out = capsys.readouterr()
        seen += [json.loads(line)["id"] for line in out.out.splitlines()]
        if not out.err:
            break
        cursor = ["--cursor", json.loads(out.err)["next"]]
    assert seen == ids


@pytest.mark.parametrize("cursor", ["nonsense!", "eyJzZXEiOiJ4In0", ""])
def test_events_list_refuses_a_cursor_it_did_not_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], cursor: str
) -> None:
    monkeypatch.chdir(tmp_path)
    run("init")
    stored(tmp_path, 1)
    capsys.readouterr()
    assert run("events", "list", "--cursor", cursor) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"whp: --cursor {cursor!r} is not a cursor whp gave: ")
    assert "pass the one the previous page printed" in err


PAYMENTS = '{"source": ["stripe"], "detail-type": [{"prefix": "payment_intent."}]}'
SUCCEEDED = '{"source": "stripe", "detail-type": "payment_intent.succeeded", "detail": {}}'


@pytest.mark.parametrize(
    ("pattern", "event", "status", "out"),
    [
        (PAYMENTS, SUCCEEDED, 0, "match\n"),
        ('{"source": ["github"]}', SUCCEEDED, 1, "no match\n"),
    ],
)
def test_routes_test_answers_like_grep(
    capsys: pytest.CaptureFixture[str], pattern: str, event: str, status: int, out: str
) -> None:
    assert run("routes", "test", "--pattern", pattern, "--event", event) == status
    assert capsys.readouterr().out == out


def test_routes_test_reads_files_and_configured_routes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "event.json").write_text(SUCCEEDED)
    cfg = tmp_path / "whp.yaml"
    cfg.write_text(
        "destinations: {orders: {url: 'http://127.0.0.1:9/'}}\n"
        f"routes: [{{name: payments, destination: orders, pattern: {PAYMENTS}}}]\n"
    )
    event = f"@{tmp_path / 'event.json'}"
    assert run("routes", "test", "--config", str(cfg), "--route", "payments", "--event", event) == 0
    assert run("routes", "test", "--config", str(cfg), "--route", "nope", "--event", event) == 2
    assert "no route named 'nope' (routes: payments)" in capsys.readouterr().err


def test_routes_test_explains_an_invalid_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    bad = '{"detail": {"amount": [{"numeric": [">"]}]}}'
    assert run("routes", "test", "--pattern", bad, "--event", SUCCEEDED) == 2
    assert "invalid pattern: detail.amount: numeric needs an operator" in capsys.readouterr().err


def test_an_invalid_route_pattern_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    cfg.write_text(
        "destinations: {orders: {url: 'http://127.0.0.1:9/'}}\n"
        "routes: [{name: r1, destination: orders, pattern: {source: stripe}}]\n"
    )
    assert run("check", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: routes[0]: pattern of route 'r1': source:" in err


@pytest.mark.parametrize("secret", ["", "  "])
def test_send_refuses_an_empty_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str
) -> None:
    """`--secret ''` signed with the source's own secret, `--secret ' '` with a blank key."""
    monkeypatch.chdir(tmp_path)
    run("init")
    (tmp_path / "body.json").write_text("{}")
    capsys.readouterr()
    assert (
        run("send", "github", "body.json", "--secret", secret, "--url", "http://127.0.0.1:9") == 2
    )
    assert "--secret: the secret is empty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "env", "problem"),
    [
        (
            "destinations: {d: {url: 'http://127.0.0.1:9/', signing_secret: env:WHP_TEST_UNSET}}\n",
            {},
            "destinations.d.signing_secret: environment variable WHP_TEST_UNSET is not set",
        ),
        (
            "destinations: {d: {url: 'http://127.0.0.1:9/', signing_secret: env:WHP_TEST_SIGN}}\n",
            {"WHP_TEST_SIGN": "not-whsec-value"},
            "destinations.d.signing_secret: signing_secret must have the form whsec_",
        ),
        (
            "admin: {token: env:WHP_TEST_UNSET}\n",
            {},
            "admin.token: environment variable WHP_TEST_UNSET is not set",
        ),
    ],
)
def test_check_refuses_what_serve_refuses(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    env: dict[str, str],
    problem: str,
) -> None:
    monkeypatch.delenv("WHP_TEST_UNSET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, err, cfg = check(tmp_path, capsys, "storage: {path: whp.db}\n" + text)
    assert status == 2
    assert f"{cfg}: {problem}" in err
    assert "not-whsec-value" not in err
    assert not (tmp_path / "whp.db").exists()


def readme_block(starting: str) -> str:
    """The README's fenced block whose first line is `starting`."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for block in readme.split("```")[1::2]:
        body = block.partition("\n")[2]
        if body.startswith(starting):
            return body
    raise AssertionError(f"no README block starts with {starting!r}")


def test_check_reports_the_readme_example_of_two_problems_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in one source and an unset secret in another: both, in one run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "gh-secret")
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    Path("whp.yaml").write_text(
        "sources:\n"
        "  github: {verify: github, secret: env:GITHUB_WEBHOOK_SECRET, algoritm: sha256}\n"
        "  stripe: {verify: stripe, secret: env:STRIPE_WEBHOOK_SECRET}\n"
    )
    assert run("check") == 2
    assert capsys.readouterr().err == readme_block("whp: config error\n")


def test_check_warns_about_pattern_fields_the_event_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err, cfg = check(
        tmp_path,
        capsys,
        "destinations: {d: {url: 'http://127.0.0.1:9/'}}\n"
        "routes: [{name: r, destination: d, pattern: {detail_type: [push]}}]\n",
    )
    assert status == 0
    assert err == (
        f"warning: {cfg}: routes[0].pattern.detail_type: the event has no such field "
        "(did you mean 'detail-type'?)\n"
    )


# --- the global --config ----------------------------------------------------------------------


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "elsewhere.yaml"
    cfg.write_text("sources:\n  gh: {verify: github, secret: env:HOME}\n")
    return cfg


@pytest.mark.parametrize("before", [True, False], ids=["before the command", "after it"])
def test_config_goes_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before: bool
) -> None:
    cfg = write_config(tmp_path)
    args = ["--config", str(cfg), "check"] if before else ["check", "--config", str(cfg)]
    assert run(*args) == 0
    assert f"{cfg}: ok (1 sources" in capsys.readouterr().out


def test_config_defaults_to_whp_yaml_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path).rename(tmp_path / "whp.yaml")
    assert run("check") == 0
    assert "whp.yaml: ok (1 sources" in capsys.readouterr().out


def test_the_commands_own_config_wins_over_the_global_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = write_config(tmp_path / "mine")
    assert run("--config", str(tmp_path / "nope.yaml"), "check", "--config", str(mine)) == 0
    assert f"{mine}: ok" in capsys.readouterr().out


# --- whp init --force / --new-secrets ---------------------------------------------------------


def secret_values(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in (folder / ".whp").iterdir() if p.name != ".gitignore"}


def test_init_force_rewrites_the_config_but_keeps_the_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    run("init", "--config", str(cfg))
    before = secret_values(tmp_path)
    cfg.write_text("# mine\n")
    assert run("init", "--config", str(cfg), "--force") == 0
    assert "sources:" in cfg.read_text()
    assert secret_values(tmp_path) == before  # senders signing with them still verify
    out = capsys.readouterr().out
    assert "kept the secrets" in out
    assert "--new-secrets" in out


def test_init_new_secrets_replaces_every_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    run("init", "--config", str(cfg))
    before = secret_values(tmp_path)
    cfg.write_text(cfg.read_text() + "# mine\n")
    assert run("init", "--config", str(cfg), "--new-secrets") == 0
    after = secret_values(tmp_path)
    assert after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    assert cfg.read_text().endswith("# mine\n")  # the config is left alone without --force
    assert "fresh secrets" in capsys.readouterr().out
    assert run("check", "--config", str(cfg)) == 0


# --- whp send: what it says about its flags, its file and the answer -------------------------


@dataclass
class Recorder:
    """A plain HTTP server (not whp): records what it receives, answers `status` and `body`."""

    status: int = 200
    body: bytes = b"<html><body>\n  <h1>Welcome to nginx!</h1>\n</body></html>\n"
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.received.append((headers, b"".join(chunks)))
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [(b"content-type", b"text/html")],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    """A Recorder on a free port, and its URL."""
    app = Recorder()
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    with uvicorn_on_a_thread(config) as port:
        yield app, f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    """A folder with `whp init`'s config, the working directory."""
    monkeypatch.chdir(tmp_path)
    run("init")
    capsys.readouterr()
    return tmp_path


@pytest.mark.parametrize("status", [200, 404])
def test_send_to_a_server_that_is_not_whp_says_so(
    here: Path, recorder: tuple[Recorder, str], capsys: pytest.CaptureFixture[str], status: int
) -> None:
    app, url = recorder
    app.status = status
    (here / "body.json").write_text("{}")
    code = run("send", "github", "body.json", "--url", url)
    out = capsys.readouterr()
    said = out.out if status == 200 else out.err
    assert code == (0 if status == 200 else 1)
    assert said.startswith(f"{status} from {url}: not an answer from whp: "), said
    assert "Welcome to nginx!" in said
    assert "None" not in said
    assert len(said.splitlines()) == 1


def test_send_with_a_secret_flag_that_does_not_resolve_names_the_flag(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "body.json").write_text("{}")
    assert run("send", "github", "body.json", "--secret", "env:WHP_TEST_NOPE") == 2
    err = capsys.readouterr().err
    assert err == "whp: --secret env:WHP_TEST_NOPE: environment variable WHP_TEST_NOPE is not set\n"


def test_send_refuses_a_json_file_that_does_not_parse(
    here: Path, recorder: tuple[Recorder, str], capsys: pytest.CaptureFixture[str]
) -> None:
    app, url = recorder
    (here / "body.json").write_text('{"type": "push",\n "ref": main}\n')
    assert run("send", "github", "body.json", "--url", url) == 2
    err = capsys.readouterr().err
    assert "body.json is not valid JSON: Expecting value: line 2 column 9" in err
    assert "--content-type" in err
    assert app.received == []


def test_send_sends_a_file_that_does_not_parse_as_the_content_type_given(
    here: Path, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    (here / "body.json").write_text("not json")
    run("send", "github", "body.json", "--url", url, "--content-type", "text/plain")
    [(headers, body)] = app.received
    assert headers["content-type"] == "text/plain"
    assert body == b"not json"


def test_send_gives_the_same_file_a_fresh_id_unless_keep_id(
    here: Path, recorder: tuple[Recorder, str]
) -> None:
    app, url = recorder
    example = '{"id": "evt_1PxAmpleStripeEvent", "type": "payment_intent.succeeded"}'
    (here / "stripe.json").write_text(example)
    for extra in ([], [], ["--keep-id"]):
        run("send", "stripe", "stripe.json", "--url", url, *extra)
    ids = [json.loads(body)["id"] for _, body in app.received]
    assert len(set(ids[:2])) == 2
    assert all(i.startswith("evt_") and i != "evt_1PxAmpleStripeEvent" for i in ids[:2])
    assert app.received[2][1] == example.encode()
