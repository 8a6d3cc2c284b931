// The dashboard's shell: the token prompt, the client-side routes under /dashboard, and the life
// of a page (its timers stop when another page is shown). A page is rendered when its first
// data is on screen; main[data-rendered] then names it (the browser tests and the benchmark
// wait for it).

import * as api from "./api.js";
import * as live from "./live.js";
import { clear, errorBox, h, toast } from "./dom.js";
import * as overview from "./overview.js";
import * as events from "./events.js";
import * as event from "./event.js";
import * as dlq from "./dlq.js";
import * as destinations from "./destinations.js";

const ROUTES = [
  [/^\/dashboard$/, overview],
  [/^\/dashboard\/events$/, events],
  [/^\/dashboard\/events\/([^/]+)$/, event],
  [/^\/dashboard\/dlq$/, dlq],
  [/^\/dashboard\/destinations$/, destinations],
];

const $ = (id) => document.getElementById(id);
let page = null; // {controller} of the page on screen

// Signed out (or refused): the token and this session's samples are forgotten.
function signedOut(message) {
  api.token.clear();
  live.forget();
  prompt(message);
}

function prompt(message) {
  if (page) page.controller.abort();
  page = null;
  clear($("main"));
  $("shell").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.textContent = message ?? "";
  error.hidden = !message;
  $("token").value = "";
  $("token").focus();
}

function signedIn() {
  $("login").hidden = true;
  $("shell").hidden = false;
  // The stats poll starts once the page is on screen, so that it never delays the page's own
  // first calls (the overview asks for the stats itself).
  show().then(() => live.start(() => signedOut("The server refused the token: enter it again.")));
}

async function signIn(submitted) {
  submitted.preventDefault();
  const value = $("token").value.trim();
  const error = $("login-error");
  error.hidden = true;
  try {
    await api.get("/stats", { bearer: value });
  } catch (failure) {
    error.textContent =
      failure instanceof api.Unauthorized
        ? "That token was refused."
        : failure instanceof api.ApiError && failure.status === 404
          ? "This server has no admin API: set admin.token in its whp.yaml."
          : `The server could not be reached (${failure.message}).`;
    error.hidden = false;
    return;
  }
  api.token.set(value);
  signedIn();
}

// Every failure of a page goes here: a refused token signs out, anything else is said on the page.
function failed(error, where) {
  if (error instanceof api.Unauthorized) {
    signedOut("The server refused the token: enter it again.");
    return;
  }
  if (error?.name === "AbortError") return;
  if (where) where.replaceChildren(errorBox(error));
  else toast(error.message, "error");
}

export function go(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  show();
}

async function show() {
  if (page) page.controller.abort();
  const main = $("main");
  delete main.dataset.rendered;
  const path = location.pathname.replace(/\/+$/, "") || "/dashboard";
  const found = ROUTES.find(([pattern]) => pattern.test(path));
  const view = h("div", { class: "view" });
  main.replaceChildren(view);
  if (!found) {
    view.append(errorBox(new Error(`No page at ${path}.`)));
    return;
  }
  const [pattern, module] = found;
  const params = path.match(pattern).slice(1).map(decodeURIComponent);
  const controller = new AbortController();
  page = { controller };
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.dataset.nav === module.nav);
  }
  document.title = `${module.title(params)} · whp`;
  const ctx = {
    view,
    params,
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    go,
    failed: (error, where) => failed(error, where),
    // fn every `ms` while this page is shown and the tab visible; failures go to `failed`.
    every(ms, fn) {
      const timer = setInterval(() => {
        if (!document.hidden) Promise.resolve(fn()).catch((e) => failed(e));
      }, ms);
      controller.signal.addEventListener("abort", () => clearInterval(timer));
    },
    // fn(stats) on each poll of /api/stats while this page is shown.
    live(fn) {
      const stop = live.subscribe((stats, ok) => {
        if (ok) Promise.resolve(fn(stats)).catch((e) => failed(e));
      });
      controller.signal.addEventListener("abort", stop);
    },
  };
  try {
    await module.render(ctx);
    if (!controller.signal.aborted) {
      main.dataset.rendered = module.name;
      performance.mark(`rendered:${module.name}`); // since the navigation began: the benchmark's
      if (document.activeElement === document.body) main.focus({ preventScroll: true });
    }
  } catch (error) {
    if (!controller.signal.aborted) failed(error, view);
  }
}

function showLive(stats, ok) {
  $("live").classList.toggle("offline", !ok);
  $("live").textContent = ok ? "live" : "offline";
  const firing = (stats?.alerts ?? []).filter((a) => a.state === "firing");
  const badge = $("alerts-badge");
  badge.hidden = firing.length === 0;
  badge.textContent = `${firing.length} alert${firing.length === 1 ? "" : "s"} firing`;
}

function links(click) {
  const link = click.target.closest("a[href]");
  if (!link || click.defaultPrevented || click.button !== 0) return;
  if (click.metaKey || click.ctrlKey || click.shiftKey || click.altKey || link.target) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/dashboard")) return;
  click.preventDefault();
  go(url.pathname + url.search);
}

$("login-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signedOut());
document.addEventListener("click", links);
window.addEventListener("popstate", show);
live.subscribe(showLive);
if (api.token.get()) signedIn();
else prompt();
