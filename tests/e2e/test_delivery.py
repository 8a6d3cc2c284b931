"""Delivery, end to end: a real `whp serve` routes the webhooks it stores to a real receiver on
127.0.0.1 (receiver.py), which checks every request with the official Standard Webhooks library.
Retries, the dead-letter queue, redrive, replay, pauses, fan-out, Retry-After, unrouted events and
a SIGTERM under way, each as the receiver and the operator's `whp` commands see them.

Retry intervals are tiny (50-200 ms) so that whole retry sequences take a second or two.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .helpers import WHP, Server, child_env, describe, github_headers, run_whp, start_server
from .receiver import Arrival, Receiver, Reply, new_signing_secret, wait_for

pytestmark = pytest.mark.e2e

GH_SECRET = "dlv-e2e-" + secrets.token_hex(16)
SIGNING_SECRET = new_signing_secret()
OTHER_SIGNING_SECRET = new_signing_secret()
ENV = {
    "DLV_GH_SECRET": GH_SECRET,
    "DLV_SIGNING_SECRET": SIGNING_SECRET,
    "DLV_OTHER_SIGNING_SECRET": OTHER_SIGNING_SECRET,
}
FAST_RETRY: dict[str, float] = {
    "max_attempts": 5,
    "initial_interval_seconds": 0.05,
    "multiplier": 2,
    "max_interval_seconds": 0.2,
}
ARRIVAL_TIMEOUT = 15.0  # seconds: generous, for a slow 2-core machine
QUIET_SECONDS = 1.5  # how long "nothing arrives" is watched for
ALL_GITHUB = {"source": ["github"]}


# --- the deployment under test ---------------------------------------------------------------


def destination(url: str, **overrides: Any) -> dict[str, Any]:
    """A destination signed with SIGNING_SECRET, with fast retries."""
    spec: dict[str, Any] = {
        "url": url,
        "signing_secret": "env:DLV_SIGNING_SECRET",
        "timeout_seconds": 5,
        "retry": dict(FAST_RETRY),
    }
    spec.update(overrides)
    return spec


def route(name: str, to: str, pattern: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "destination": to, "pattern": pattern or ALL_GITHUB}


@dataclass
class Whp:
    """A config on disk, its `whp serve` (while one runs), and the operator's commands."""

    config: Path
    servers: list[Server] = field(default_factory=list)

    @property
    def server(self) -> Server:
        assert self.servers, "whp serve was not started"
        return self.servers[-1]

    def start(self) -> Server:
        self.servers.append(start_server(self.config, ENV))
        return self.server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_whp([*args, "--config", str(self.config)], env=ENV, cwd=self.config.parent)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, describe(result) + self.logs()
        return result.stdout

    def show(self, event_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.ok("events", "show", event_id, "--json"))
        return shown

    def deliveries(self, event_id: str) -> list[dict[str, Any]]:
        shown = self.show(event_id)
        assert isinstance(shown.get("deliveries"), list), shown
        found: list[dict[str, Any]] = shown["deliveries"]
        return found

    def wait_settled(self, event_id: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
        """Wait until the event has `count` deliveries, none of them pending; return them."""
        last: list[dict[str, Any]] = []

        def settled() -> bool:
            nonlocal last
            last = self.deliveries(event_id)
            return len(last) == count and all(d["status"] != "pending" for d in last)

        try:
            wait_for(settled, timeout, interval=0.2)
        except AssertionError:
            raise AssertionError(
                f"{event_id}: {count} settled deliveries expected; got {last}{self.logs()}"
            ) from None
        return last

    def dead_letters(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ok("dlq", "list", "--json").splitlines()]

    def logs(self) -> str:
        return "".join(f"\nwhp serve stderr:\n{s.stderr()[-4000:]}" for s in self.servers)


Deploy = Callable[..., Whp]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(SIGNING_SECRET) as running:
        yield running


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[Deploy]:
    """deploy(destinations, routes, start=True): write whp.yaml (github source, these
    destinations and routes) and start `whp serve` on it; every server is stopped afterwards.
    Request `receiver` before this fixture, so that whp stops before the receiver does."""
    made: list[Whp] = []

    def make(
        destinations: dict[str, dict[str, Any]],
        routes: list[dict[str, Any]],
        *,
        start: bool = True,
    ) -> Whp:
        folder = tmp_path / f"whp-{len(made)}"
        folder.mkdir()
        config = folder / "whp.yaml"
        document = {
            "storage": {"path": "whp.db"},
            "sources": {"github": {"verify": "github", "secret": "env:DLV_GH_SECRET"}},
            "destinations": destinations,
            "routes": routes,
        }
        config.write_text(yaml.safe_dump(document, sort_keys=False))
        whp = Whp(config)
        made.append(whp)
        if start:
            whp.start()
        return whp

    yield make
    for whp in made:
        whp.stop()


def send(
    server: Server, body: bytes | None = None, *, event: str = "push", content_type: str = ""
) -> str:
    """POST a signed GitHub webhook; assert 202; the event id."""
    body = body if body is not None else json.dumps({"delivery_test": uuid.uuid4().hex}).encode()
    headers = github_headers(
        GH_SECRET, body, event=event, content_type=content_type or "application/json"
    )
    with httpx.Client(timeout=30.0) as client:
        response = client.post(server.webhook("github"), content=body, headers=headers)
    assert response.status_code == 202, response.text
    event_id: str = response.json()["id"]
    return event_id


def assert_quiet(receiver: Receiver, path: str, count: int, seconds: float = QUIET_SECONDS) -> None:
    """Nothing more than `count` requests arrive at `path` for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = receiver.arrivals(path)
        assert len(got) <= count, f"unexpected arrivals at {path}:\n{receiver.describe(path)}"
        time.sleep(0.05)


def attempts_of(arrivals: list[Arrival]) -> list[int]:
    return [a.attempt for a in arrivals]


def assert_all_verified(receiver: Receiver) -> None:
    bad = receiver.unverified()
    assert not bad, f"deliveries that standardwebhooks rejected:\n{receiver.describe()}"


# --- 1. success ------------------------------------------------------------------------------


def test_delivered_once_signed_with_the_original_body(receiver: Receiver, deploy: Deploy) -> None:
    whp = deploy({"hooks": destination(receiver.url("/hooks"))}, [route("all", "hooks")])
    # Not compact JSON, non-ASCII, and a content type with a parameter: all must arrive as sent.
    body = '{ "ref": "refs/heads/main",\n  "pusher": {"name": "Zoë"} }\n'.encode()
    content_type = "application/json; charset=utf-8"
    event_id = send(whp.server, body, content_type=content_type)

    (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks")
    assert arrival.verified, arrival.error
    assert arrival.body == body
    assert arrival.headers["content-type"] == content_type
    assert arrival.webhook_id == event_id
    assert arrival.headers["whp-source"] == "github"
    assert arrival.headers["whp-event-type"] == "push"
    assert arrival.headers["whp-attempt"] == "1"
    assert abs(int(arrival.headers["webhook-timestamp"]) - time.time()) < 60

    (shown,) = whp.wait_settled(event_id)
    assert shown["status"] == "delivered", shown
    assert shown["destination"] == "hooks"
    assert shown["webhook_id"] == event_id
    assert [a["status_code"] for a in shown["attempts"]] == [200], shown
    assert_quiet(receiver, "/hooks", 1, seconds=0.5)  # and it is not sent again


# --- 2. retries then success -----------------------------------------------------------------


def test_failed_attempts_are_retried_with_the_same_webhook_id(
    receiver: Receiver, deploy: Deploy
) -> None:
    receiver.script("/flaky", Reply(500), Reply(500), Reply(200))
    whp = deploy({"flaky": destination(receiver.url("/flaky"))}, [route("all", "flaky")])
    event_id = send(whp.server)

    got = receiver.wait_for_arrivals(3, ARRIVAL_TIMEOUT, path="/flaky")
    assert attempts_of(got) == [1, 2, 3], receiver.describe()
    assert {a.webhook_id for a in got} == {event_id}
    assert [a.answered for a in got] == [500, 500, 200]
    assert_all_verified(receiver)

    (shown,) = whp.wait_settled(event_id)
    assert shown["status"] == "delivered", shown
    assert [a["status_code"] for a in shown["attempts"]] == [500, 500, 200], shown
    assert_quiet(receiver, "/flaky", 3, seconds=0.5)


# --- 3. dead after max_attempts, then redriven ------------------------------------------------


def test_dead_after_max_attempts_then_redriven(receiver: Receiver, deploy: Deploy) -> None:
    receiver.script("/down", Reply(500))
    retry = FAST_RETRY | {"max_attempts": 3}
    whp = deploy({"down": destination(receiver.url("/down"), retry=retry)}, [route("all", "down")])
    event_id = send(whp.server)

    got = receiver.wait_for_arrivals(3, ARRIVAL_TIMEOUT, path="/down")
    (shown,) = whp.wait_settled(event_id)
    assert (shown["status"], len(shown["attempts"])) == ("dead", 3), shown
    assert_quiet(receiver, "/down", 3)  # max_attempts counts every attempt: no fourth
    assert attempts_of(got) == [1, 2, 3]
    assert {a.webhook_id for a in got} == {event_id}

    dead = [d for d in whp.dead_letters() if d["event_id"] == event_id]
    assert len(dead) == 1, whp.dead_letters()
    assert (dead[0]["destination"], dead[0]["attempts"]) == ("down", 3), dead
    assert dead[0]["last_status_code"] == 500, dead

    receiver.script("/down", Reply(200))  # the receiver is fixed
    redriven = whp.ok("dlq", "redrive", "--all")
    assert "1" in redriven, redriven
    got = receiver.wait_for_arrivals(4, ARRIVAL_TIMEOUT, path="/down")
    assert got[3].webhook_id == event_id  # receivers can still dedupe
    assert got[3].attempt == 1  # a redrive starts the attempts again
    assert got[3].answered == 200
    assert_all_verified(receiver)
    (shown,) = whp.wait_settled(event_id)
    assert shown["status"] == "delivered", shown
    assert [a["attempt"] for a in shown["attempts"]] == [1, 2, 3, 1], shown  # all kept
    assert not [d for d in whp.dead_letters() if d["event_id"] == event_id]


# --- 4. replay -------------------------------------------------------------------------------


def test_replay_keeps_the_webhook_id_unless_new_id(receiver: Receiver, deploy: Deploy) -> None:
    whp = deploy({"hooks": destination(receiver.url("/hooks"))}, [route("all", "hooks")])
    event_id = send(whp.server)
    receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks")
    whp.wait_settled(event_id)

    whp.ok("replay", event_id)
    got = receiver.wait_for_arrivals(2, ARRIVAL_TIMEOUT, path="/hooks")
    assert got[1].webhook_id == event_id, receiver.describe()
    assert got[1].attempt == 1
    assert got[1].body == got[0].body
    whp.wait_settled(event_id, count=2)

    whp.ok("replay", event_id, "--new-id")
    got = receiver.wait_for_arrivals(3, ARRIVAL_TIMEOUT, path="/hooks")
    fresh = got[2].webhook_id
    assert fresh, receiver.describe()
    assert fresh != event_id, "--new-id kept the old webhook-id"
    assert got[2].body == got[0].body
    assert got[2].headers["whp-source"] == "github"
    assert_all_verified(receiver)
    deliveries = whp.wait_settled(event_id, count=3)
    assert [d["webhook_id"] for d in deliveries] == [event_id, event_id, fresh], deliveries
    assert all(d["status"] == "delivered" for d in deliveries), deliveries
    assert_quiet(receiver, "/hooks", 3, seconds=0.5)


# --- 5. pause / resume -----------------------------------------------------------------------


def test_pause_holds_deliveries_until_resume(receiver: Receiver, deploy: Deploy) -> None:
    whp = deploy({"hooks": destination(receiver.url("/hooks"))}, [route("all", "hooks")])
    whp.ok("destinations", "pause", "hooks")
    event_id = send(whp.server)
    assert_quiet(receiver, "/hooks", 0)
    (held,) = whp.deliveries(event_id)
    assert (held["status"], len(held["attempts"])) == ("pending", 0), held

    whp.ok("destinations", "resume", "hooks")
    (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks")
    assert arrival.webhook_id == event_id
    assert arrival.attempt == 1
    assert arrival.verified, arrival.error
    (shown,) = whp.wait_settled(event_id)
    assert shown["status"] == "delivered", shown


def test_paused_in_config_holds_deliveries(receiver: Receiver, deploy: Deploy) -> None:
    held = destination(receiver.url("/held"), paused=True)
    whp = deploy({"held": held}, [route("all", "held")])
    event_id = send(whp.server)
    assert_quiet(receiver, "/held", 0)
    (pending,) = whp.deliveries(event_id)
    assert (pending["status"], len(pending["attempts"])) == ("pending", 0), pending

    # The operator lifts the pause in the config and restarts: the held delivery goes out.
    whp.server.stop()
    document = yaml.safe_load(whp.config.read_text())
    document["destinations"]["held"]["paused"] = False
    whp.config.write_text(yaml.safe_dump(document, sort_keys=False))
    whp.start()
    (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/held")
    assert arrival.webhook_id == event_id
    assert arrival.verified, arrival.error
    (shown,) = whp.wait_settled(event_id)
    assert shown["status"] == "delivered", shown


# --- 6. fan-out ------------------------------------------------------------------------------


def test_fan_out_one_destination_failing_does_not_resend_to_the_other(
    receiver: Receiver, deploy: Deploy
) -> None:
    receiver.script("/bad", Reply(503))
    retry = FAST_RETRY | {"max_attempts": 3}
    whp = deploy(
        {
            "good": destination(receiver.url("/good"), retry=retry),
            "bad": destination(receiver.url("/bad"), retry=retry),
        },
        [route("to-good", "good"), route("to-bad", "bad")],
    )
    event_id = send(whp.server)

    receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/good")
    bad = receiver.wait_for_arrivals(3, ARRIVAL_TIMEOUT, path="/bad")
    deliveries = {d["destination"]: d for d in whp.wait_settled(event_id, count=2)}
    assert (deliveries["good"]["status"], len(deliveries["good"]["attempts"])) == ("delivered", 1)
    assert (deliveries["bad"]["status"], len(deliveries["bad"]["attempts"])) == ("dead", 3)
    assert deliveries["good"]["route"] == "to-good"
    assert deliveries["bad"]["route"] == "to-bad"
    assert_quiet(receiver, "/bad", 3)
    good = receiver.arrivals("/good")
    assert len(good) == 1, f"the good destination got it again:\n{receiver.describe()}"
    assert good[0].webhook_id == event_id
    assert attempts_of(bad) == [1, 2, 3]
    assert {a.webhook_id for a in bad} == {event_id}
    assert_all_verified(receiver)
    assert [d["destination"] for d in whp.dead_letters() if d["event_id"] == event_id] == ["bad"]


def test_each_destination_signs_with_its_own_secret(deploy: Deploy) -> None:
    with Receiver(SIGNING_SECRET, secrets={"/other": OTHER_SIGNING_SECRET}) as receiver:
        other = destination(receiver.url("/other"), signing_secret="env:DLV_OTHER_SIGNING_SECRET")
        whp = deploy(
            {"main": destination(receiver.url("/main")), "other": other},
            [route("to-main", "main"), route("to-other", "other")],
        )
        try:
            event_id = send(whp.server)
            receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/main")
            receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/other")
            assert_all_verified(receiver)
            assert receiver.seen_ids() == {event_id}
        finally:
            whp.stop()


# --- 7. Retry-After --------------------------------------------------------------------------


def test_retry_after_is_honoured(receiver: Receiver, deploy: Deploy) -> None:
    receiver.script("/busy", Reply(429, retry_after="1"), Reply(200))
    # Without the Retry-After the second attempt would follow within 50 ms (plus a poll).
    retry = {
        "max_attempts": 5,
        "initial_interval_seconds": 0.05,
        "multiplier": 1,
        "max_interval_seconds": 5,
    }
    whp = deploy({"busy": destination(receiver.url("/busy"), retry=retry)}, [route("all", "busy")])
    event_id = send(whp.server)

    first, second = receiver.wait_for_arrivals(2, ARRIVAL_TIMEOUT, path="/busy")
    gap = second.time - first.time
    assert gap >= 0.95, f"the retry came {gap:.3f} s after a 429 with Retry-After: 1"
    assert gap < 5, f"the retry came {gap:.3f} s after a 429 with Retry-After: 1"
    assert attempts_of([first, second]) == [1, 2]
    (shown,) = whp.wait_settled(event_id)
    assert (shown["status"], len(shown["attempts"])) == ("delivered", 2), shown


def test_retry_after_is_capped_at_max_interval(receiver: Receiver, deploy: Deploy) -> None:
    receiver.script("/busy", Reply(503, retry_after="3600"), Reply(200))
    retry = {
        "max_attempts": 5,
        "initial_interval_seconds": 0.05,
        "multiplier": 1,
        "max_interval_seconds": 0.5,
    }
    whp = deploy({"busy": destination(receiver.url("/busy"), retry=retry)}, [route("all", "busy")])
    event_id = send(whp.server)

    first, second = receiver.wait_for_arrivals(2, ARRIVAL_TIMEOUT, path="/busy")
    gap = second.time - first.time
    assert gap >= 0.45, f"the retry came {gap:.3f} s after a 503: Retry-After ignored"
    assert gap < 5, f"the retry came {gap:.3f} s after Retry-After: 3600 (max_interval 0.5 s)"
    (shown,) = whp.wait_settled(event_id)
    assert (shown["status"], len(shown["attempts"])) == ("delivered", 2), shown


# --- 8. unrouted -----------------------------------------------------------------------------


def test_event_matching_no_route_is_unrouted_and_not_delivered(
    receiver: Receiver, deploy: Deploy
) -> None:
    pushes = {"source": ["github"], "detail-type": ["push"]}
    whp = deploy({"hooks": destination(receiver.url("/hooks"))}, [route("pushes", "hooks", pushes)])
    unrouted_id = send(whp.server, event="issues")
    routed_id = send(whp.server, event="push")  # sent after it, so it proves the worker ran

    (arrival,) = receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/hooks")
    assert arrival.webhook_id == routed_id

    def status() -> str:
        found: str = whp.show(unrouted_id)["status"]
        return found

    wait_for(lambda: status() != "pending", 10, interval=0.2, what="the event to be routed")
    shown = whp.show(unrouted_id)
    assert (shown["status"], shown["deliveries"]) == ("unrouted", []), shown
    listed = [json.loads(line) for line in whp.ok("events", "list", "--json").splitlines()]
    by_id = {e["id"]: e["status"] for e in listed}
    assert by_id[unrouted_id] == "unrouted", listed
    assert by_id[routed_id] == "routed", listed
    only = whp.ok("events", "list", "--status", "unrouted", "--json").splitlines()
    assert [json.loads(line)["id"] for line in only] == [unrouted_id]
    assert_quiet(receiver, "/hooks", 1, seconds=0.5)
    assert unrouted_id not in receiver.seen_ids()


# --- 9. SIGTERM while deliveries are in flight -----------------------------------------------


def test_sigterm_with_deliveries_in_flight(receiver: Receiver, deploy: Deploy) -> None:
    receiver.script("/slow", Reply(200, sleep=1.0))
    # Two in flight at once; the other two wait their turn in the queue.
    slow = destination(receiver.url("/slow"), max_concurrency=2)
    whp = deploy({"slow": slow}, [route("all", "slow")])
    event_ids = [send(whp.server) for _ in range(4)]
    in_flight = receiver.wait_for_arrivals(2, ARRIVAL_TIMEOUT, path="/slow")

    server = whp.server
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError(f"whp serve ignored SIGTERM for 15 s{whp.logs()}") from None
    took = time.monotonic() - started
    # A clean stop: exit 0, or death by the SIGTERM uvicorn re-raises after its shutdown.
    assert server.process.returncode in (0, -signal.SIGTERM), whp.logs()
    assert took < 12, f"whp serve took {took:.1f} s to stop{whp.logs()}"

    whp.start()
    for event_id in event_ids:
        receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/slow", webhook_id=event_id)
    for event_id in event_ids:
        (shown,) = whp.wait_settled(event_id)
        assert shown["status"] == "delivered", shown
    assert_all_verified(receiver)
    # The attempts under way at the SIGTERM finished within the grace period and were recorded,
    # so the restarted server did not send them again.
    for arrival in in_flight:
        again = receiver.arrivals("/slow", arrival.webhook_id)
        assert len(again) == 1, f"{arrival.webhook_id} was sent again:\n{receiver.describe()}"


# --- 10. whp worker beside whp serve ---------------------------------------------------------


def test_whp_worker_beside_whp_serve_delivers_each_once_within_the_rate_limit(
    receiver: Receiver, deploy: Deploy
) -> None:
    # 10/s with a burst of 1: 20 webhooks take at least 19 x 0.1 s to arrive, whichever process
    # delivers them. (That the two keep one rate between them is shown on the store itself, in
    # tests/integration/test_sqlite_queue.py: here whp serve, woken by each webhook, books the
    # sends before the worker's next poll.)
    limited = destination(receiver.url("/limited"), rate_limit={"per_second": 10, "burst": 1})
    whp = deploy({"limited": limited}, [route("all", "limited")])
    log = whp.config.parent / "worker.stderr.log"
    with log.open("wb") as err:
        worker = subprocess.Popen(
            [*WHP, "worker", "--config", str(whp.config)],
            cwd=whp.config.parent,
            env=child_env(ENV),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: b"whp worker running" in log.read_bytes(), 15, what="whp worker to start")
        event_ids = [send(whp.server) for _ in range(20)]
        arrivals = receiver.wait_for_arrivals(20, ARRIVAL_TIMEOUT, path="/limited")
        assert_quiet(receiver, "/limited", 20)
        assert sorted(a.webhook_id for a in arrivals) == sorted(event_ids)  # each exactly once
        span = arrivals[-1].time - arrivals[0].time
        assert span >= 19 * 0.1 - 0.05, f"20 deliveries in {span:.2f} s: over 10/s"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=15)
    assert "ERROR" not in log.read_text(), log.read_text()
