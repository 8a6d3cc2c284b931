"""`alerts:` in whp.yaml: its defaults, and every problem of it at once, each at its key path;
`whp check`'s start-up checks of the receivers' signing secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook_processor import bootstrap, config, errors, wiring

BASE = """\
sources:
  github: {verify: github, secret: env:GH}
destinations:
  orders: {url: "http://127.0.0.1:9000/hooks"}
"""
SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def load(tmp_path: Path, alerts: str) -> config.Config:
    file = tmp_path / "whp.yaml"
    file.write_text(BASE + alerts)
    return config.load(file)


def problems(tmp_path: Path, alerts: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as caught:
        load(tmp_path, alerts)
    return caught.value.problems


def test_a_config_without_alerts_has_no_rules_and_the_default_interval(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.alerts.rules == []
    assert cfg.alerts.notify == []
    assert cfg.alerts.interval_seconds == 10


def test_design_md_s_example_loads_and_becomes_rules(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """\
alerts:
  interval_seconds: 5
  notify:
    - url: https://hooks.slack.com/services/T000/B000/XXXX
    - url: http://127.0.0.1:9100/alerts
      signing_secret: env:ALERTS_SIGNING_SECRET
  rules:
    - {name: orders-dead, metric: dead_deliveries, destination: orders, above: 0}
    - {name: orders-failing, metric: failure_rate, destination: orders, above: 0.5,
       window_seconds: 120}
    - {name: orders-slow, metric: oldest_pending_seconds, destination: orders, above: 600}
    - {name: github-forged, metric: rejected_signatures, source: github, above: 10}
""",
    )
    assert cfg.alerts.interval_seconds == 5
    assert [n.signing_secret for n in cfg.alerts.notify] == [None, "env:ALERTS_SIGNING_SECRET"]
    assert [
        (r.name, r.metric, r.subject, r.above, r.window_seconds) for r in wiring.alert_rules(cfg)
    ] == [
        ("orders-dead", "dead_deliveries", "orders", 0, None),
        ("orders-failing", "failure_rate", "orders", 0.5, 120),
        ("orders-slow", "oldest_pending_seconds", "orders", 600, None),
        ("github-forged", "rejected_signatures", "github", 10, 300),  # the default window
    ]


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        (
            "alerts: {rules: [{name: a, metric: dead_deliveries, destination: order, above: 0}]}",
            "alerts.rules[0].destination: names no defined destination (destinations: orders; "
            "did you mean 'orders'?)",
        ),
        (
            "alerts: {rules: [{name: a, metric: rejected_signatures, source: stripe, above: 1}]}",
            "alerts.rules[0].source: names no defined source (sources: github)",
        ),
        (
            "alerts: {rules: [{name: a, metric: rejected_signatures, destination: orders, "
            "above: 1}]}",
            "alerts.rules[0].source: missing required key (metric: rejected_signatures needs a "
            "source)",
        ),
        (
            "alerts: {rules: [{name: a, metric: failure_rate, source: github, above: 0.1}]}",
            "alerts.rules[0].destination: missing required key (metric: failure_rate needs a "
            "destination)",
        ),
        (
            "alerts: {rules: [{name: a, metric: dead_deliveries, destination: orders, above: 0, "
            "window_seconds: 60}]}",
            "alerts.rules[0].window_seconds: does not apply to metric: dead_deliveries (it is "
            "measured now; windows apply to failure_rate and rejected_signatures)",
        ),
        (
            "alerts: {rules: [{name: a, metric: failure_rate, destination: orders, above: 5}]}",
            "alerts.rules[0].above: failure_rate is a share of the attempts, 0..1: a rule above "
            "1 or more never fires (0.5 is half of them failing)",
        ),
        (
            "alerts: {rules: [{name: a, metric: latency, destination: orders, above: 1}]}",
            "alerts.rules[0].metric: Input should be 'dead_deliveries', 'failure_rate', "
            "'oldest_pending_seconds' or 'rejected_signatures'",
        ),
        (
            "alerts: {rules: [{name: a, metric: dead_deliveries, destination: orders}]}",
            "alerts.rules[0].above: missing required key",
        ),
        (
            "alerts: {rules: [{name: a, metric: dead_deliveries, destination: orders, above: -1}]}",
            "alerts.rules[0].above: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "alerts: {interval_seconds: 0.1}",
            "alerts.interval_seconds: Input should be greater than or equal to 1",
        ),
        (
            "alerts: {notify: [{url: 'ftp://x'}]}",
            "alerts.notify[0].url: String should match pattern '^https?://'",
        ),
        ("alerts: {notify: [{url: 'http://x', signing_secret: ''}]}", "alerts.notify[0]"),
        ("alerts: {notify: [{url: 'http://x', secret: env:X}]}", "alerts.notify[0].secret"),
        ("alerts: {rule: []}", "alerts.rule: unknown key (did you mean 'rules'?)"),
    ],
)
def test_each_problem_is_reported_at_its_key_path(
    tmp_path: Path, alerts: str, expected: str
) -> None:
    found = problems(tmp_path, alerts + "\n")
    assert any(p.startswith(expected) for p in found), found


def test_every_rule_s_problems_are_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
alerts:
  rules:
    - {name: a, metric: dead_deliveries, destination: nowhere, above: 0}
    - {name: a, metric: failure_rate, destination: orders, above: 0.5}
    - {name: c, metric: rejected_signatures, source: gitlab, above: 0}
""",
    )
    assert sorted(p.partition(":")[0] for p in found) == [
        "alerts.rules[0].destination",
        "alerts.rules[1].name",
        "alerts.rules[2].source",
    ]
    assert "alerts.rules[1].name: two rules are named 'a'; rule names must be unique" in found


def test_rules_without_a_receiver_are_accepted_with_a_warning(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "alerts: {rules: [{name: a, metric: dead_deliveries, destination: orders, above: 0}]}\n",
    )
    assert any(w.startswith("alerts.notify: no receiver") for w in cfg.warnings())


def test_an_inline_signing_secret_is_warned_about_and_a_bad_one_refused_at_start(
    tmp_path: Path,
) -> None:
    cfg = load(
        tmp_path,
        f"alerts: {{notify: [{{url: 'http://127.0.0.1:1/a', signing_secret: '{SIGNING}'}}, "
        "{url: 'http://127.0.0.1:1/b', signing_secret: env:ALERT_KEY}]}\n",
    )
    assert any(
        w.startswith("alerts.notify[0].signing_secret: secret written inline")
        for w in (cfg.warnings())
    )
    found = bootstrap.startup_problems(cfg, {"GH": "x", "ALERT_KEY": "not-whsec"})
    assert found == [
        "alerts.notify[1].signing_secret: signing_secret must have the form whsec_<base64 of "
        "the key bytes>"
    ]
    found = bootstrap.startup_problems(cfg, {"GH": "x"})
    assert found == ["alerts.notify[1].signing_secret: environment variable ALERT_KEY is not set"]
