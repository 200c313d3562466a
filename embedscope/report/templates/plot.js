"use strict";
// Plots drawn as plain SVG: no plotting library, no eval, nothing the report's Content-Security-Policy forbids.
// Trade-off scatter (quality vs speed/latency/cost, log axes with labelled ticks, a colour and a legend
// entry per model, CIs as error bars and on hover) and the cluster map (colour by cluster or by per-query
// quality, search, click to open in the explorer, per-cluster quality).

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step0 = (hi - lo) / Math.max(count, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) || 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(12)));
  return ticks;
}

function logTicks(lo, hi) {
  const ticks = [];
  const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
  const steps = b - a <= 2 ? [1, 2, 5] : [1];
  for (let e = a; e <= b; e++) for (const m of steps) {
    const t = m * Math.pow(10, e);
    if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(t);
  }
  return ticks;
}

function scale(lo, hi, from, to, log) {
  const f = log ? Math.log10 : (v) => v;
  const a = f(lo), b = f(hi);
  return (v) => from + (b === a ? 0.5 : (f(v) - a) / (b - a)) * (to - from);
}

function padRange(lo, hi, log) {
  if (log) {
    if (lo === hi) return [lo / 3, hi * 3];
    const pad = Math.pow(hi / lo, 0.08);
    return [lo / pad, hi * pad];
  }
  if (lo === hi) return [lo - Math.abs(lo || 1) * 0.5, hi + Math.abs(hi || 1) * 0.5];
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

function tooltip() {
  let tip = document.getElementById("tooltip");
  if (!tip) {
    tip = el("div", "tooltip");
    tip.id = "tooltip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    document.body.append(tip);
  }
  return tip;
}

function showTip(lines, event) {
  const tip = tooltip();
  tip.replaceChildren(...lines.map((line, i) => el("div", i === 0 ? "tip-head" : null, line)));
  tip.hidden = false;
  const pad = 12, w = tip.offsetWidth, h = tip.offsetHeight;
  let x = event.clientX + pad, y = event.clientY + pad;
  if (x + w > window.innerWidth - 4) x = Math.max(4, event.clientX - w - pad);
  if (y + h > window.innerHeight - 4) y = Math.max(4, event.clientY - h - pad);
  tip.style.left = x + "px";
  tip.style.top = y + "px";
}

function hideTip() {
  tooltip().hidden = true;
}

function tipAt(node) {  // keyboard focus: place the tooltip by the element
  const r = node.getBoundingClientRect();
  return {clientX: r.right, clientY: r.bottom};
}

function axis(g, ticks, pos, label, horizontal, size, format) {
  for (const t of ticks) {
    const p = pos(t);
    if (horizontal) {
      g.append(svg("line", {x1: p, x2: p, y1: size.top, y2: size.bottom, class: "grid"}));
      g.append(svg("text", {x: p, y: size.bottom + 16, "text-anchor": "middle", class: "tick"}, format(t)));
    } else {
      g.append(svg("line", {x1: size.left, x2: size.right, y1: p, y2: p, class: "grid"}));
      g.append(svg("text", {x: size.left - 6, y: p + 4, "text-anchor": "end", class: "tick"}, format(t)));
    }
  }
  if (horizontal) {
    g.append(svg("text", {x: (size.left + size.right) / 2, y: size.bottom + 36, "text-anchor": "middle", class: "axis-title"}, label));
  } else {
    g.append(svg("text", {x: 14, y: (size.top + size.bottom) / 2, "text-anchor": "middle", class: "axis-title",
                          transform: "rotate(-90 14 " + (size.top + size.bottom) / 2 + ")"}, label));
  }
}

// plot: {id, title, x_label, y_label, log_x, points: [{model, x, y, ci, note}], missing: [{model, why}]}
function drawScatter(container, plot, models, hidden) {
  container.replaceChildren();
  const points = plot.points.filter((p) => !hidden.has(p.model));
  container.append(el("h3", null, plot.title));
  const width = Math.max(300, Math.min(container.clientWidth || 600, 720)), height = 320;
  const size = {left: 58, right: width - 16, top: 14, bottom: height - 48};
  const chart = svg("svg", {viewBox: "0 0 " + width + " " + height, width: width, height: height, class: "scatter", role: "img",
                            "aria-label": plot.title});
  chart.dataset.plot = plot.id;
  if (!points.length) {
    container.append(el("p", "note", "Every model on this plot is hidden."));
  } else {
    const xs = points.map((p) => p.x), ys = points.flatMap((p) => p.ci ? [p.y, p.ci[0], p.ci[1]] : [p.y]);
    const [x0, x1] = padRange(Math.min(...xs), Math.max(...xs), plot.log_x);
    const [y0, y1] = padRange(Math.min(...ys), Math.max(...ys), false);
    const X = scale(x0, x1, size.left, size.right, plot.log_x), Y = scale(y0, y1, size.bottom, size.top, false);
    const g = svg("g");
    axis(g, plot.log_x ? logTicks(x0, x1) : niceTicks(x0, x1, 5), X, plot.x_label, true, size, shortNumber);
    axis(g, niceTicks(y0, y1, 5), Y, plot.y_label, false, size, (t) => t.toFixed(y1 - y0 < 0.05 ? 3 : 2));
    chart.append(g);
    for (const p of points) {
      const colour = modelColour(models, p.model);
      const mark = svg("g", {class: "point", tabindex: 0});
      mark.dataset.model = p.model;
      if (p.ci) {
        mark.append(svg("line", {x1: X(p.x), x2: X(p.x), y1: Y(p.ci[0]), y2: Y(p.ci[1]), stroke: colour, class: "errorbar"}));
        for (const end of p.ci) mark.append(svg("line", {x1: X(p.x) - 5, x2: X(p.x) + 5, y1: Y(end), y2: Y(end), stroke: colour, class: "errorbar"}));
      }
      mark.append(svg("circle", {cx: X(p.x), cy: Y(p.y), r: 7, fill: colour, stroke: "#fff", "stroke-width": 1.5}));
      const right = X(p.x) > (size.left + size.right) / 2;
      mark.append(svg("text", {x: X(p.x) + (right ? -11 : 11), y: Y(p.y) - 9, "text-anchor": right ? "end" : "start",
                               class: "point-label"}, p.model));
      const lines = [p.model, plot.y_label + " " + formatValue("metric", p.y) + (p.ci ? " " + formatCI(p.ci) + " 95% CI" : ""),
                     plot.x_label.replace(/ \(log scale\)/, "") + ": " + formatValue(plot.x_kind, p.x) + (p.note ? " (" + p.note + ")" : "")];
      mark.addEventListener("mousemove", (e) => showTip(lines, e));
      mark.addEventListener("mouseleave", hideTip);
      mark.addEventListener("focus", () => showTip(lines, tipAt(mark)));
      mark.addEventListener("blur", hideTip);
      chart.append(mark);
    }
    container.append(chart);
  }
  const legend = el("div", "legend");
  for (const p of points) {
    const item = el("span", "legend-item");
    const swatch = el("span", "swatch");
    swatch.style.background = modelColour(models, p.model);
    item.append(swatch, document.createTextNode(p.model));
    legend.append(item);
  }
  container.append(legend);
  // where each x comes from, in view (not only on hover): a cached model's speed was measured another time
  const sources = points.filter((p) => p.note);
  if (sources.length && sources.some((p) => p.note !== sources[0].note || p.note !== "encoding in this run")) {
    container.append(el("p", "note sources", "x from: " + sources.map((p) => p.model + " — " + p.note).join("; ") + "."));
  }
  const missing = plot.missing.filter((m) => !hidden.has(m.model));
  if (missing.length) {
    container.append(el("p", "note missing", "Not on this plot: " + missing.map((m) => m.model + " (" + m.why + ")").join("; ") + "."));
  }
}

// The cluster map. cmap: {id, title, model, metric, metric_mean, by_cluster: [{cluster, mean, queries, size}],
// docs: {d: [doc index], x, y, c}, queries: {id, x, y, c, q: [query-list index or -1], text}}.
// ctx: {docs (the view's table), view, colourBy: "cluster" | "metric", model, search, onDoc(i), onQuery(qid)}
function drawClusterMap(container, cmap, ctx) {
  container.replaceChildren();
  const all = cmap.docs.x.concat(cmap.queries.x), allY = cmap.docs.y.concat(cmap.queries.y);
  const x0 = Math.min(...all), x1 = Math.max(...all), y0 = Math.min(...allY), y1 = Math.max(...allY);
  // one scale on both axes (distances mean something), the box shaped like the data within limits
  const width = Math.max(300, Math.min(container.clientWidth || 800, 900));
  const shape = Math.max(0.55, Math.min(1.1, (y1 - y0 + 1) / (x1 - x0 + 1)));
  const height = Math.round(Math.min(width * shape, 680));
  const pad = 16;
  const chart = svg("svg", {viewBox: "0 0 " + width + " " + height, width: width, height: height, class: "cluster-map", role: "img",
                            "aria-label": cmap.title});
  const s = Math.min((width - 2 * pad) / Math.max(x1 - x0, 1), (height - 2 * pad) / Math.max(y1 - y0, 1));
  const left = (width - (x1 - x0) * s) / 2;  // centred in the box
  const X = (x) => left + (x - x0) * s, Y = (y) => height - pad - (y - y0) * s;
  const needle = (ctx.search || "").trim().toLowerCase();
  const matches = {docs: 0, queries: 0};
  const docText = (i) => (ctx.docs.titles[i] ? ctx.docs.titles[i] + " — " : "") + ctx.docs.texts[i];
  const docsLayer = svg("g", {class: "docs"}), queriesLayer = svg("g", {class: "queries"});
  const byMetric = ctx.colourBy === "metric";
  cmap.docs.d.forEach((di, j) => {
    const hit = needle && (ctx.docs.ids[di].toLowerCase().includes(needle) || docText(di).toLowerCase().includes(needle));
    if (hit) matches.docs += 1;
    const dot = svg("circle", {cx: X(cmap.docs.x[j]).toFixed(1), cy: Y(cmap.docs.y[j]).toFixed(1), r: hit ? 5 : 3,
                               fill: byMetric ? "#c3c7d0" : clusterColour(cmap.docs.c[j]),
                               class: "doc-point" + (needle ? (hit ? " match" : " faded") : "")});
    dot.dataset.j = j;
    docsLayer.append(dot);
  });
  const values = queryValues(cmap, ctx);
  cmap.queries.id.forEach((qid, j) => {
    const text = cmap.queries.text[j] || "";
    const hit = needle && (qid.toLowerCase().includes(needle) || text.toLowerCase().includes(needle));
    if (hit) matches.queries += 1;
    const x = X(cmap.queries.x[j]), y = Y(cmap.queries.y[j]), r = (hit ? 2 : 0) + (cmap.queries.id.length > 100 ? 4.5 : 6);
    const colour = byMetric ? metricColour(values[j]) : clusterColour(cmap.queries.c[j]);
    const mark = svg("path", {d: "M" + (x - r) + " " + y + "L" + x + " " + (y - r) + "L" + (x + r) + " " + y + "L" + x + " " + (y + r) + "Z",
                              fill: colour, stroke: "#1d2330", "stroke-width": 1.2,
                              class: "query-point" + (needle ? (hit ? " match" : " faded") : "")});
    mark.dataset.j = j;
    queriesLayer.append(mark);
  });
  chart.append(docsLayer, queriesLayer);
  // per-cluster quality at each cluster's centre
  const labels = svg("g", {class: "cluster-labels"});
  for (const c of cmap.by_cluster) {
    const members = cmap.docs.c.map((cc, j) => cc === c.cluster ? j : -1).filter((j) => j >= 0);
    if (!members.length || !isNum(c.mean)) continue;
    const cx = members.reduce((a, j) => a + X(cmap.docs.x[j]), 0) / members.length;
    const cy = members.reduce((a, j) => a + Y(cmap.docs.y[j]), 0) / members.length;
    const text = "c" + c.cluster + " · " + formatValue("metric", c.mean);
    labels.append(svg("text", {x: cx, y: cy, "text-anchor": "middle", class: "cluster-label halo"}, text));
    labels.append(svg("text", {x: cx, y: cy, "text-anchor": "middle", class: "cluster-label"}, text));
  }
  chart.append(labels);
  const describe = (target) => {
    const j = Number(target.dataset.j);
    if (target.classList.contains("doc-point")) {
      const di = cmap.docs.d[j];
      return ["document " + ctx.docs.ids[di] + " · cluster " + cmap.docs.c[j], snippet(docText(di), 200), "click to open"];
    }
    const v = values[j];
    return ["query " + cmap.queries.id[j] + " · cluster " + cmap.queries.c[j] +
            (isNum(v) ? " · " + ctx.view.main_metric + " " + formatValue("metric", v) + " (" + ctx.model + ")" : ""),
            snippet(cmap.queries.text[j] || "", 200), "click to open"];
  };
  chart.addEventListener("mousemove", (e) => {
    if (e.target.dataset && e.target.dataset.j !== undefined) showTip(describe(e.target), e); else hideTip();
  });
  chart.addEventListener("mouseleave", hideTip);
  chart.addEventListener("click", (e) => {
    const t = e.target;
    if (!t.dataset || t.dataset.j === undefined) return;
    hideTip();
    const j = Number(t.dataset.j);
    if (t.classList.contains("doc-point")) ctx.onDoc(cmap.docs.d[j]);
    else ctx.onQuery(cmap.queries.id[j]);
  });
  container.append(chart);
  return matches;
}

function queryValues(cmap, ctx) {
  const values = ctx.view.per_query[ctx.model] && ctx.view.per_query[ctx.model][ctx.view.main_metric];
  return cmap.queries.q.map((i) => i >= 0 && values ? values[i] : null);
}

function snippet(text, limit) {
  const flat = String(text).split(/\s+/).join(" ");
  return flat.length > limit ? flat.slice(0, limit - 1) + "…" : flat;
}

// Legend of the map: each cluster's size and quality, or the colour scale of per-query values.
function clusterLegend(cmap, ctx) {
  const box = el("div", "legend cluster-legend");
  if (ctx.colourBy === "metric") {
    for (const [v, label] of [[0, "0"], [0.25, "0.25"], [0.5, "0.5"], [0.75, "0.75"], [1, "1"]]) {
      const item = el("span", "legend-item");
      const swatch = el("span", "swatch");
      swatch.style.background = metricColour(v);
      item.append(swatch, document.createTextNode(ctx.view.main_metric + " " + label));
      box.append(item);
    }
    const item = el("span", "legend-item");
    const swatch = el("span", "swatch");
    swatch.style.background = metricColour(null);
    item.append(swatch, document.createTextNode("not scored / documents"));
    box.append(item);
    return box;
  }
  const quality = new Map(cmap.by_cluster.map((c) => [c.cluster, c]));
  const clusters = [...new Set(cmap.docs.c)].sort((a, b) => a - b);
  for (const c of clusters) {
    const item = el("span", "legend-item");
    const swatch = el("span", "swatch");
    swatch.style.background = clusterColour(c);
    const q = quality.get(c);
    const size = cmap.docs.c.filter((x) => x === c).length;
    let text = (c < 0 ? "noise" : "cluster " + c) + " · " + plural(size, "doc");
    if (q && isNum(q.mean)) text += " · " + cmap.metric + " " + formatValue("metric", q.mean) + " (" + plural(q.queries, "query", "queries") + ")";
    item.append(swatch, document.createTextNode(text));
    box.append(item);
  }
  const item = el("span", "legend-item");
  item.append(el("span", "diamond", "◆"), document.createTextNode("queries"));
  box.append(item);
  return box;
}
