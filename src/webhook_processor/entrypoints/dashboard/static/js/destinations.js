// Destinations: each one's health (pending, in flight, dead, how long its oldest pending
// delivery has waited) and its pause: a paused destination keeps its deliveries queued.

import * as api from "./api.js";
import { INTERVAL_MS } from "./live.js";
import { badge, confirm, h, idle, number, seconds, toast } from "./dom.js";

export const name = "destinations";
export const nav = "destinations";
export const title = () => "Destinations";

const path = (d, action) => `/destinations/${encodeURIComponent(d.name)}/${action}`;

async function toggle(ctx, d, refresh) {
  const pausing = !d.paused;
  const ok = await confirm({
    title: pausing ? `Pause ${d.name}?` : `Resume ${d.name}?`,
    text: pausing
      ? "Its deliveries stay queued, nothing is lost, until it is resumed. Attempts under way finish."
      : "Its queued deliveries go out again, oldest first.",
    action: pausing ? "Pause" : "Resume",
    danger: pausing,
  });
  if (!ok) return;
  try {
    const now = await api.post(path(d, pausing ? "pause" : "resume"), undefined);
    const heldByConfig = !pausing && now.paused;
    toast(heldByConfig ? `${d.name} stays paused: whp.yaml says paused: true.` : `${d.name} ${pausing ? "paused" : "resumed"}.`,
      heldByConfig ? "error" : "info");
    await refresh();
  } catch (error) {
    ctx.failed(error);
  }
}

function figure(label, value, kind = "") {
  return h("div", { class: `figure ${kind}` }, h("div", { class: "figure-value" }, value), h("div", { class: "figure-label" }, label));
}

function card(d, ctx, refresh) {
  const by = d.paused_by ?? [];
  const configOnly = d.paused && by.length === 1 && by[0] === "config";
  const state = d.paused
    ? badge("paused", by.length ? `paused (${by.join(" + ")})` : "paused")
    : badge("active");
  return h("article", { class: "card destination", dataset: { destination: d.name, paused: String(d.paused) } },
    h("div", { class: "destination-head" },
      h("div", {}, h("h2", { class: "card-title" }, d.name), h("div", { class: "mono muted small break" }, d.url)),
      state),
    h("div", { class: "figures" },
      figure("pending", number(d.pending)),
      figure("in flight", number(d.in_flight)),
      figure("dead", number(d.dead), d.dead ? "bad" : ""),
      figure("oldest pending", seconds(d.oldest_pending_seconds), d.oldest_pending_seconds > 300 ? "warn" : "")),
    h("div", { class: "destination-actions" },
      h("button", {
        type: "button", class: d.paused ? "button primary" : "button", dataset: { action: d.paused ? "resume" : "pause" },
        disabled: configOnly, title: configOnly ? "paused: true in whp.yaml; edit the config to resume" : "",
        onclick: () => toggle(ctx, d, refresh),
      }, d.paused ? "Resume" : "Pause"),
      d.dead ? h("a", { class: "button ghost", href: `/dashboard/dlq${api.query({ destination: d.name })}` }, `Dead letters (${number(d.dead)})`) : null));
}

export async function render(ctx) {
  const grid = h("div", { class: "destinations", id: "destination-list" });
  const fill = (items) =>
    grid.replaceChildren(...(items.length ? items.map((d) => card(d, ctx, refresh)) : [h("p", { class: "empty card" }, "No destinations configured (destinations: in whp.yaml).")]));
  let shown = "";
  // After an action, at once; on the timer, only when something changed and nobody is using it.
  const refresh = async ({ force = true } = {}) => {
    const items = (await api.get("/destinations", { signal: ctx.signal })).data;
    const now = JSON.stringify(items);
    if (!force && (now === shown || !idle(grid))) return;
    shown = now;
    fill(items);
  };
  const first = await api.get("/destinations", { signal: ctx.signal });
  ctx.view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Destinations"),
      h("p", { class: "muted" }, "Where deliveries go; refreshed every few seconds.")),
    grid,
  );
  fill(first.data);
  shown = JSON.stringify(first.data);
  ctx.every(INTERVAL_MS, () => refresh({ force: false }));
}
