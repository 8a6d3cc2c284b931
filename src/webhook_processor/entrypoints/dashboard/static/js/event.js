// One event: what was received (payload pretty-printed, headers as stored), each delivery with
// the timeline of its attempts, and the operator's actions on it: replay the event, redrive a
// dead delivery. The deliveries refresh themselves while the page is shown.

import * as api from "./api.js";
import { INTERVAL_MS } from "./live.js";
import { badge, confirm, h, section, table, time, toast, when } from "./dom.js";

export const name = "event";
export const nav = "events";
export const title = ([id]) => `Event ${id}`;

function payload(event) {
  if (event.body_base64 !== undefined) {
    return [h("p", { class: "muted" }, "The body is not UTF-8 text; here it is in base64."),
      h("pre", { class: "code", id: "payload" }, event.body_base64)];
  }
  let shown = event.body ?? "";
  try {
    shown = JSON.stringify(JSON.parse(shown), null, 2);
  } catch {
    // not JSON (a form, plain text): shown as received
  }
  return h("pre", { class: "code", id: "payload", tabindex: "0" }, shown || "(empty body)");
}

function headers(event) {
  const entries = Object.entries(event.headers ?? {});
  return table(
    [
      { label: "Header", class: "mono", cell: ([k]) => k },
      { label: "Value", class: "mono wrap", cell: ([, v]) => (Array.isArray(v) ? v.join(", ") : String(v)) },
    ],
    entries,
    { empty: "No headers stored." },
  );
}

const succeeded = (a) => !a.error && a.status_code >= 200 && a.status_code < 300;

function attempt(a) {
  const outcome = a.status_code ? `HTTP ${a.status_code}` : "no response";
  return h("li", { class: `step ${succeeded(a) ? "step-ok" : "step-failed"}` },
    h("div", { class: "step-head" },
      h("strong", {}, `Attempt ${a.attempt}`),
      h("span", { class: `code-pill ${succeeded(a) ? "good" : "bad"}` }, outcome),
      h("span", { class: "muted" }, `${a.duration_ms} ms`),
      h("span", { class: "muted" }, when(a.started_at))),
    a.error && a.error !== outcome ? h("div", { class: "step-error" }, a.error) : null,
    a.excerpt ? h("pre", { class: "code small" }, a.excerpt) : null);
}

function delivery(d, ctx, refresh) {
  const actions = [];
  if (d.status === "dead") {
    actions.push(h("button", {
      type: "button", class: "button small", dataset: { action: "redrive" },
      onclick: async () => {
        const ok = await confirm({
          title: "Redrive this delivery?",
          text: `Delivery ${d.id} to ${d.destination} starts again at attempt 1, with the same webhook-id.`,
          action: "Redrive",
        });
        if (!ok) return;
        try {
          const done = await api.post("/dlq/redrive", { ids: [d.id] });
          toast(done.redriven ? "Redriven: the delivery is pending again." : "Nothing redriven: it is no longer dead.");
          await refresh();
        } catch (error) {
          ctx.failed(error);
        }
      },
    }, "Redrive"));
  }
  const steps = d.attempts?.length
    ? h("ol", { class: "timeline" }, d.attempts.map(attempt))
    : h("p", { class: "empty" }, "No attempt yet.");
  return h("article", { class: "delivery", dataset: { delivery: d.id, status: d.status } },
    h("div", { class: "delivery-head" },
      h("div", {},
        h("div", { class: "delivery-title" }, h("span", {}, d.route), h("span", { class: "muted" }, " → "), h("strong", {}, d.destination)),
        h("div", { class: "muted small" }, `delivery ${d.id} · webhook-id `, h("span", { class: "mono" }, d.webhook_id),
          d.next_attempt_at ? ` · next attempt ${time(d.next_attempt_at)}` : "")),
      h("div", { class: "delivery-actions" }, badge(d.status), actions)),
    steps);
}

function deliveries(event, ctx, refresh) {
  if (!event.deliveries?.length) {
    const why = event.status === "pending" ? "Not routed yet." : "No route matched this event.";
    return h("p", { class: "empty" }, why);
  }
  return event.deliveries.map((d) => delivery(d, ctx, refresh));
}

async function replay(event, ctx, refresh) {
  const fresh = h("input", { type: "checkbox", name: "new_id", id: "replay-new-id" });
  const ok = await confirm({
    title: "Replay this event?",
    text: "It is routed again with the routes the server has loaded now; each matching route gets a new delivery.",
    extra: h("label", { class: "check" }, fresh, " Give it a new webhook-id (receivers that dedupe will process it again)"),
    action: "Replay",
  });
  if (!ok) return;
  try {
    await api.post(`/events/${encodeURIComponent(event.id)}/replay`, { new_id: fresh.checked });
    toast("Replayed: the event is routed again.");
    await refresh();
  } catch (error) {
    ctx.failed(error);
  }
}

export async function render(ctx) {
  const [id] = ctx.params;
  const path = `/events/${encodeURIComponent(id)}`;
  let event = await api.get(path, { signal: ctx.signal });
  const box = h("div", { id: "deliveries" });
  const statusBox = h("span", {}, badge(event.status));
  let shown = "";
  const refresh = async () => {
    event = await api.get(path, { signal: ctx.signal });
    const now = JSON.stringify([event.status, event.deliveries]);
    if (now === shown) return;
    shown = now;
    statusBox.replaceChildren(badge(event.status));
    box.replaceChildren(...[deliveries(event, ctx, refresh)].flat());
  };
  const facts = [
    ["Source", event.source], ["Type", event.event_type], ["Delivery id", event.idempotency_key ?? "—"],
    ["Received", when(event.received_at)], ["Content type", event.content_type ?? "—"],
  ];
  ctx.view.append(
    h("nav", { class: "crumbs" }, h("a", { href: "/dashboard/events" }, "Events"), " / ", h("span", { class: "mono" }, event.id)),
    h("div", { class: "page-head with-actions" },
      h("div", {}, h("h1", { class: "mono break" }, event.id), statusBox),
      h("button", { type: "button", class: "button primary", id: "replay", onclick: () => replay(event, ctx, refresh) }, "Replay")),
    h("section", { class: "card" }, h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
    section("Deliveries", box),
    h("div", { class: "grid-2 wide-first" }, section("Payload", payload(event)), section("Headers", headers(event))),
  );
  shown = JSON.stringify([event.status, event.deliveries]);
  box.append(...[deliveries(event, ctx, refresh)].flat());
  ctx.every(INTERVAL_MS, refresh);
}
