// Dead letters: the deliveries that used up their attempts, newest first, by destination, and
// their redrive (the chosen ones, or every dead delivery of a destination or of all of them).

import * as api from "./api.js";
import { badge, confirm, h, number, table, toast, when } from "./dom.js";
import { eventPath } from "./events.js";

export const name = "dlq";
export const nav = "dlq";
export const title = () => "Dead letters";
const LIMIT = 50;

async function redrive(ctx, body, what) {
  const ok = await confirm({
    title: `Redrive ${what}?`,
    text: "Each starts again at attempt 1 with the same webhook-id, as soon as its destination is not paused.",
    action: "Redrive",
  });
  if (!ok) return;
  try {
    const done = await api.post("/dlq/redrive", body);
    toast(`Redriven: ${number(done.redriven)} ${done.redriven === 1 ? "delivery" : "deliveries"}.`);
    ctx.go(location.pathname + location.search, { replace: true });
  } catch (error) {
    ctx.failed(error);
  }
}

// The status code, and the error when it says more than the code (a timeout, a refusal...).
function answer(d) {
  const code = d.last_status_code ? badge("dead", `HTTP ${d.last_status_code}`) : null;
  const said = d.last_error && d.last_error !== `HTTP ${d.last_status_code}` ? d.last_error : null;
  if (!code && !said) return "—";
  return h("span", { class: "answer" }, code, said ? h("span", { class: "answer-error" }, said) : null);
}

export async function render(ctx) {
  const destination = ctx.query.get("destination") ?? "";
  const cursor = ctx.query.get("cursor");
  const [dests, page] = await Promise.all([
    api.get("/destinations", { signal: ctx.signal }),
    api.get(`/dlq${api.query({ destination, limit: LIMIT, cursor })}`, { signal: ctx.signal }),
  ]);
  const chosen = new Set();
  const selected = h("button", { type: "button", class: "button", id: "redrive-selected", disabled: true }, "Redrive selected");
  const count = () => {
    selected.disabled = chosen.size === 0;
    selected.textContent = chosen.size ? `Redrive selected (${chosen.size})` : "Redrive selected";
  };
  selected.addEventListener("click", () =>
    redrive(ctx, { ids: [...chosen] }, `${chosen.size} ${chosen.size === 1 ? "delivery" : "deliveries"}`));
  const dead = destination
    ? (dests.data.find((d) => d.name === destination)?.dead ?? 0)
    : dests.data.reduce((sum, d) => sum + d.dead, 0);
  const all = h("button", {
    type: "button", class: "button danger-outline", id: "redrive-all", disabled: dead === 0,
    onclick: () => redrive(ctx, destination ? { destination } : { all: true },
      destination ? `every dead delivery of ${destination} (${number(dead)})` : `every dead delivery (${number(dead)})`),
  }, destination ? `Redrive all of ${destination}` : "Redrive all");
  const picker = h("select", { name: "destination", id: "dlq-destination" }, h("option", { value: "" }, "all destinations"),
    dests.data.map((d) => h("option", { value: d.name, selected: d.name === destination }, `${d.name} (${number(d.dead)})`)));
  picker.addEventListener("change", () => ctx.go(`/dashboard/dlq${api.query({ destination: picker.value })}`));
  const check = (d) => h("input", {
    type: "checkbox", "aria-label": `choose delivery ${d.delivery_id}`,
    onchange: (e) => { if (e.target.checked) chosen.add(d.delivery_id); else chosen.delete(d.delivery_id); count(); },
  });
  const list = table(
    [
      { label: "Delivery", class: "mono", cell: (d) => h("label", { class: "pick-label" }, check(d), d.delivery_id) },
      { label: "Event", cell: (d) => h("a", { href: eventPath(d.event_id), class: "mono" }, d.event_id) },
      { label: "Route", cell: (d) => d.route },
      { label: "Destination", cell: (d) => d.destination },
      { label: "Attempts", class: "num", cell: (d) => number(d.attempts) },
      { label: "Last answer", class: "wrap", cell: answer },
      { label: "Dead since", cell: (d) => when(d.dead_at) },
    ],
    page.data,
    { empty: "The dead-letter queue is empty.", rowProps: (d) => ({ dataset: { delivery: d.delivery_id } }) },
  );
  const pager = h("nav", { class: "pager", "aria-label": "Pages" },
    cursor ? h("a", { class: "button ghost", href: `/dashboard/dlq${api.query({ destination })}` }, "← Newest") : h("span"),
    page.next ? h("a", { class: "button ghost", href: `/dashboard/dlq${api.query({ destination, cursor: page.next })}` }, "Older →") : h("span", { class: "muted" }, page.data.length ? "End of the list" : ""));
  ctx.view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Dead letters"),
      h("p", { class: "muted" }, `${number(dead)} dead ${dead === 1 ? "delivery" : "deliveries"}${destination ? ` to ${destination}` : ""}.`)),
    h("section", { class: "card toolbar" }, h("label", { class: "field inline" }, h("span", { class: "field-label" }, "Destination"), picker),
      h("div", { class: "toolbar-actions" }, selected, all)),
    h("section", { class: "card flush" }, list, pager),
  );
}
