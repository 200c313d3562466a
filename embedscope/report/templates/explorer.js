"use strict";
// The per-query explorer, shared by the HTML report and `embedscope serve`: the query list, every model's
// top k side by side, the blind judging list (pooled, shuffled, no model names) and a document's queries.
// Pages come from the source (the report's embedded data or the app's API) in one shape:
// {id, text, k, relevant_not_shown, columns: [{model, metrics, hits: [{rank, doc_id, score, title, text,
//  mark, symbol, judgment, missing}]}]}.

// The judging scale comes with the view (view.grades, highest first: 0-2, or 0-3 for data graded 0-3); a button's
// class names its grade (judge-3 ... judge-0) and, on the default scale, its meaning (judge-rel, judge-part, judge-not).
const GRADE_WORDS = {"highly relevant": "highly", "relevant": "relevant", "partly relevant": "partly", "not relevant": "not"};
const GRADE_CLASS = {relevant: "rel", partly: "part", not: "not"};
const MARK_TITLES = {relevant: "relevant", partly: "partly relevant", not: "not relevant", unjudged: "unjudged"};
const DEFAULT_GRADES = [{grade: 2, label: "relevant", mark: "relevant"}, {grade: 1, label: "partly relevant", mark: "partly"},
                        {grade: 0, label: "not relevant", mark: "not"}];
const DEFAULT_MARKS = {relevant: "✅", partly: "⚪", not: "❌", unjudged: "?"};

// The keys of the judging scale, as shown in the notes: "0-2" or "0-3".
function gradeKeys(grades) {
  return "0-" + ((grades || DEFAULT_GRADES)[0] || {grade: 2}).grade;
}

// The query list as a table spec: id, text, each model's main metric, the spread, and "N of M judged".
function queryTableSpec(view) {
  const metric = view.main_metric;
  const columns = [{key: "id", label: "query", kind: "text", help: "Query id."},
                   {key: "text", label: "text", kind: "text"}];
  for (const m of view.models) {
    columns.push({key: "m:" + m, label: m + (metric ? " " + metric : ""), kind: "metric", model: m,
                  help: (view.glossary[metric] || "") + " This model, this query."});
  }
  columns.push({key: "spread", label: "spread", kind: "metric", help: view.glossary.spread},
               {key: "progress", label: "judged", kind: "progress",
                help: "Documents in any model's top k that have a grade (the dataset's or yours), of all of them."});
  const rows = view.queries.map((q, i) => {
    const row = {id: q.id, text: q.text, spread: q.spread, progress: q.graded + " of " + q.pool,
                 "sort:progress": q.pool ? q.graded / q.pool : null, _index: i};
    for (const m of view.models) row["m:" + m] = ((view.per_query[m] || {})[metric] || [])[i];
    return row;
  });
  return {id: "queries", title: "Queries", columns: columns, rows: rows, model_key: null};
}

function queryHead(page, progress) {
  const head = el("div", "q-head");
  head.append(el("span", "q-id", page.id), el("span", "q-text", page.text));
  if (progress) head.append(el("span", "q-progress", progress));
  return head;
}

// opts: {models, hidden: Set, onJudge(docId, grade) or null, onDoc(docId), focus: doc id to mark}
function renderSideBySide(container, page, opts) {
  container.replaceChildren();
  container.append(queryHead(page, opts.progress));
  if (page.relevant_not_shown) {
    container.append(el("p", "note", plural(page.relevant_not_shown, "relevant document") +
                        (page.relevant_not_shown === 1 ? " is" : " are") + " in no model's top " + page.k + "."));
  }
  const grid = el("div", "sbs");
  for (const column of page.columns) {
    if (opts.hidden.has(column.model)) continue;
    const col = el("div", "sbs-col");
    col.dataset.model = column.model;
    const title = el("div", "sbs-model");
    const swatch = el("span", "swatch");
    swatch.style.background = modelColour(opts.models, column.model);
    title.append(swatch, el("b", null, column.model));
    const shown = Object.entries(column.metrics || {}).slice(0, 4).map(([m, v]) => m + " " + formatValue("metric", v)).join(" · ");
    title.append(el("div", "sbs-metrics", shown || "not scored (no relevant document known for this query)"));
    col.append(title);
    const list = el("ol", "hits");
    for (const hit of column.hits) list.append(renderHit(hit, opts));
    if (!column.hits.length) list.append(el("li", "note", "no hits"));
    col.append(list);
    grid.append(col);
  }
  if (!grid.children.length) grid.append(el("p", "note", "Every model is hidden."));
  container.append(grid);
}

