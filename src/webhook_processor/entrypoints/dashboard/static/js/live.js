// The live figures: GET /api/stats every few seconds while the tab is signed in, the samples of
// the last minutes kept in this tab (sessionStorage, so a reload keeps the chart's history).
// Pages subscribe to each new sample; the top bar shows the firing alerts on every page.

import * as api from "./api.js";

export const INTERVAL_MS = 3000;
const KEEP_SECONDS = 15 * 60;
const KEY = "whp.samples";

let samples = load();
let latest = null;
let timer = null;
let inflight = null;
let latestAt = 0;
let onUnauthorized = () => {};
const listeners = new Set();

function load() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
    return Array.isArray(kept) ? kept.filter((s) => Number.isFinite(s?.t)) : [];
  } catch {
    return [];
  }
}

function keep(stats) {
  const now = Date.now() / 1000;
  const { received = 0, delivered = 0, failed = 0 } = stats.rates ?? {};
  samples.push({ t: now, received, delivered, failed });
  samples = samples.filter((s) => s.t > now - KEEP_SECONDS);
  try {
    sessionStorage.setItem(KEY, JSON.stringify(samples));
  } catch {
    // storage full or refused: the chart still has this page's samples
  }
}

export function history() {
  return samples;
}

// fn(stats, ok): called after each poll (ok false when the server could not be read).
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// One poll at a time: a page that needs the stats at once waits for the poll under way.
export function poll() {
  if (!inflight) inflight = read().finally(() => { inflight = null; });
  return inflight;
}

// The latest stats, or those of the poll under way (a page's first render needs them).
export async function fresh() {
  if (latest) return latest;
  await poll();
  return latest ?? api.get("/stats");
}

async function read() {
  try {
    latest = await api.get("/stats");
    latestAt = Date.now();
    keep(latest);
    for (const fn of listeners) fn(latest, true);
  } catch (error) {
    if (error instanceof api.Unauthorized) {
      stop();
      onUnauthorized();
      return;
    }
    for (const fn of listeners) fn(latest, false);
  }
}

export function start(unauthorized) {
  onUnauthorized = unauthorized;
  stop();
  if (!latest || Date.now() - latestAt > INTERVAL_MS) poll();
  timer = setInterval(() => {
    if (!document.hidden) poll();
  }, INTERVAL_MS);
}

export function stop() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}

export function forget() {
  stop();
  samples = [];
  latest = null;
  sessionStorage.removeItem(KEY);
}
