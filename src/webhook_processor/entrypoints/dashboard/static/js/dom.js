// Building the page. Every value from the store (webhook payloads and headers come from anyone
// who can reach the ingest endpoint) goes into a text node or a plain attribute: nothing here
// ever parses a string as markup.

// h("a", {href, class: "x", dataset: {k: v}, onclick: f}, "text", node, [more], null)
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// -- formatting ----------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, "0");

export function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function seconds(value) {
  if (value === null || value === undefined) return "—";
  const s = Math.max(0, Math.round(value));
  const two = (big, bigUnit, small, smallUnit) => (small ? `${big}${bigUnit} ${small}${smallUnit}` : `${big}${bigUnit}`);
  if (s < 60) return `${s}s`;
  if (s < 3600) return two(Math.floor(s / 60), "m", s % 60, "s");
  if (s < 86400) return two(Math.floor(s / 3600), "h", Math.floor((s % 3600) / 60), "m");
  return two(Math.floor(s / 86400), "d", Math.floor((s % 86400) / 3600), "h");
}

export function ago(iso) {
  if (!iso) return "";
  const elapsed = (Date.now() - new Date(iso).getTime()) / 1000;
  if (!Number.isFinite(elapsed)) return "";
  return elapsed < 5 ? "just now" : `${seconds(elapsed).split(" ")[0]} ago`;
}

// A time cell: the local time, with how long ago and the exact RFC 3339 value on hover.
export function when(iso) {
  return h("time", { datetime: iso ?? "", title: iso ? `${iso} (${ago(iso)})` : "" }, time(iso));
}

export const number = (n) => (n ?? 0).toLocaleString("en-US");

export function rate(perSecond) {
  const x = perSecond ?? 0;
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const KNOWN = new Set([
  "pending", "routed", "unrouted", "dead", "delivered", "firing", "ok", "resolved", "inactive",
  "paused", "active",
]);

export function badge(status, label) {
  const name = String(status ?? "unknown");
  return h("span", { class: `badge badge-${KNOWN.has(name) ? name : "other"}` }, label ?? name);
}

// -- tables --------------------------------------------------------------------------------

// columns: [{label, cell(row) -> node | text, class}]; on a phone each row becomes a card whose
// cells are labelled from data-label (app.css).
export function table(columns, rows, { empty = "Nothing to show.", rowProps } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.class, scope: "col" }, c.label)));
  const body = rows.map((row) =>
    h(
      "tr",
      rowProps ? rowProps(row) : {},
      columns.map((c) => h("td", { class: c.class, dataset: { label: c.label } }, c.cell(row))),
    ),
  );
  return h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", { class: "card-title" }, title), children);
}

export function errorBox(error) {
  return h("div", { class: "error-box", role: "alert" }, error?.message ?? String(error));
}

// -- the confirmation dialog and notices ---------------------------------------------------

// Resolves true when the operator confirms. `extra`: nodes (a checkbox, say) read by the caller.
export function confirm({ title, text, action = "Confirm", danger = false, extra = [] }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  append(clear(document.getElementById("confirm-text")), [text]);
  append(clear(document.getElementById("confirm-extra")), [extra]);
  const ok = document.getElementById("confirm-ok");
  ok.textContent = action;
  ok.classList.toggle("danger", danger);
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    ok.focus();
  });
}

export function toast(text, kind = "info") {
  const note = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  document.getElementById("toasts").append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
}

// Whether `el` may be redrawn now: not while the pointer is on one of its controls (a button
// replaced between press and release loses the click).
export function idle(el) {
  return !el.querySelector("button:hover, a:hover, input:hover, select:hover, label:hover");
}