function renderHit(hit, opts) {
  const item = el("li", "hit mark-" + hit.mark);
  item.dataset.docId = hit.doc_id;
  const top = el("div", "hit-top");
  const symbol = el("span", "symbol", hit.symbol);
  symbol.title = MARK_TITLES[hit.mark] + (hit.judgment !== null && hit.judgment !== undefined ? " (your judgment)" : "");
  top.append(symbol);
  if (hit.rank === undefined) top.append(el("span", "mark-name", hit.judgment !== null && hit.judgment !== undefined ?
                                             "yours: " + MARK_TITLES[hit.mark] : "not judged by you"));
  if (hit.rank !== undefined) top.append(el("span", "rank", "#" + hit.rank));
  if (hit.score !== undefined) top.append(el("span", "score", "score " + (isNum(hit.score) ? hit.score.toFixed(4) : "—")));
  item.append(top);
  const id = button(hit.doc_id, "doc-id", () => opts.onDoc && opts.onDoc(hit.doc_id), "Open this document: which queries find it");
  item.append(id);
  if (hit.title) item.append(el("div", "hit-title", hit.title));
  item.append(el("div", "hit-text", hit.missing ? "(document not in the corpus)" : hit.text));
  if (opts.onJudge) item.append(judgeButtons(hit, opts.onJudge, opts.grades || DEFAULT_GRADES, opts.marks || DEFAULT_MARKS));
  return item;
}

function judgeButtons(hit, onJudge, grades, marks) {
  const box = el("div", "judge");
  const top = grades.length ? grades[0].grade : 2;
  for (const g of grades) {
    const grade = g.grade;
    // on a 0-3 scale two grades share the partly mark: the middle ones say their grade on the button
    const cls = top === 2 ? "judge-" + GRADE_CLASS[g.mark] + " judge-" + grade : "judge-" + grade;
    const text = marks[g.mark] + " " + (top === 2 ? "" : grade + " ") + (GRADE_WORDS[g.label] || g.label);
    const b = button(text, cls, null, "grade " + grade + ", " + g.label + " (key " + grade + "); again to withdraw");
    b.dataset.grade = String(grade);
    b.setAttribute("aria-pressed", hit.judgment === grade ? "true" : "false");
    if (hit.judgment === grade) b.classList.add("chosen");
    // clicking the chosen grade again withdraws the judgment
    b.addEventListener("click", () => onJudge(hit.doc_id, hit.judgment === grade ? null : grade));
    box.append(b);
  }
  return box;
}

// Blind judging: the pool of every model's top k in one shuffled list, without model names, ranks or scores.
// pool: {id, text, k, docs: [{doc_id, title, text, judgment, missing}], judged}
function renderBlind(container, pool, opts) {
  container.replaceChildren();
  container.append(queryHead(pool, plural(pool.judged, "judgment") + " of " + pool.docs.length + " pooled documents"));
  container.append(el("p", "note", "Blind judging: the documents of every model's top " + pool.k +
                      ", merged and shuffled, without model names, ranks or scores. Keys: j/k move, " +
                      gradeKeys(opts.grades) + " grade, n/p next query."));
  const list = el("ol", "hits blind");
  for (const doc of pool.docs) {
    const mark = doc.mark || "unjudged";
    list.append(renderHit({doc_id: doc.doc_id, title: doc.title, text: doc.text, missing: doc.missing, judgment: doc.judgment,
                           mark: mark, symbol: opts.marks[mark]}, opts));
  }
  if (!pool.docs.length) list.append(el("li", "note", "no documents"));
  container.append(list);
}

// One document and the queries it matters to. doc: {doc_id, title, text, k, queries: [{id, text, ranks, grade}]}
function renderDocument(container, doc, opts) {
  container.replaceChildren();
  const head = el("div", "q-head");
  head.append(el("span", "q-id", "document " + doc.doc_id));
  container.append(head);
  if (doc.title) container.append(el("div", "hit-title", doc.title));
  container.append(el("div", "doc-text", doc.missing ? "(document not in the corpus)" : doc.text));
  if (!doc.queries.length) {
    container.append(el("p", "note", "No query has this document in any model's top " + doc.k + " or in its judgments."));
    return;
  }
  const columns = [{key: "id", label: "query", kind: "text"}, {key: "text", label: "text", kind: "text"},
                   {key: "grade", label: "grade", kind: "int", help: "The dataset's grade of this pair (empty: unjudged)."}];
  for (const m of opts.models) columns.push({key: "r:" + m, label: m + " rank", kind: "int", model: m});
  const rows = doc.queries.map((q) => {
    const row = {id: q.id, text: q.text, grade: q.grade};
    for (const m of opts.models) row["r:" + m] = q.ranks[m];
    return row;
  });
  const box = el("div", "doc-queries");
  container.append(el("h3", null, "Queries that find or grade it"), box);
  new DataTable(box, {id: "doc-queries", title: "Queries of this document", columns: columns, rows: rows, model_key: null},
                {models: opts.models, hiddenModels: opts.hidden, onRow: (row) => opts.onQuery(row.id), rowId: (row) => row.id});
}
