"""The admin API (the README, "The admin API") in process over a real SQLite store: every filter,
paging, detail, replay, the DLQ and its redrive, destinations, stats."""

from __future__ import annotations

import base64

from webhook_processor import models, services

from .adminapi import AUTH, Admin, api, now_ms, recent

__all__ = ["api"]  # the fixture

PAYMENTS = ("payments", "orders")
AUDIT = ("everything", "audit")


# -- events ---------------------------------------------------------------------------------


def ids(listing: dict[str, object]) -> list[str]:
    data = listing["data"]
    assert isinstance(data, list)
    return [item["id"] for item in data]


def test_each_filter_selects_its_events(api: Admin) -> None:
    t = now_ms()
    old, stripe, github, keyed, dead = api.events(
        recent(received_ms=t - 3 * 3_600_000),
        recent(event_type="payment_intent.succeeded"),
        recent(source="github", event_type="push"),
        recent(source="github", event_type="push", key="delivery-42"),
        recent(),
    )
    api.store.route(stripe.id, [PAYMENTS], at=t)
    api.store.route(github.id, [], at=t)
    api.store.route(dead.id, [PAYMENTS, AUDIT], at=t)
    api.kill(dead, "payments")
    newest_first = [dead.id, keyed.id, github.id, stripe.id, old.id]

    assert ids(api.get("/api/events")) == newest_first
    assert ids(api.get("/api/events", source="github")) == [keyed.id, github.id]
    assert ids(api.get("/api/events", type="push")) == [keyed.id, github.id]
    assert ids(api.get("/api/events", type="payment_intent.succeeded")) == [stripe.id]
    assert ids(api.get("/api/events", key="delivery-42")) == [keyed.id]
    assert ids(api.get("/api/events", status="pending")) == [keyed.id, old.id]
    assert ids(api.get("/api/events", status="routed")) == [dead.id, stripe.id]
    assert ids(api.get("/api/events", status="unrouted")) == [github.id]
    assert ids(api.get("/api/events", status="dead")) == [dead.id]
    assert ids(api.get("/api/events", since="2h")) == newest_first[:4]
    assert ids(api.get("/api/events", until="2h")) == [old.id]
    edge = models.rfc3339(stripe.received_ms)
    assert ids(api.get("/api/events", since=edge, source="stripe")) == [dead.id, stripe.id]
    assert ids(api.get("/api/events", until=edge)) == [old.id]  # until excludes its instant
    assert ids(api.get("/api/events", source="github", key="nope")) == []

    [item] = api.get("/api/events", key="delivery-42")["data"]
    assert item == {
        "id": keyed.id,
        "source": "github",
        "event_type": "push",
        "idempotency_key": "delivery-42",
        "status": "pending",
        "received_at": models.rfc3339(keyed.received_ms),
    }
    assert item["received_at"].endswith("Z")


def test_paging_to_the_end_gives_every_event_once_newest_first(api: Admin) -> None:
    made = api.events(*(recent() for _ in range(12)))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.get("/api/events", **params)
        seen += ids(page)
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [e.id for e in reversed(made)]
    assert pages == 3
    assert len(api.get("/api/events")["data"]) == 12  # the default limit is 50
    assert api.get("/api/events", limit=500)["next"] is None


def test_event_detail_has_headers_body_deliveries_and_attempts(api: Admin) -> None:
    (e,) = api.events(recent(), routes=[PAYMENTS, AUDIT])
    api.store.attempt(e.id, "payments", 500, "HTTP 500", dead=False, at=now_ms())
    api.store.attempt(e.id, "payments", 200, None, dead=False, at=now_ms())
    shown = api.get(f"/api/events/{e.id}")
    assert shown["id"] == e.id
    assert shown["headers"] == e.headers
    assert shown["body"] == e.body.decode()
    assert "body_base64" not in shown
    assert shown["content_type"] == "application/json"
    payments, audit = shown["deliveries"]
    assert (payments["route"], payments["destination"]) == PAYMENTS
    assert payments["webhook_id"] == e.id
    assert payments["status"] == "delivered"
    assert payments["next_attempt_at"] is None
    first, second = payments["attempts"]
    assert first == {
        "attempt": 1,
        "started_at": first["started_at"],
        "duration_ms": 12,
        "status_code": 500,
        "error": "HTTP 500",
        "excerpt": "nope",
    }
    assert first["started_at"].endswith("Z")
    assert (second["attempt"], second["status_code"], second["error"]) == (2, 200, None)
    assert (audit["status"], audit["attempts"]) == ("pending", [])
    assert audit["next_attempt_at"].endswith("Z")


