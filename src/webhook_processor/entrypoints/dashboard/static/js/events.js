// Events: search by source, type, status, time and the provider's delivery id (the `key`
// filter), newest first, a page at a time by the API's cursor. The first page refreshes itself,
// so webhooks arriving now appear without a reload.

import * as api from "./api.js";
import { INTERVAL_MS } from "./live.js";
import { badge, h, idle, table, when } from "./dom.js";

export const name = "events";
export const nav = "events";
export const title = () => "Events";
export const FILTERS = ["source", "type", "status", "key", "since", "until"];
const STATUSES = ["pending", "routed", "unrouted", "dead"];
const LIMIT = 50;

export const eventPath = (id) => `/dashboard/events/${encodeURIComponent(id)}`;
export const eventLink = (e) => h("a", { href: eventPath(e.id), class: "mono" }, e.id);

function field(label, input) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input);
}

function form(ctx, values) {
  const text = (name, placeholder) =>
    h("input", { name, value: values[name] ?? "", placeholder, spellcheck: "false", autocomplete: "off" });
  const status = h("select", { name: "status" }, h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: values.status === s }, s)));
  const search = h("form", { class: "filters", id: "event-search", role: "search" },
    field("Source", text("source", "github")),
    field("Type", text("type", "push")),
    field("Status", status),
    field("Delivery id", text("key", "X-GitHub-Delivery, Stripe id…")),
    field("Since", text("since", "2h or 2026-12-01T10:00Z")),
    field("Until", text("until", "30m or RFC 3339")),
    h("div", { class: "filter-actions" },
      h("button", { type: "submit", class: "button primary" }, "Search"),
      h("a", { href: "/dashboard/events", class: "button ghost" }, "Clear")));
  search.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const chosen = Object.fromEntries(FILTERS.map((f) => [f, new FormData(search).get(f)?.trim()]));
    ctx.go(`/dashboard/events${api.query(chosen)}`);
  });
  return search;
}

function rows(items, fresh, ctx) {
  return table(
    [
      { label: "Event", cell: (e) => eventLink(e) },
      { label: "Source", cell: (e) => e.source },
      { label: "Type", cell: (e) => e.event_type },
      { label: "Delivery id", class: "mono wrap", cell: (e) => e.idempotency_key ?? "—" },
      { label: "Status", cell: (e) => badge(e.status) },
      { label: "Received", cell: (e) => when(e.received_at) },
    ],
    items,
    {
      empty: "No event matches these filters.",
      rowProps: (e) => ({
        class: fresh.has(e.id) ? "clickable fresh" : "clickable",
        dataset: { event: e.id },
        onclick: (click) => {
          if (!click.target.closest("a") && !window.getSelection()?.toString()) ctx.go(eventPath(e.id));
        },
      }),
    },
  );
}

export async function render(ctx) {
  const values = Object.fromEntries(FILTERS.map((f) => [f, ctx.query.get(f) ?? ""]));
  const cursor = ctx.query.get("cursor");
  const listing = (extra = {}) => `/events${api.query({ ...values, limit: LIMIT, cursor, ...extra })}`;
  const list = h("div", { id: "event-list" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  ctx.view.append(
    h("div", { class: "page-head" }, h("h1", {}, "Events"),
      h("p", { class: "muted" }, cursor ? "Older events." : "Newest first; this page follows new webhooks as they arrive.")),
    h("section", { class: "card" }, form(ctx, values)),
    h("section", { class: "card flush" }, list, pager),
  );
  let page;
  try {
    page = await api.get(listing(), { signal: ctx.signal });
  } catch (error) {
    if (!(error instanceof api.ApiError)) throw error;
    list.replaceChildren(h("div", { class: "error-box", role: "alert" }, error.message));
    return;
  }
  let seen = new Set(page.data.map((e) => e.id));
  list.append(rows(page.data, new Set(), ctx));
  const showPager = (next) => {
    pager.replaceChildren(
      cursor ? h("a", { class: "button ghost", href: `/dashboard/events${api.query(values)}` }, "← Newest") : h("span"),
      next ? h("a", { class: "button ghost", rel: "next", href: `/dashboard/events${api.query({ ...values, cursor: next })}` }, "Older →") : h("span", { class: "muted" }, "End of the list"),
    );
  };
  showPager(page.next);
  if (cursor) return; // an older page stays as it is: its place in the list is fixed
  let shown = JSON.stringify(page.data);
  ctx.every(INTERVAL_MS, async () => {
    const now = await api.get(listing(), { signal: ctx.signal });
    const text = JSON.stringify(now.data);
    if (text === shown || !idle(list)) return; // unchanged, or in use: the next poll will do
    shown = text;
    const fresh = new Set(now.data.map((e) => e.id).filter((id) => !seen.has(id)));
    seen = new Set(now.data.map((e) => e.id));
    list.replaceChildren(rows(now.data, fresh, ctx));
    showPager(now.next);
  });
}
