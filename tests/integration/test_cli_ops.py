"""`whp replay`, `whp dlq`, `whp purge`, `whp destinations` and `whp events show|list` with
deliveries, run in-process against a real SQLite store."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from webhook_processor import models, ports
from webhook_processor.adapters.sqlite import db, events, queue
from webhook_processor.entrypoints import cli, cli_show

CONFIG = """\
storage: {path: whp.db, retention_days: 7}
destinations:
  orders: {url: "http://127.0.0.1:9/orders"}
  audit: {url: "http://127.0.0.1:9/audit", paused: true}
routes:
  - {name: payments, destination: orders, pattern: {source: [stripe]}}
  - {name: everything, destination: audit, pattern: {source: [{prefix: ""}]}}
"""
PAYMENTS = ("payments", "orders")
EVERYTHING = ("everything", "audit")
DAY_MS = 86_400_000
_serial = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


def make_event(source: str = "stripe", age_ms: int = 60_000) -> models.Event:
    n = next(_serial)
    return models.Event(
        id=f"evt_{n:032x}",
        source=source,
        event_type="charge.succeeded" if source == "stripe" else "push",
        idempotency_key=None,
        received_ms=now_ms() - age_ms,
        content_type="application/json",
        headers={"x-n": str(n)},
        body=b'{"n": %d}' % n,
    )


def store(path: Path, *made: models.Event) -> list[str]:
    """Store events through the ingest writer, as `whp serve` does; their ids."""

    async def run() -> None:
        writer = events.GroupCommitStore(str(path), 5)
        writer.start()
        try:
            for e in made:
                await writer.add(e)
        finally:
            await writer.stop()

    asyncio.run(run())
    return [e.id for e in made]


def kill_all(q: queue.DeliveryQueue) -> list[int]:
    """Fail every due delivery for good (two attempts: a retry, then dead); their ids."""
    dead = []
    for attempt, outcome in ((1, "retry"), (2, "dead")):
        at = now_ms()
        for c in q.claim(at, 30_000, 1000):
            q.record(
                models.AttemptRecord(
                    c.delivery_id,
                    attempt,
                    started_ms=at,
                    duration_ms=40,
                    status_code=500 if attempt == 1 else None,
                    error=None if attempt == 1 else "connection refused",
                    excerpt="oops" if attempt == 1 else None,
                    outcome=outcome,  # type: ignore[arg-type]
                    next_attempt_ms=at - 1 if outcome == "retry" else None,
                ),
                at,
            )
            dead.append(int(c.delivery_id))
    return sorted(set(dead))


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "whp.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def q(tmp_path: Path) -> Iterator[queue.DeliveryQueue]:
    conn = db.connect(str(tmp_path / "whp.db"), 5)
    yield queue.DeliveryQueue(conn)
    conn.close()


Whp = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(cfg: Path, capsys: pytest.CaptureFixture[str]) -> Whp:
    """`whp ARGS --config whp.yaml` in-process: (exit status, stdout, stderr)."""

    def whp(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = cli.main([*args, "--config", str(cfg)])
        out = capsys.readouterr()
        return status, out.out, out.err

    return whp


def whp(run: Whp, *args: str) -> tuple[int, str, str]:
    return run(*args)


def status_of(q: queue.DeliveryQueue, event_id: str) -> str:
    pending = {e.id for e in q.pending_events(1000)}
    return "pending" if event_id in pending else "not pending"


# -- replay ---------------------------------------------------------------------------------


def test_replay_says_that_a_running_server_routes_with_the_config_it_loaded(
    tmp_path: Path, run: Whp
) -> None:
    (eid,) = store(tmp_path / "whp.db", make_event())
    status, out, _ = whp(run, "replay", eid)
    assert status == 0
    assert "with the routes it has loaded" in out
    assert "kill -HUP" in out  # how to load an edited whp.yaml first


def test_replay_by_id_makes_the_event_pending_with_its_webhook_id(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    (eid,) = store(tmp_path / "whp.db", make_event())
    q.route(eid, [PAYMENTS], now_ms())
    assert status_of(q, eid) == "not pending"

    status, out, _ = whp(run, "replay", eid)
    assert status == 0
    assert "replayed 1 event;" in out
    assert status_of(q, eid) == "pending"
    q.route(eid, [PAYMENTS], now_ms())
    assert [d.webhook_id for d in q.deliveries_of(eid)] == [eid, eid]

    assert whp(run, "replay", eid, "--new-id")[0] == 0
    q.route(eid, [PAYMENTS], now_ms())
    fresh = q.deliveries_of(eid)[-1].webhook_id
    assert fresh.startswith("msg_")
    assert fresh != eid


def test_replay_refuses_unknown_ids_and_replays_none(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    (eid,) = store(tmp_path / "whp.db", make_event())
    q.route(eid, [PAYMENTS], now_ms())
    status, _, err = whp(run, "replay", eid, "evt_nope", "evt_gone")
    assert status == 2
    assert "evt_nope, evt_gone" in err
    assert "nothing replayed" in err
    assert status_of(q, eid) == "not pending"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "evt_x", "--source", "stripe"], "not both"),
        (["replay"], "give event ids, or filters"),
        (["replay", "--dry-run"], "give event ids, or filters"),
    ],
)
def test_replay_needs_ids_or_filters_not_both(
    tmp_path: Path, run: Whp, args: list[str], message: str
) -> None:
    store(tmp_path / "whp.db", make_event())
    status, _, err = whp(run, *args)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_bulk_replay_counts_with_dry_run_then_replays(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    ids = store(
        tmp_path / "whp.db",
        make_event("stripe"),
        make_event("stripe"),
        make_event("github"),
        make_event("stripe", age_ms=3 * DAY_MS),
    )
    for eid in ids:
        q.route(eid, [EVERYTHING], now_ms())

    status, out, _ = whp(run, "replay", "--source", "stripe", "--since", "1d", "--dry-run")
    assert (status, out) == (0, "2 events would be replayed\n")
    assert q.pending_events(10) == []

    status, _, err = whp(run, "replay", "--source", "stripe", "--since", "1d")
    assert status == 2
    assert "--yes" in err
    assert q.pending_events(10) == []

    status, out, _ = whp(run, "replay", "--source", "stripe", "--since", "1d", "--yes")
    assert status == 0
    assert "replayed 2 events" in out
    assert [e.id for e in q.pending_events(10)] == ids[:2]

    status, out, _ = whp(run, "replay", "--source", "nobody", "--yes")
    assert (status, out) == (0, "no events match; nothing replayed\n")


# -- dead-letter queue ----------------------------------------------------------------------


@pytest.fixture
def dead(tmp_path: Path, q: queue.DeliveryQueue) -> dict[str, list[int]]:
    """Dead deliveries: 2 of orders, 3 of audit; by destination."""
    ids = store(tmp_path / "whp.db", make_event(), make_event(), make_event("github"))
    for eid in ids[:2]:
        q.route(eid, [PAYMENTS, EVERYTHING], now_ms())
    q.route(ids[2], [EVERYTHING], now_ms())
    kill_all(q)
    found: dict[str, list[int]] = {}
    for d in q.dead(limit=100):
        found.setdefault(d.destination, []).append(d.id)
    assert {k: len(v) for k, v in found.items()} == {"orders": 2, "audit": 3}
    return found


def test_dlq_list_as_a_table_and_as_json(run: Whp, dead: dict[str, list[int]]) -> None:
    status, out, _ = whp(run, "dlq", "list")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID",
        "EVENT",
        "DESTINATION",
        "ROUTE",
        "ATTEMPTS",
        "LAST",
        "OUTCOME",
        "DEAD",
        "SINCE",
    ]
    assert len(rows) == 5
    assert "connection refused" in rows[0]
    assert rows[0].split()[0] == str(max(dead["orders"] + dead["audit"]))

    status, out, _ = whp(run, "dlq", "list", "--json", "--destination", "orders")
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [r["delivery_id"] for r in lines] == [str(i) for i in dead["orders"]]  # newest first
    assert {r["route"] for r in lines} == {"payments"}
    assert {r["attempts"] for r in lines} == {2}
    assert {r["last_error"] for r in lines} == {"connection refused"}
    assert all(r["dead_at"].endswith("Z") for r in lines)

    status, out, err = whp(run, "dlq", "list", "--limit", "2")
    assert len(out.splitlines()) == 3
    cursor = err.split("--cursor ")[1].rstrip(")\n")
    status, out, err = whp(run, "dlq", "list", "--limit", "2", "--cursor", cursor)
    assert (status, len(out.splitlines()), err.startswith("(the next 2")) == (0, 3, True)


def test_dlq_list_when_empty(run: Whp, q: queue.DeliveryQueue) -> None:
    assert whp(run, "dlq", "list")[1].endswith("(the dead-letter queue is empty)\n")


def test_commands_without_a_store_exit_3(run: Whp) -> None:
    for args in (["dlq", "list"], ["purge"], ["replay", "evt_x"], ["dlq", "redrive", "--all"]):
        status, _, err = whp(run, *args)
        assert status == 3, args
        assert "has `whp serve` run yet" in err


def test_redrive_by_id_destination_and_all(
    run: Whp, q: queue.DeliveryQueue, dead: dict[str, list[int]]
) -> None:
    first = dead["audit"][0]
    status, out, _ = whp(run, "dlq", "redrive", str(first))
    assert (status, out) == (0, "redrove 1 delivery\n")
    d = delivery(q, first)
    assert (d.status, d.attempts) == ("pending", 0)

    status, out, err = whp(run, "dlq", "redrive", str(first), "99999")
    assert status == 2
    assert out == "redrove 0 deliveries\n"
    assert f"{first}, 99999" in err

    status, out, _ = whp(run, "dlq", "redrive", "--destination", "orders")
    assert (status, out) == (0, "redrove 2 deliveries\n")
    assert {d.destination for d in q.dead(limit=100)} == {"audit"}

    status, out, _ = whp(run, "dlq", "redrive", "--all")
    assert (status, out) == (0, "redrove 2 deliveries\n")
    assert q.dead(limit=100) == []


def delivery(q: queue.DeliveryQueue, delivery_id: int) -> queue.Delivery:
    every = (d for eid in q.replay_filter(ports.EventFilter()) for d in q.deliveries_of(eid))
    return next(d for d in every if d.id == delivery_id)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dlq", "redrive"], "one of them"),
        (["dlq", "redrive", "1", "--all"], "one of them"),
        (["dlq", "redrive", "--all", "--destination", "orders"], "one of them"),
        (["dlq", "redrive", "--destination", "nope"], "destinations: audit, orders"),
    ],
)
def test_redrive_usage_errors(
    run: Whp, q: queue.DeliveryQueue, args: list[str], message: str
) -> None:
    status, _, err = whp(run, *args)
    assert status == 2
    assert message in err


# -- purge ----------------------------------------------------------------------------------


def test_purge_deletes_events_past_retention_with_their_deliveries(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    old = store(tmp_path / "whp.db", *(make_event(age_ms=10 * DAY_MS) for _ in range(3)))
    recent = store(tmp_path / "whp.db", make_event(age_ms=6 * DAY_MS), make_event())
    for eid in old + recent:
        q.route(eid, [PAYMENTS], now_ms())
    kill_all(q)

    status, out, _ = whp(run, "purge", "--older-than", "30")
    assert status == 0
    assert out.startswith("purged 0 events received before")

    status, out, _ = whp(run, "purge")
    assert status == 0
    assert out.startswith("purged 3 events received before")
    assert "older than 7 days" in out
    kept = q.replay_filter(ports.EventFilter())
    assert kept == recent
    assert all(q.deliveries_of(eid) == [] for eid in old)
    assert len(q.dead(limit=100)) == 2


def test_purge_in_batches(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp, monkeypatch: pytest.MonkeyPatch
) -> None:
    for eid in store(tmp_path / "whp.db", *(make_event(age_ms=9 * DAY_MS) for _ in range(5))):
        q.route(eid, [], now_ms())  # unrouted: nothing left to do
    calls: list[int] = []
    real = queue.DeliveryQueue.purge

    def in_twos(
        self: queue.DeliveryQueue,
        older_than_ms: int,
        after: queue.PurgePosition = queue.START,
        batch: int = 500,
    ) -> queue.Purged:
        done = real(self, older_than_ms, after, 2)
        calls.append(done.deleted)
        return done

    monkeypatch.setattr(queue.DeliveryQueue, "purge", in_twos)
    status, out, _ = whp(run, "purge")
    assert status == 0
    assert out.startswith("purged 5 events")
    assert calls == [2, 2, 1]  # batch after batch, until one says no older event is left


def test_purge_keeps_old_events_not_delivered_yet(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    """An acknowledged webhook is never lost to the retention: one whose destination has been
    paused past it, or that is not routed yet, stays until its work is done."""
    waiting, unrouted_yet = store(
        tmp_path / "whp.db", make_event(age_ms=9 * DAY_MS), make_event(age_ms=9 * DAY_MS)
    )
    q.route(waiting, [EVERYTHING], now_ms())  # to audit, which is paused
    status, out, _ = whp(run, "purge")
    assert status == 0
    assert out.splitlines() == [
        out.splitlines()[0],
        "kept 2 older events not delivered yet (a delivery pending, a paused destination's"
        " included, or not routed yet): purged once done",
    ]
    assert out.startswith("purged 0 events")
    assert q.replay_filter(ports.EventFilter()) == [waiting, unrouted_yet]
    assert [d.status for d in q.deliveries_of(waiting)] == ["pending"]


# -- destinations ---------------------------------------------------------------------------


def test_destinations_pause_resume_and_list(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp, dead: dict[str, list[int]]
) -> None:
    status, out, _ = whp(run, "destinations", "list")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        *("NAME", "URL", "PAUSED", "PENDING", "IN", "FLIGHT", "DEAD", "OLDEST", "PENDING")
    ]
    assert [r.split() for r in rows] == [
        ["orders", "http://127.0.0.1:9/orders", "no", "0", "0", "2", "-"],
        ["audit", "http://127.0.0.1:9/audit", "config", "0", "0", "3", "-"],
    ]

    status, out, _ = whp(run, "destinations", "pause", "orders")
    assert status == 0
    assert out.startswith("paused orders:")
    assert q.paused_destinations() == {"orders"}
    assert whp(run, "destinations", "pause", "orders")[1] == "orders is paused already\n"

    status, out, _ = whp(run, "destinations", "list", "--json")
    listed = {r["name"]: r for r in map(json.loads, out.splitlines())}
    assert (listed["orders"]["paused"], listed["orders"]["paused_by"]) == (True, ["runtime"])
    assert listed["audit"] == {
        "name": "audit",
        "url": "http://127.0.0.1:9/audit",
        "paused": True,
        "paused_by": ["config"],
        "pending": 0,
        "dead": 3,
        "in_flight": 0,
        "oldest_pending_seconds": None,
    }

    status, out, _ = whp(run, "destinations", "resume", "orders")
    assert (status, out) == (0, "resumed orders\n")
    assert q.paused_destinations() == set()

    whp(run, "destinations", "pause", "audit")
    status, out, err = whp(run, "destinations", "resume", "audit")
    assert status == 1
    assert out == "resumed audit\n"
    assert "audit stays paused" in err
    assert "destinations.audit.paused: true" in err


def test_destinations_pause_is_held_by_claim(tmp_path: Path, q: queue.DeliveryQueue) -> None:
    """What the worker does with the runtime state: claim() skips paused destinations."""
    (eid,) = store(tmp_path / "whp.db", make_event())
    q.route(eid, [PAYMENTS, EVERYTHING], now_ms())
    q.set_paused("orders", True, now_ms())
    q.set_paused("audit", True, now_ms())
    q.set_paused("audit", False, now_ms())
    assert q.paused_destinations() == {"orders"}
    claimed = q.claim(now_ms(), 30_000, 10, paused=q.paused_destinations())
    assert [c.destination for c in claimed] == ["audit"]


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_destinations_unknown_name_exits_2(run: Whp, action: str) -> None:
    status, _, err = whp(run, "destinations", action, "nope")
    assert status == 2
    assert "no destination named 'nope' (destinations: audit, orders)" in err


def test_destinations_list_without_a_store_shows_the_config(run: Whp) -> None:
    status, out, _ = whp(run, "destinations", "list")
    assert status == 0
    assert (
        out.splitlines()[2].split() == ["audit", "http://127.0.0.1:9/audit", "config"] + ["-"] * 4
    )


# -- events show / list ---------------------------------------------------------------------


def test_events_show_includes_deliveries_and_attempts(
    tmp_path: Path, q: queue.DeliveryQueue, run: Whp
) -> None:
    (eid,) = store(tmp_path / "whp.db", make_event())
    q.route(eid, [PAYMENTS, EVERYTHING], now_ms())
    kill_all(q)
    q.redrive(all=True, destination="audit", now_ms=now_ms())

    status, out, _ = whp(run, "events", "show", eid, "--json")
    assert status == 0
    shown = json.loads(out)
    assert shown["id"] == eid
    assert shown["body"] == f'{{"n": {int(eid[4:], 16)}}}'
    orders, audit = shown["deliveries"]
    assert orders["route"] == "payments"
    assert orders["destination"] == "orders"
    assert orders["webhook_id"] == eid
    assert (orders["status"], orders["next_attempt_at"]) == ("dead", None)
    first, second = orders["attempts"]
    assert first["attempt"] == 1
    assert first["status_code"] == 500
    assert first["excerpt"] == "oops"
    assert first["duration_ms"] == 40
    assert first["started_at"].endswith("Z")
    assert second == first | {
        "attempt": 2,
        "status_code": None,
        "error": "connection refused",
        "excerpt": None,
        "started_at": second["started_at"],
    }
    assert audit["status"] == "pending"
    assert audit["next_attempt_at"].endswith("Z")
    assert len(audit["attempts"]) == 2  # attempts before the redrive are kept

    status, out, _ = whp(run, "events", "show", eid)
    assert json.loads(out) == shown
    assert len(out.splitlines()) > 10  # indented, for people


def test_events_list_pages_with_a_cursor(tmp_path: Path, q: queue.DeliveryQueue, run: Whp) -> None:
    made = store(tmp_path / "whp.db", *(make_event() for _ in range(5)))
    q.route(made[0], [], now_ms())
    status, out, err = whp(run, "events", "list", "--limit", "3")
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "RECEIVED", "STATUS", "SOURCE", "TYPE", "IDEMPOTENCY", "KEY"]
    assert [r.split()[0] for r in rows] == made[:1:-1]
    cursor = err.split("--cursor ")[1].rstrip(")\n")
    assert err.startswith("(the newest 3; more with --cursor")
    status, out, err = whp(run, "events", "list", "--limit", "3", "--cursor", cursor, "--json")
    assert [json.loads(line)["id"] for line in out.splitlines()] == made[1::-1]
    assert (status, err) == (0, "")
    unrouted = json.loads(out.splitlines()[-1])
    assert unrouted == {
        "id": made[0],
        "source": "stripe",
        "event_type": "charge.succeeded",
        "idempotency_key": None,
        "status": "unrouted",
        "received_at": unrouted["received_at"],
    }
    status, _, err = whp(run, "events", "list", "--cursor", "garbage")
    assert status == 2
    assert err.startswith("whp: --cursor 'garbage' is not a cursor whp gave")
    with pytest.raises(SystemExit) as refused:  # argparse refuses it
        whp(run, "events", "list", "--limit", "501")
    assert refused.value.code == 2


def test_events_list_shows_control_characters_escaped(tmp_path: Path, run: Whp) -> None:
    """Event types and keys come from senders: a terminal escape sequence or a line break in one
    must not reach the operator's terminal as such."""
    made = dataclasses.replace(
        make_event(), event_type="push\x1b]0;owned\x07", idempotency_key="k\r\nforged row"
    )
    (event_id,) = store(tmp_path / "whp.db", made)
    status, out, _ = whp(run, "events", "list")
    assert status == 0
    assert not any(c in out for c in "\x1b\x07\r")
    [row] = out.splitlines()[1:]
    assert row.startswith(event_id)
    assert "push\\x1b]0;owned\\x07" in row
    assert "k\\r\\nforged row" in row