def test_a_body_that_is_not_utf8_comes_as_base64(api: Admin) -> None:
    raw = b"\xff\xfe binary \x00"
    (e,) = api.events(models.Event("evt_" + "b" * 32, "stripe", "x", None, now_ms(), None, {}, raw))
    shown = api.get(f"/api/events/{e.id}")
    assert "body" not in shown
    assert base64.b64decode(shown["body_base64"]) == raw
    assert shown["content_type"] is None


def test_an_unknown_event_is_404(api: Admin) -> None:
    for method, path in [("GET", "/api/events/evt_nope"), ("POST", "/api/events/evt_nope/replay")]:
        answer = api.http.request(method, path, headers=AUTH)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "not_found"
        assert "evt_nope" in answer.json()["detail"]


# -- replay ---------------------------------------------------------------------------------


def statuses(api: Admin) -> dict[str, str]:
    return {item["id"]: item["status"] for item in api.get("/api/events", limit=500)["data"]}


def test_replay_one_event_keeps_its_webhook_id_unless_new_id(api: Admin) -> None:
    (e,) = api.events(recent(), routes=[PAYMENTS])
    assert api.post(f"/api/events/{e.id}/replay", status=202) == {"replayed": 1}
    assert statuses(api)[e.id] == "pending"
    api.store.route(e.id, [PAYMENTS], at=now_ms())
    assert api.post(f"/api/events/{e.id}/replay", {"new_id": True}, status=202) == {"replayed": 1}
    api.store.route(e.id, [PAYMENTS], at=now_ms())
    webhook_ids = [d["webhook_id"] for d in api.get(f"/api/events/{e.id}")["deliveries"]]
    assert webhook_ids[:2] == [e.id, e.id]
    assert webhook_ids[2].startswith("msg_")


def test_bulk_replay_by_filter_dry_run_and_all(api: Admin) -> None:
    made = api.events(
        recent(), recent(), recent(source="github", event_type="push"), routes=[PAYMENTS]
    )
    assert api.post("/api/replay", {"source": "stripe", "dry_run": True}) == {"matched": 2}
    assert set(statuses(api).values()) == {"routed"}
    assert api.post("/api/replay", {"source": "stripe"}, status=202) == {"replayed": 2}
    assert statuses(api) == {made[0].id: "pending", made[1].id: "pending", made[2].id: "routed"}

    refused = api.http.post("/api/replay", json={}, headers=AUTH)
    assert refused.status_code == 400
    assert "all" in refused.json()["detail"]
    assert api.http.post("/api/replay", json={"all": False}, headers=AUTH).status_code == 400
    assert api.post("/api/replay", {"all": True, "dry_run": True}) == {"matched": 3}
    assert api.post("/api/replay", {"all": True}, status=202) == {"replayed": 3}
    assert api.post("/api/replay", {"source": "nobody"}, status=202) == {"replayed": 0}


# -- the dead-letter queue ------------------------------------------------------------------


def test_dlq_lists_dead_deliveries_newest_first_by_destination_and_pages(api: Admin) -> None:
    made = api.events(recent(), recent(), recent(), routes=[PAYMENTS, AUDIT])
    for e in made:
        api.kill(e, "payments")
    api.kill(made[0], "everything")
    everything = api.get("/api/dlq")
    delivery_ids = [int(d["delivery_id"]) for d in everything["data"]]
    assert delivery_ids == sorted(delivery_ids, reverse=True)  # newest first
    assert sorted(d["destination"] for d in everything["data"]) == ["audit"] + ["orders"] * 3
    orders = api.get("/api/dlq", destination="orders")["data"]
    assert [d["event_id"] for d in orders] == [e.id for e in reversed(made)]
    first = orders[0]
    assert first == {
        "delivery_id": first["delivery_id"],
        "event_id": made[2].id,
        "route": "payments",
        "destination": "orders",
        "attempts": 1,
        "last_status_code": 500,
        "last_error": "HTTP 500",
        "dead_at": first["dead_at"],
    }
    assert isinstance(first["delivery_id"], str)
    assert first["dead_at"].endswith("Z")

    page = api.get("/api/dlq", limit=3)
    rest = api.get("/api/dlq", limit=3, cursor=page["next"])
    assert rest["next"] is None
    every = [d["delivery_id"] for d in page["data"] + rest["data"]]
    assert sorted(every) == sorted(d["delivery_id"] for d in everything["data"])
    assert len(set(every)) == 4


