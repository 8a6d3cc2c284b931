"""`whp init`, `whp check`, `whp send` argument errors and `whp events`, run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_processor.entrypoints import cli


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


def test_check_reports_problems_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    cfg.write_text("sources:\n  gh: {verify: github, secret: env:WHP_TEST_UNSET_VAR}\n")
    assert run("check", "--config", str(cfg)) == 2
    err = capsys.readouterr().err
    assert f"{cfg}: sources.gh.secret: environment variable WHP_TEST_UNSET_VAR is not set" in err


def test_check_warns_about_literal_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "whp.yaml"
    cfg.write_text("sources:\n  gh: {verify: github, secret: inline-value}\n")
    assert run("check", "--config", str(cfg)) == 0
    err = capsys.readouterr().err
    assert "sources.gh.secret: secret written inline" in err
    assert "inline-value" not in err


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
