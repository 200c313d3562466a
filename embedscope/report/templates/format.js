"use strict";
// Shared by the HTML report and `embedscope serve`: DOM helpers, number formatting, model colours.
// Corpus and query text is untrusted: it reaches the page through textContent only, never innerHTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function button(label, cls, onClick, title) {
  const b = el("button", cls, label);
  b.type = "button";
  if (title) b.title = title;
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

// Colour-blind-safe palette (Okabe-Ito, then Tableau): one colour per model, in the run's order, everywhere.
const MODEL_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#7F7F7F",
                       "#BCBD22", "#17BECF", "#1F3A93", "#AD494A"];
const CLUSTER_COLOURS = ["#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1", "#FF9DA7",
                         "#9C755F", "#BAB0AC", "#2F4B7C", "#A05195", "#D45087", "#665191", "#003F5C", "#FFA600"];

function modelColour(models, name) {
  const i = models.indexOf(name);
  return i < 0 ? "#555" : MODEL_COLOURS[i % MODEL_COLOURS.length];
}

function clusterColour(c) {
  return c < 0 ? "#b8bcc6" : CLUSTER_COLOURS[c % CLUSTER_COLOURS.length];
}

// Red (0) to green (1) through yellow, for per-query metric values.
function metricColour(v) {
  if (typeof v !== "number" || !isFinite(v)) return "#b8bcc6";
  const t = Math.max(0, Math.min(1, v));
  const hue = Math.round(t * 120);
  return "hsl(" + hue + ", 70%, 42%)";
}

function isNum(v) {
  return typeof v === "number" && isFinite(v);
}

function grouped(v, digits) {
  return v.toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits});
}

// Compact numbers for axis ticks: 1, 10, 100, 1k, 10k, 1M.
function shortNumber(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return trimZeros((v / 1e6).toFixed(a >= 1e7 ? 0 : 1)) + "M";
  if (a >= 1e3) return trimZeros((v / 1e3).toFixed(a >= 1e4 ? 0 : 1)) + "k";
  if (a >= 1 || a === 0) return trimZeros(v.toFixed(a >= 10 ? 0 : 1));
  return trimZeros(v.toPrecision(2));
}

function trimZeros(s) {
  return s.indexOf(".") >= 0 ? s.replace(/\.?0+$/, "") : s;
}

function humanBytes(n) {
  if (!isNum(n)) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return i === 0 ? grouped(n, 0) + " B" : grouped(n, 1) + " " + units[i];
}

// One rule per kind of number, so a value reads the same in every table, plot and tooltip.
// Units live in the column labels ("speed (docs/s)"); cells carry the number only, except bytes.
const METRIC_DIGITS = 3;

function formatValue(kind, v, opts) {
  opts = opts || {};
  if (v === null || v === undefined || v === "") return "—";
  switch (kind) {
    case "metric": return isNum(v) ? v.toFixed(METRIC_DIGITS) : "—";
    case "delta": return isNum(v) ? (v > 0 ? "+" : v < 0 ? "−" : "±") + Math.abs(v).toFixed(METRIC_DIGITS) : "—";
    case "p": return formatP(v, opts.floor);
    case "int": return isNum(v) ? grouped(Math.round(v), 0) : String(v);
    case "rate": return isNum(v) ? grouped(v, v >= 100 ? 0 : 1) : "—";
    case "ms": return isNum(v) ? grouped(v, v >= 100 ? 0 : v >= 10 ? 1 : 2) : "—";
    case "s": return isNum(v) ? grouped(v, v >= 100 ? 0 : 1) : "—";
    case "mb": return isNum(v) ? grouped(v, 1) : "—";
    case "bytes": return humanBytes(v);
    case "usd": return isNum(v) ? "$" + grouped(v, v !== 0 && Math.abs(v) < 0.01 ? 4 : 2) : "—";
    case "usd_small": return isNum(v) ? "$" + grouped(v, 3) : "—";
    case "params_m": return isNum(v) ? grouped(v, v >= 100 ? 0 : 1) : "—";
    case "num": return isNum(v) ? grouped(v, Math.abs(v) >= 100 ? 0 : 1) : "—";
    case "bool": return v ? "yes" : "no";
    case "progress": return v;
    default: return String(v);
  }
}

// p-values: four decimals, and below what the test can resolve "< 0.0001" (never "0.0000").
function formatP(p, floor) {
  if (!isNum(p)) return "—";
  const f = isNum(floor) ? floor : 1e-4;
  if (p < f) return "< " + (f >= 1e-4 ? trimZeros(f.toFixed(4)) : f.toPrecision(1));
  return p.toFixed(4);
}

function formatCI(ci, kind) {
  return Array.isArray(ci) ? "[" + formatValue(kind || "metric", ci[0]) + ", " + formatValue(kind || "metric", ci[1]) + "]" : "";
}

function plural(n, one, many) {
  return grouped(n, 0) + " " + (n === 1 ? one : (many || one + "s"));
}