def test_redrive_by_ids_destination_and_all(api: Admin) -> None:
    made = api.events(recent(), recent(), routes=[PAYMENTS, AUDIT])
    for e in made:
        api.kill(e, "payments")
        api.kill(e, "everything")
    dead = {d["delivery_id"]: d for d in api.get("/api/dlq")["data"]}
    one = next(i for i, d in dead.items() if d["destination"] == "audit")
    # an id the store could not have made is named, and nothing of that request is redriven
    assert api.post("/api/dlq/redrive", {"ids": [one, "not-a-number"]}, status=400) == {
        "error": "invalid_request",
        "detail": "'not-a-number' is not a delivery id of the SQLite store (a whole number)",
    }
    assert api.post("/api/dlq/redrive", {"ids": [one, "99999"]}) == {"redriven": 1}
    assert api.post("/api/dlq/redrive", {"ids": [one]}) == {"redriven": 0}  # no longer dead
    assert api.post("/api/dlq/redrive", {"destination": "orders"}) == {"redriven": 2}
    assert [d["destination"] for d in api.get("/api/dlq")["data"]] == ["audit"]
    assert api.post("/api/dlq/redrive", {"all": True}) == {"redriven": 1}
    assert api.get("/api/dlq")["data"] == []
    shown = api.get(f"/api/events/{made[0].id}")["deliveries"]
    assert {d["status"] for d in shown} == {"pending"}


def test_a_destination_the_config_has_not_is_a_400_in_a_query_or_body(api: Admin) -> None:
    for answer in (
        api.http.get("/api/dlq", params={"destination": "nope"}, headers=AUTH),
        api.http.post("/api/dlq/redrive", json={"destination": "nope"}, headers=AUTH),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json() == {
            "error": "invalid_request",
            "detail": "no destination named 'nope' (destinations: audit, orders)",
        }


# -- destinations ---------------------------------------------------------------------------


def test_destinations_with_their_health_pause_and_resume(api: Admin) -> None:
    made = api.events(recent(), recent(), routes=[PAYMENTS])
    api.kill(made[0], "payments")
    listing = api.get("/api/destinations")
    assert listing["next"] is None
    orders, audit = listing["data"]
    assert orders == {
        "name": "orders",
        "url": "http://127.0.0.1:9/orders",
        "paused": False,
        "paused_by": [],
        "pending": 1,
        "dead": 1,
        "in_flight": 0,
        "oldest_pending_seconds": orders["oldest_pending_seconds"],
    }
    assert 0 <= orders["oldest_pending_seconds"] < 600
    assert (audit["paused"], audit["paused_by"], audit["pending"]) == (True, ["config"], 0)
    assert audit["oldest_pending_seconds"] is None

    paused = api.post("/api/destinations/orders/pause")
    assert (paused["name"], paused["paused"], paused["paused_by"]) == ("orders", True, ["runtime"])
    assert api.get("/api/destinations")["data"][0]["paused"] is True
    resumed = api.post("/api/destinations/orders/resume")
    assert (resumed["paused"], resumed["paused_by"]) == (False, [])

    api.post("/api/destinations/audit/pause")
    held = api.post("/api/destinations/audit/resume")  # its config still pauses it
    assert (held["paused"], held["paused_by"]) == (True, ["config"])

    unknown = api.http.post("/api/destinations/nope/pause", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"
    assert "destinations: audit, orders" in unknown.json()["detail"]


# -- stats ----------------------------------------------------------------------------------


def test_stats_count_by_status_with_rates_and_alerts(api: Admin) -> None:
    t = now_ms()
    made = api.events(
        recent(received_ms=t - 1000),
        recent(received_ms=t - 2000),
        recent(received_ms=t - 3000),
        recent(received_ms=t - 3_600_000),
    )
    api.store.route(made[0].id, [PAYMENTS], at=t)
    api.store.route(made[1].id, [PAYMENTS], at=t)
    api.store.route(made[2].id, [], at=t)
    api.store.attempt(made[0].id, "payments", 200, None, dead=False, at=t)
    api.store.attempt(made[1].id, "payments", 500, "HTTP 500", dead=True, at=t)
    api.alerts.append({"name": "orders-dead", "state": "firing"})

    stats = api.get("/api/stats")
    assert stats["events"] == {"pending": 1, "routed": 2, "unrouted": 1}
    assert stats["deliveries"] == {"pending": 0, "delivered": 1, "dead": 1}
    per_second = services.operations.RATE_WINDOW_MS / 1000
    assert stats["rates"] == {
        "received": 3 / per_second,
        "delivered": 1 / per_second,
        "failed": 1 / per_second,
    }
    assert stats["alerts"] == [{"name": "orders-dead", "state": "firing"}]
