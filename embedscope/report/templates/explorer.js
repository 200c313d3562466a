"use strict";
// The per-query explorer shared by the HTML report and `embedscope serve`.
// Queries and documents are untrusted input: every piece of their text reaches the page through
// textContent (or a DOM property), never through innerHTML, so markup in a corpus stays inert text.

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

const MARK_TITLES = {relevant: "relevant", partly: "partly relevant", not: "not relevant", unjudged: "unjudged"};
const JUDGE_BUTTONS = [[2, "✅ relevant", "rel"], [1, "⚪ partly", "part"], [0, "❌ not", "not"]];

function fmt(value, digits) {
  return typeof value === "number" && isFinite(value) ? value.toFixed(digits === undefined ? 3 : digits) : "—";
}

// rows: [{id, text, metric: {model: value}, spread, relevant, judged}]
function renderQueryList(container, rows, models, metric, onSelect, selected) {
  container.replaceChildren();
  const table = el("table", "queries");
  const head = el("tr");
  head.append(el("th", null, "query"), el("th", null, "text"));
  for (const m of models) head.append(el("th", "num", m + (metric ? " " + metric : "")));
  head.append(el("th", "num", "spread"), el("th", "num", "judged"));
  table.append(el("thead")); table.tHead.append(head);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr", row.id === selected ? "query selected" : "query");
    tr.dataset.queryId = row.id;
    tr.tabIndex = 0;
    tr.append(el("td", "q-id", row.id), el("td", "q-text", row.text));
    for (const m of models) tr.append(el("td", "num", fmt((row.metric || {})[m])));
    tr.append(el("td", "num", fmt(row.spread)), el("td", "num", row.judged || ""));
    tr.addEventListener("click", () => onSelect(row.id));
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(row.id); });
    body.append(tr);
  }
  table.append(body);
  container.append(table);
}

// q: {id, text, k, columns: [{model, metrics, hits: [{rank, doc_id, score, title, text, mark, symbol, judgment}]}]}
function renderSideBySide(container, q, onJudge) {
  container.replaceChildren();
  const head = el("div", "q-head");
  head.append(el("span", "q-id", q.id), el("span", "q-text", q.text));
  container.append(head);
  if (q.relevant_not_shown) {
    container.append(el("p", "note", q.relevant_not_shown + " relevant document(s) are in no model's top " + q.k + "."));
  }
  const grid = el("div", "sbs");
  for (const column of q.columns) {
    const col = el("div", "sbs-col");
    col.dataset.model = column.model;
    const title = el("div", "sbs-model");
    title.append(el("b", null, column.model));
    const shown = Object.entries(column.metrics || {}).slice(0, 4).map(([m, v]) => m + " " + fmt(v)).join(" · ");
    title.append(el("div", "sbs-metrics", shown || "no metrics (no qrels for this query)"));
    col.append(title);
    const list = el("ol", "hits");
    for (const hit of column.hits) list.append(renderHit(hit, onJudge));
    if (!column.hits.length) list.append(el("li", "note", "no hits"));
    col.append(list);
    grid.append(col);
  }
  container.append(grid);
}

function renderHit(hit, onJudge) {
  const item = el("li", "hit mark-" + hit.mark);
  item.dataset.docId = hit.doc_id;
  const top = el("div", "hit-top");
  const symbol = el("span", "symbol", hit.symbol);
  symbol.title = MARK_TITLES[hit.mark] + (hit.judgment !== null && hit.judgment !== undefined ? " (your judgment)" : "");
  top.append(symbol, el("span", "rank", "#" + hit.rank), el("span", "doc-id", hit.doc_id), el("span", "score", fmt(hit.score, 4)));
  item.append(top);
  if (hit.title) item.append(el("div", "hit-title", hit.title));
  item.append(el("div", "hit-text", hit.missing ? "(document not in the corpus)" : hit.text));
  if (onJudge) {
    const box = el("div", "judge");
    for (const [grade, label, cls] of JUDGE_BUTTONS) {
      const button = el("button", "judge-" + cls, label);
      button.type = "button";
      button.dataset.grade = String(grade);
      if (hit.judgment === grade) button.classList.add("chosen");
      // clicking the chosen grade again withdraws the judgment
      button.addEventListener("click", () => onJudge(hit.doc_id, hit.judgment === grade ? null : grade));
      box.append(button);
    }
    item.append(box);
  }
  return item;
}

function sortRows(rows, how) {
  const copy = rows.slice();
  if (how === "spread") copy.sort((a, b) => (b.spread ?? -1) - (a.spread ?? -1));
  else if (how === "worst") copy.sort((a, b) => best(a) - best(b));
  return copy;
}

function best(row) {
  const values = Object.values(row.metric || {}).filter((v) => typeof v === "number");
  return values.length ? Math.max(...values) : Infinity;
}

function filterRows(rows, text) {
  const needle = text.trim().toLowerCase();
  if (!needle) return rows;
  return rows.filter((r) => r.id.toLowerCase().includes(needle) || r.text.toLowerCase().includes(needle));
}
