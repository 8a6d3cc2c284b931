"""The dashboard as an operator uses it, in headless chromium against a real `whp serve`: sign in
once, watch webhooks arrive, find one by its delivery id, open it, replay it, redrive a dead
delivery, pause and resume a destination. conftest.py fails any test whose pages asked another
host for anything, raised a script error or broke the Content-Security-Policy."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import Server
from tests.e2e.receiver import Receiver, wait_for

from .conftest import DOOMED, TOKEN, Watch, api, send, sign_in, signed_in

pytestmark = pytest.mark.e2e
ARRIVAL_TIMEOUT = 20.0  # seconds
PAGES = ["/dashboard", "/dashboard/events", "/dashboard/dlq", "/dashboard/destinations"]


def confirm(page: Page) -> None:
    expect(page.locator("#confirm")).to_be_visible()
    page.click("#confirm-ok")
    expect(page.locator("#confirm")).to_be_hidden()


def test_the_token_is_asked_once_and_kept_in_this_tab_only(
    page: Page, server: Server, watch: Watch
) -> None:
    page.goto(f"{server.url}/dashboard")
    expect(page.locator("#login")).to_be_visible()
    sign_in(page, server, token="not-the-token")
    expect(page.locator("#login-error")).to_have_text("That token was refused.")
    expect(page.locator("#shell")).to_be_hidden()

    sign_in(page, server)
    page.wait_for_selector("main[data-rendered=overview]")
    kept = page.evaluate(
        "() => ({session: {...sessionStorage}, local: {...localStorage}, cookie: document.cookie})"
    )
    assert kept["session"]["whp.admin-token"] == TOKEN
    assert kept["local"] == {}
    assert kept["cookie"] == ""
    page.reload()  # the same tab: not asked again
    page.wait_for_selector("main[data-rendered=overview]")
    expect(page.locator("#login")).to_be_hidden()

    assert watch.api_calls
    for call in watch.api_calls:
        assert TOKEN not in call.url
        assert call.headers["authorization"] in (f"Bearer {TOKEN}", "Bearer not-the-token")
    assert watch.api_calls[-1].headers["authorization"] == f"Bearer {TOKEN}"

    page.click("#sign-out")
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('whp.admin-token')") is None


def test_a_refused_token_returns_to_the_prompt(page: Page, server: Server) -> None:
    signed_in(page, server)
    page.evaluate("() => sessionStorage.setItem('whp.admin-token', 'rotated-away')")
    page.click("a[data-nav=events]")
    expect(page.locator("#login")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("refused the token")
    assert page.evaluate("() => sessionStorage.getItem('whp.admin-token')") is None
    sign_in(page, server)
    page.wait_for_selector("main[data-rendered]")


def test_a_webhook_appears_without_a_reload_and_is_found_by_its_delivery_id(
    page: Page, server: Server
) -> None:
    signed_in(page, server, "/dashboard/events")
    page.evaluate("() => { window.sameDocument = true; }")
    event_id, delivery = send(server, "push", order="A-1", items=[{"sku": "X", "qty": 2}])

    expect(page.locator(f"#event-list tr[data-event='{event_id}']")).to_be_visible()
    assert page.evaluate("() => window.sameDocument") is True, "the page was reloaded"

    for other in range(2):  # so that the search has something to leave out
        send(server, "push", other=other)
    page.fill("#event-search [name=key]", delivery)
    page.click("#event-search button[type=submit]")
    page.wait_for_url(f"**/dashboard/events?key={delivery}")
    page.wait_for_selector("main[data-rendered=events]")
    rows = page.locator("#event-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-event", event_id)

    rows.first.locator("a").click()
    page.wait_for_selector("main[data-rendered=event]")
    assert urlsplit(page.url).path == f"/dashboard/events/{event_id}"
    payload = page.locator("#payload")
    expect(payload).to_contain_text('"order": "A-1"')  # pretty-printed
    expect(payload).to_contain_text('    {\n      "sku": "X",')
    expect(page.get_by_role("cell", name=delivery, exact=True)).to_be_visible()  # the headers
    delivered = page.locator("[data-delivery][data-status=delivered]")
    expect(delivered).to_be_visible(timeout=30_000)  # the page follows its deliveries
    expect(delivered.locator(".step-ok")).to_contain_text("HTTP 200")
    expect(delivered).to_contain_text("orders")


def test_search_results_page_by_the_cursor_to_the_end(page: Page, server: Server) -> None:
    kind = f"paged-{uuid.uuid4().hex[:8]}"
    sent = [send(server, kind, n=n)[0] for n in range(53)]  # a page is 50
    signed_in(page, server, f"/dashboard/events?type={kind}")
    rows = page.locator("#event-list tbody tr")
    expect(rows).to_have_count(50)
    first = [rows.nth(i).get_attribute("data-event") for i in range(50)]
    assert first == sent[::-1][:50]  # newest first

    page.click("a[rel=next]")
    page.wait_for_url("**cursor=**")
    expect(rows).to_have_count(3)
    rest = [rows.nth(i).get_attribute("data-event") for i in range(3)]
    assert rest == sent[::-1][50:]
    expect(page.locator(".pager")).to_contain_text("End of the list")
    page.click("text=← Newest")
    expect(rows).to_have_count(50)


def test_a_bad_filter_says_what_is_wrong(page: Page, server: Server) -> None:
    signed_in(page, server, "/dashboard/events")
    page.fill("#event-search [name=since]", "yesterday")
    page.click("#event-search button[type=submit]")
    error = page.locator("#event-list .error-box")
    expect(error).to_contain_text("since 'yesterday'")
    expect(error).to_contain_text("30m, 2h, 7d")
    expect(page.locator("#event-search [name=since]")).to_have_value("yesterday")  # kept to fix


def test_replay_from_the_event_page_keeps_the_webhook_id(
    page: Page, server: Server, receiver: Receiver
) -> None:
    event_id, _ = send(server, "push", replay="me")
    receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/orders", webhook_id=event_id)
    signed_in(page, server, f"/dashboard/events/{event_id}")

    page.click("#replay")
    page.click("#confirm-cancel")  # asked first: a cancel replays nothing
    page.click("#replay")
    expect(page.locator("#confirm")).to_contain_text("Replay this event?")
    confirm(page)
    expect(page.locator(".toast")).to_contain_text("Replayed")

    arrivals = receiver.wait_for_arrivals(2, ARRIVAL_TIMEOUT, path="/orders", webhook_id=event_id)
    assert len(arrivals) == 2, receiver.describe("/orders")
    expect(page.locator("#deliveries [data-delivery]")).to_have_count(2, timeout=30_000)


def test_a_dead_delivery_is_redriven_from_the_dead_letter_page(
    page: Page, server: Server, receiver: Receiver
) -> None:
    event_id, _ = send(server, DOOMED)
    dead: list[str] = []

    def died() -> bool:
        found = api(server, "/dlq?destination=failing&limit=500")["data"]
        dead[:] = [d["delivery_id"] for d in found if d["event_id"] == event_id]
        return bool(dead)

    wait_for(died, ARRIVAL_TIMEOUT, interval=0.2, what="the delivery to die")
    tried = len(receiver.arrivals("/failing", event_id))
    signed_in(page, server, "/dashboard/dlq")
    row = page.locator(f"tr[data-delivery='{dead[0]}']")
    expect(row).to_contain_text(event_id)
    expect(row).to_contain_text("HTTP 500")
    row.locator("input[type=checkbox]").check()
    page.click("#redrive-selected")
    expect(page.locator("#confirm")).to_contain_text("Redrive 1 delivery?")
    confirm(page)
    expect(page.locator(".toast")).to_contain_text("Redriven: 1 delivery.")

    again = receiver.wait_for_arrivals(
        tried + 1, ARRIVAL_TIMEOUT, path="/failing", webhook_id=event_id
    )
    assert again[tried].attempt == 1  # a redrive starts the attempts again


def test_pause_and_resume_a_destination(page: Page, server: Server, receiver: Receiver) -> None:
    signed_in(page, server, "/dashboard/destinations")
    card = page.locator("[data-destination=orders]")
    expect(card).to_have_attribute("data-paused", "false")
    card.locator("button[data-action=pause]").click()
    page.click("#confirm-cancel")
    assert not next(d for d in api(server, "/destinations")["data"] if d["name"] == "orders")[
        "paused"
    ]

    try:
        card.locator("button[data-action=pause]").click()
        confirm(page)
        expect(card).to_have_attribute("data-paused", "true")
        expect(card).to_contain_text("paused")
        event_id, _ = send(server, "push", held="while paused")
        time.sleep(2.0)  # a paused destination gets nothing
        assert receiver.arrivals("/orders", event_id) == []
        expect(card.locator(".figure-value").first).not_to_have_text("0", timeout=30_000)

        card.locator("button[data-action=resume]").click()
        confirm(page)
        expect(card).to_have_attribute("data-paused", "false")
        receiver.wait_for_arrivals(1, ARRIVAL_TIMEOUT, path="/orders", webhook_id=event_id)
    finally:
        api(server, "/destinations/orders/resume", {})


def test_the_overview_follows_the_server_live(page: Page, server: Server) -> None:
    signed_in(page, server)
    expect(page.locator(".chart canvas").first).to_be_visible()
    expect(page.locator("#destination-health tr[data-destination=orders]")).to_be_visible()
    expect(page.locator("#destination-health tr[data-destination=failing]")).to_be_visible()
    expect(page.locator("#alert-states")).to_be_visible()
    events_tile = page.locator(".tile").nth(3)
    before = events_tile.locator(".tile-value").inner_text()
    ids = [send(server, "push", live=n)[0] for n in range(3)]

    expect(events_tile.locator(".tile-value")).not_to_have_text(before)  # no reload
    expect(page.locator(f"#latest-events tr[data-event='{ids[-1]}']")).to_be_visible()
    page.wait_for_function(
        "() => JSON.parse(sessionStorage.getItem('whp.samples') || '[]').length >= 2"
    )
    expect(page.locator(".tile").first.locator(".tile-value")).not_to_have_text("0.00/s")
    expect(page.locator(".breakdown").first).to_contain_text("routed")


def test_a_dead_delivery_shows_its_alert_firing(page: Page, server: Server) -> None:
    send(server, DOOMED)  # its delivery dies after 2 attempts: failing-dead holds
    signed_in(page, server)
    firing = page.locator("#alert-states [data-alert=failing-dead]")
    expect(firing).to_contain_text("firing", timeout=30_000)
    expect(page.locator("#alert-states [data-alert=orders-waiting]")).to_contain_text("ok")
    expect(page.locator("#alerts-badge")).to_have_text("1 alert firing")
    page.click("a[data-nav=events]")  # the top bar says it on every page
    expect(page.locator("#alerts-badge")).to_be_visible()


def test_payloads_and_headers_are_shown_as_text_never_run(page: Page, server: Server) -> None:
    markup = "<img src=x onerror=window.pwned=1>"
    event_id, _ = send(
        server,
        markup,
        html="<script>window.pwned=2</script>",
        img="<img src=y onerror=window.pwned=3>",
    )
    signed_in(page, server, "/dashboard/events")
    row = page.locator(f"#event-list tr[data-event='{event_id}']")
    expect(row).to_contain_text(markup)
    row.locator("a").click()
    page.wait_for_selector("main[data-rendered=event]")
    expect(page.locator("#payload")).to_contain_text("<script>window.pwned=2</script>")
    expect(page.locator(".facts")).to_contain_text(markup)
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("() => window.pwned") is None


def test_no_request_leaves_for_another_host(page: Page, server: Server) -> None:
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    signed_in(page, server)
    for name in ("events", "dlq", "destinations", "overview"):
        page.click(f"a[data-nav={name}]")
        page.wait_for_selector(f"main[data-rendered={name}]")
    page.wait_for_timeout(3500)  # a poll or two of every live part
    assert hosts == {f"127.0.0.1:{server.port}"}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_a_phone(phone: Page, server: Server, path: str) -> None:
    signed_in(phone, server, path)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
