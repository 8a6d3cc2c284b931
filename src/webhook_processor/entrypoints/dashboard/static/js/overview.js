// Overview: the live rates and their chart, events and deliveries by status, alert states,
// each destination's health and the latest events, all refreshed with each poll of the stats.

import * as api from "./api.js";
import * as live from "./live.js";
import { throughput } from "./chart.js";
import { badge, h, number, rate, section, seconds, table, when } from "./dom.js";
import { eventLink } from "./events.js";

export const name = "overview";
export const nav = "overview";
export const title = () => "Overview";
const LATEST = 8;

function tile(label, value, note, kind = "") {
  return h("div", { class: `tile ${kind}` }, h("div", { class: "tile-label" }, label),
    h("div", { class: "tile-value" }, value), note ? h("div", { class: "tile-note" }, note) : null);
}

function tiles(stats) {
  const r = stats.rates ?? {};
  const stored = Object.values(stats.events ?? {}).reduce((a, b) => a + b, 0);
  const dead = stats.deliveries?.dead ?? 0;
  return [
    tile("Received", `${rate(r.received)}/s`, "last minute"),
    tile("Delivered", `${rate(r.delivered)}/s`, "last minute", "good"),
    tile("Failed attempts", `${rate(r.failed)}/s`, "last minute", r.failed > 0 ? "bad" : ""),
    tile("Events stored", number(stored), `${number(stats.events?.pending)} pending`),
    tile("Dead deliveries", number(dead), dead ? "in the dead-letter queue" : "none", dead ? "bad" : ""),
  ];
}

// One stacked bar and its legend: the share of each status.
function breakdown(label, counts) {
  const entries = Object.entries(counts ?? {});
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  const bar = h("div", { class: "bar", role: "img", "aria-label": `${label} by status` });
  for (const [status, n] of entries) {
    if (!n) continue;
    const part = h("span", { class: `bar-part bar-${status}`, title: `${status}: ${number(n)}` });
    part.style.flexGrow = String(n);
    bar.append(part);
  }
  if (!total) bar.append(h("span", { class: "bar-part bar-empty" }));
  const legend = h("ul", { class: "legend" }, entries.map(([status, n]) =>
    h("li", { dataset: { status } }, badge(status), h("span", { class: "count" }, number(n)))));
  return h("div", { class: "breakdown" },
    h("div", { class: "breakdown-head" }, h("h3", {}, label), h("span", { class: "muted" }, `${number(total)} in all`)),
    bar, legend);
}

function alerts(stats) {
  const rules = stats.alerts ?? [];
  if (!rules.length) {
    return h("p", { class: "empty" }, "No alert rules (add them under alerts: in whp.yaml).");
  }
  return h("ul", { class: "alerts" }, rules.map((a) =>
    h("li", { class: `alert alert-${a.state === "firing" ? "firing" : "ok"}`, dataset: { alert: a.name } },
      h("span", { class: "alert-name" }, a.name), badge(a.state))));
}

export function health(items) {
  return table(
    [
      { label: "Destination", cell: (d) => h("a", { href: "/dashboard/destinations" }, d.name) },
      { label: "State", cell: (d) => (d.paused ? badge("paused") : badge("active")) },
      { label: "Pending", class: "num", cell: (d) => number(d.pending) },
      { label: "In flight", class: "num", cell: (d) => number(d.in_flight) },
      { label: "Dead", class: "num", cell: (d) => (d.dead ? h("a", { href: `/dashboard/dlq${api.query({ destination: d.name })}`, class: "bad" }, number(d.dead)) : "0") },
      { label: "Oldest pending", class: "num", cell: (d) => seconds(d.oldest_pending_seconds) },
    ],
    items,
    { empty: "No destinations configured.", rowProps: (d) => ({ dataset: { destination: d.name } }) },
  );
}

export function latest(items) {
  return table(
    [
      { label: "Event", cell: (e) => eventLink(e) },
      { label: "Source", cell: (e) => e.source },
      { label: "Type", cell: (e) => e.event_type },
      { label: "Status", cell: (e) => badge(e.status) },
      { label: "Received", cell: (e) => when(e.received_at) },
    ],
    items,
    { empty: "No events yet: send a webhook to /webhooks/{source}.", rowProps: (e) => ({ dataset: { event: e.id } }) },
  );
}

export async function render(ctx) {
  const { signal } = ctx;
  const [stats, dests, recent] = await Promise.all([
    live.fresh(),
    api.get("/destinations", { signal }),
    api.get(`/events${api.query({ limit: LATEST })}`, { signal }),
  ]);
  const tileRow = h("div", { class: "tiles" }, tiles(stats));
  const chartBox = h("div", { class: "chart" });
  const status = h("div", { class: "breakdowns" });
  const alertBox = h("div", { id: "alert-states" });
  const healthBox = h("div", { id: "destination-health" });
  const latestBox = h("div", { id: "latest-events" });
  const fill = (s) => {
    tileRow.replaceChildren(...tiles(s));
    status.replaceChildren(breakdown("Events", s.events), breakdown("Deliveries", s.deliveries));
    alertBox.replaceChildren(alerts(s));
  };
  fill(stats);
  healthBox.append(health(dests.data));
  latestBox.append(latest(recent.data));
  ctx.view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Overview"),
      h("p", { class: "muted" }, "Live: refreshed every few seconds.")),
    tileRow,
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Throughput"),
        h("span", { class: "muted" }, "per second, each point the average of the minute before it")),
      chartBox),
    h("div", { class: "grid-2" }, section("Status", status), section("Alerts", alertBox)),
    section("Destination health", healthBox),
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", { class: "card-title" }, "Latest events"),
        h("a", { href: "/dashboard/events" }, "Search events →")),
      latestBox),
  );
  throughput(chartBox, signal).catch((error) => ctx.failed(error, chartBox));
  ctx.live(async (s) => {
    fill(s);
    const [d, e] = await Promise.all([
      api.get("/destinations", { signal }),
      api.get(`/events${api.query({ limit: LATEST })}`, { signal }),
    ]);
    healthBox.replaceChildren(health(d.data));
    latestBox.replaceChildren(latest(e.data));
  });
}