# -- progress and tables ---------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_on_a_terminal_only() -> None:
    term = Terminal()
    with cli_show.progress("replaying", 5000, term) as advance:
        advance(1200)
        advance(3800)
    drawn = term.getvalue()
    assert "replaying" in drawn
    assert "5000/5000" in drawn

    counter = Terminal()
    with cli_show.progress("purging", None, counter) as advance:
        advance(500)
    assert "purging 500" in counter.getvalue()

    piped = io.StringIO()
    with cli_show.progress("replaying", 10, piped) as advance:
        advance(10)
    assert piped.getvalue() == ""


def test_tables_fit_a_terminal_and_never_cut_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    term = Terminal()
    event_id = "evt_" + "0" * 32
    long_type = "pull_request.review_comment.created.and.then.some.more"
    cli_show.table(["ID", "TYPE"], [[event_id, long_type]], "(none)", stream=term)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in term.getvalue().splitlines()]
    assert max(len(line) for line in lines) <= 60
    [row] = lines[1:]  # one line a row
    assert row.startswith(event_id + "  pull_request.")
    assert row.endswith("\u2026")  # the type is cut, the id is not

    piped = io.StringIO()
    cli_show.table(["ID", "TYPE"], [[event_id, long_type]], "(none)", stream=piped)
    assert piped.getvalue().splitlines()[1] == f"{event_id}  {long_type}"
