// The throughput chart: received, delivered and failed per second (each the server's average
// over the last minute), from the samples of live.js. uPlot (static/vendor, MIT) draws it on a
// canvas; it sizes itself to its box, phone or laptop.

import * as live from "./live.js";
import { h, rate } from "./dom.js";

const SERIES = [
  ["received", "--chart-received"],
  ["delivered", "--chart-delivered"],
  ["failed", "--chart-failed"],
];
const HEIGHT = 240;

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

const pad = (n) => String(n).padStart(2, "0");
function clock(t) {
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function data() {
  const samples = live.history();
  return [samples.map((s) => s.t), ...SERIES.map(([key]) => samples.map((s) => s[key]))];
}

// uPlot is a classic script: loaded on first use, from beside this module (the same
// versioned path), so that pages without a chart never parse it.
let library = null;
function uplot() {
  library ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL("../vendor/uPlot.iife.min.js", import.meta.url).href;
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => reject(new Error("the chart library did not load"));
    document.head.append(script);
  });
  return library;
}

// Draws into `box` once uPlot is there; the page around it does not wait for it.
export async function throughput(box, signal) {
  const uPlot = await uplot();
  if (signal.aborted) return null;
  const axis = { stroke: css("--muted"), grid: { stroke: css("--grid"), width: 1 }, ticks: { show: false } };
  const options = {
    width: Math.max(box.clientWidth, 280),
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
    series: [
      { label: "time", value: (u, t) => (t === null || t === undefined ? "—" : clock(t)) },
      ...SERIES.map(([label, color]) => ({
        label,
        stroke: css(color),
        width: 2,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "—" : `${rate(v)}/s`),
      })),
    ],
    axes: [
      // whole seconds at least: the labels say hh:mm:ss
      { ...axis, space: 70, incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600], values: (u, ticks) => ticks.map(clock) },
      { ...axis, size: 50, values: (u, ticks) => ticks.map((v) => rate(v)) },
    ],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  const note = h("p", { class: "chart-note" }, "The chart fills in as this tab polls the server, every few seconds.");
  const noted = () => { note.hidden = live.history().length >= 2; };
  const chart = new uPlot(options, data(), box);
  box.append(note);
  noted();
  const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(box.clientWidth, 280), height: HEIGHT }));
  resize.observe(box);
  const stop = live.subscribe(() => {
    chart.setData(data());
    noted();
  });
  signal.addEventListener("abort", () => {
    stop();
    resize.disconnect();
    chart.destroy();
  });
  return chart;
}
