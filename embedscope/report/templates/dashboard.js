"use strict";
// The page of the report and of `embedscope serve`: every section drawn from the view (embedscope/report/view.py),
// read through a source (ReportSource or AppSource, defined by report.js / app.js):
//   source.view()                 -> Promise of the view
//   source.page(qid, k)           -> Promise of one query's side-by-side page
//   source.document(docId, k)     -> Promise of one document and its queries
//   source.kOptions               -> the top-k values it can show
//   source.canJudge               -> whether judging is possible; then also
//   source.pool(qid, k)           -> Promise of the blind judging list (order from the server: shuffled, or
//                                    an order supplied to it, e.g. by active judging)
//   source.judge(qid, docId, g)   -> Promise of {total, judged_for_query, file}
//   source.scores(k)              -> Promise of the parts of the view judgments change
// The page state lives in the URL's #fragment, so a reload or a shared link opens the same query, sort,
// top k, mode, and hidden models.

const state = {view: null, source: null, tables: {}, hidden: new Set(), params: new URLSearchParams(),
               selected: null, doc: null, page: null, focus: -1, mode: "side", colourBy: "cluster", mapSearch: "",
               mapModel: null, k: 10};

function setStatus(text, isError) {
  const status = document.getElementById("status-message");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

function readParams() {
  state.params = new URLSearchParams(location.hash.slice(1));
}

function writeParams() {
  const p = state.params;
  const set = (key, value) => { if (value === null || value === undefined || value === "") p.delete(key); else p.set(key, value); };
  set("q", state.doc ? null : state.selected);
  set("doc", state.doc);
  set("k", state.k === state.view.explorer_k ? null : state.k);
  set("mode", state.mode === "side" ? null : state.mode);
  set("hide", [...state.hidden].join(","));
  const text = p.toString();
  history.replaceState(null, "", text ? "#" + text : location.pathname + location.search);
}

function tableState(id) {
  const sort = state.params.get("sort." + id), filter = state.params.get("filter." + id);
  const found = {};
  if (sort) {
    const cut = sort.lastIndexOf(":");
    found.sort = {key: sort.slice(0, cut), dir: sort.slice(cut + 1) === "asc" ? "asc" : "desc"};
  }
  if (filter) found.filter = filter;
  const cols = state.params.get("cols." + id);
  if (cols !== null) found.hidden = cols ? cols.split(",") : [];
  return found;
}

function rememberTable(id, tstate, defaults) {
  const p = state.params;
  if (tstate.sort) p.set("sort." + id, tstate.sort.key + ":" + tstate.sort.dir); else p.delete("sort." + id);
  if (tstate.filter) p.set("filter." + id, tstate.filter); else p.delete("filter." + id);
  const hidden = [...tstate.hidden].sort().join(","), base = [...defaults].sort().join(",");
  if (hidden !== base) p.set("cols." + id, hidden); else p.delete("cols." + id);
  writeParams();
}

function makeTable(container, spec, opts) {
  if (!spec) return null;
  const defaults = spec.columns.filter((c) => c.hidden).map((c) => c.key);
  const table = new DataTable(container, spec, Object.assign({
    models: state.view.models, hiddenModels: state.hidden, state: tableState(spec.id),
    onState: (s) => rememberTable(spec.id, s, defaults),
  }, opts || {}));
  state.tables[spec.id] = table;
  return table;
}

function section(id, title, help) {
  const box = document.getElementById(id);
  box.hidden = false;
  box.replaceChildren(el("h2", null, title));
  if (help) box.append(el("p", "note", help));
  document.querySelector('nav a[href="#' + id + '"]').hidden = false;
  return box;
}

// ---- header, model chips, banner ----

function drawHeader() {
  const v = state.view, meta = v.meta, ds = meta.dataset || {};
  document.title = v.title;
  document.getElementById("title").textContent = v.title;
  const parts = v.task ? taskFacts(v.task, ds) :
    [plural(ds.documents || 0, "document"), plural(ds.queries || 0, "query", "queries"),
     plural(ds.judgments || 0, "judgment") + (ds.grades && ds.grades.length ? " (grades " + ds.grades.join(", ") + ")" : "")];
  if (meta.k) parts.push("top " + meta.k + " of " + meta.depth + " retrieved");
  if (meta.index) parts.push("index " + meta.index + ", " + meta.similarity);
  if (meta.created) parts.push("run " + meta.created.replace("T", " ").replace("+00:00", " UTC"));
  document.getElementById("meta").textContent = parts.join(" · ");
  const chips = document.getElementById("model-chips");
  chips.replaceChildren(el("span", "chips-label", "models:"));
  for (const m of v.models) {
    const chip = button(m, "chip", () => toggleModel(m), "Show or hide this model in every table, plot and column");
    const swatch = el("span", "swatch");
    swatch.style.background = modelColour(v.models, m);
    chip.prepend(swatch);
    chip.dataset.model = m;
    chip.setAttribute("aria-pressed", state.hidden.has(m) ? "false" : "true");
    chips.append(chip);
  }
  const warnings = document.getElementById("warnings");
  warnings.replaceChildren(...v.warnings.map((w) => el("p", "warning", "⚠ " + w)),
                           ...(v.task ? v.task.notes : []).map((n) => el("p", "note", "note: " + n)));
}

// A task beyond retrieval: its type, how many units it is scored over, and its protocol's settings.
function taskFacts(task, ds) {
  const parts = ["task: " + task.type];
  if (isNum(ds.units)) parts.push(grouped(ds.units, 0) + " " + (task.unit || "units"));
  for (const [key, value] of Object.entries(task.protocol || {})) {
    if (value !== null && value !== undefined && typeof value !== "object") parts.push(key.replace(/_/g, " ") + " " + value);
  }
  return parts;
}

function drawBanner() {
  const v = state.view, box = document.getElementById("judged-banner");
  box.replaceChildren();
  const n = v.judged.count;
  if (!n && !state.source.canJudge) { box.hidden = true; return; }
  box.hidden = false;
  if (n) {
    box.append(el("b", null, "With your " + plural(n, "judgment") + ": "),
               document.createTextNode("the leaderboard, verdicts, plots and per-query values are re-scored with them merged " +
                                       "into the qrels; a change beside a value shows how it moved."));
  } else {
    box.append(document.createTextNode("Judge hits below: the scores are re-computed with your judgments at once."));
  }
  if (state.source.canJudge) {
    const line = el("div", "regenerate");
    line.append(document.createTextNode("Write the report with them: "), el("code", "command", v.regenerate),
                button("copy", "copy-command", () => copyText(v.regenerate, "the command")));
    box.append(line);
  }
}

function toggleModel(m) {
  if (state.hidden.has(m)) state.hidden.delete(m); else state.hidden.add(m);
  writeParams();
  drawHeader();
  for (const t of Object.values(state.tables)) t.drawBody();
  drawPlots();
  drawMaps();
  if (state.page && state.mode === "side") drawPage();
}

// ---- sections ----

function drawScores() {
  const v = state.view;
  const judged = v.judged.count ? " — with your " + plural(v.judged.count, "judgment") : "";
  if (v.leaderboard) {
    const box = section("leaderboard", "Leaderboard" + judged, v.leaderboard.note);
    const holder = el("div");
    box.append(holder);
    makeTable(holder, v.leaderboard, {best: true, filterLabel: "filter models"});
  }
  if (v.significance) {
    const box = section("significance", "Significance" + judged, v.significance.note);
    for (const w of v.significance.warnings) box.append(el("p", "warning", "⚠ " + w));
    const notes = v.significance.pair_notes;
    if (notes.length) {
      const more = el("details", "more-notes");
      more.append(el("summary", null, plural(notes.length, "note") + " on what these queries can tell apart, pair by pair"));
      for (const w of notes) more.append(el("p", "warning", "⚠ " + w));
      box.append(more);
    }
    const holder = el("div");
    box.append(holder);
    makeTable(holder, v.significance, {rowClass: (r) => r.significant ? "significant" : null, filterLabel: "filter pairs"});
    if (v.win_tie_loss) {
      box.append(el("h3", null, v.win_tie_loss.title));
      const wtl = el("div");
      box.append(wtl);
      makeTable(wtl, v.win_tie_loss, {filterLabel: "filter pairs"});
    }
  }
  drawPlots();
}

function drawPlots() {
  const v = state.view;
  if (!v.tradeoffs.length) return;
  const box = section("tradeoffs", "Quality trade-offs",
                      "Each model is a point in its colour; bars and hover show the 95% confidence interval.");
  const grid = el("div", "figures");
  box.append(grid);
  const figures = v.tradeoffs.map((plot) => {
    const fig = el("figure", "figure");
    fig.id = "fig-" + plot.id;
    grid.append(fig);
    return fig;
  });
  // drawn once all are placed, so each takes the width of its own grid cell
  v.tradeoffs.forEach((plot, i) => drawScatter(figures[i], plot, v.models, state.hidden));
}

function drawStatic() {
  const v = state.view;
  if (v.references) {
    const box = section("references", "Published scores", v.references.note);
    const holder = el("div");
    box.append(holder);
    makeTable(holder, v.references);
  }
  if (v.perf_tables.length) {
    const box = section("perf", "Speed, footprint and cost");
    for (const t of v.perf_tables) {
      box.append(el("h3", null, t.title));
      if (t.note) box.append(el("p", "note", t.note));
      const holder = el("div");
      box.append(holder);
      makeTable(holder, t);
    }
  }
  if (v.recommendation) {
    const r = v.recommendation;
    const box = section("recommendation", "Recommendation");
    const dl = el("dl", "facts");
    dl.append(el("dt", null, "chosen"), el("dd", "chosen", r.chosen || "none meets the constraints"),
              el("dt", null, "Pareto front (quality, cost, latency)"), el("dd", null, r.front.join(", ") || "—"));
    box.append(dl);
    const holder = el("div");
    box.append(holder);
    makeTable(holder, r.table);
    box.append(el("p", "note", r.note));
  }
}

function drawClusters() {
  const v = state.view;
  if (!v.clusters.length) return;
  const box = section("clusters", "Clusters",
                      "Documents (dots) and queries (diamonds) in 2-D. Colour by cluster or by each query's score; " +
                      "search a text; click a point to open it in the explorer.");
  const controls = el("div", "controls");
  const colour = el("select");
  colour.id = "map-colour";
  colour.setAttribute("aria-label", "colour points by");
  colour.append(new Option("colour by cluster", "cluster"), new Option("colour queries by " + v.main_metric, "metric"));
  colour.value = state.colourBy;
  const model = el("select");
  model.id = "map-model";
  model.setAttribute("aria-label", "model whose per-query score colours the queries");
  for (const m of v.models) model.append(new Option(m, m));
  model.value = state.mapModel;
  model.hidden = state.colourBy !== "metric";
  colour.addEventListener("change", () => { state.colourBy = colour.value; model.hidden = colour.value !== "metric"; drawMaps(); });
  model.addEventListener("change", () => { state.mapModel = model.value; drawMaps(); });
  const search = el("input");
  search.type = "search";
  search.id = "map-search";
  search.placeholder = "search the map";
  search.setAttribute("aria-label", "search documents and queries on the map");
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.mapSearch = search.value; drawMaps(); }, 150);
  });
  const found = el("span", "map-found muted");
  found.setAttribute("aria-live", "polite");
  controls.append(colour, model, search, found);
  const maps = el("div", "maps");
  box.append(controls, maps);
  drawMaps();
}

// The maps alone, redrawn when the colouring, the search, the hidden models or the width change.
function drawMaps() {
  const v = state.view, maps = document.querySelector("#clusters .maps");
  if (!maps) return;
  maps.replaceChildren();
  const counts = {docs: 0, queries: 0};
  for (const cmap of v.clusters) {
    const head = el("p", "note");
    const facts = [cmap.title];
    if (isNum(cmap.clusters)) facts.push(plural(cmap.clusters, "cluster") + " (" + cmap.method + ")");
    if (isNum(cmap.silhouette)) facts.push("silhouette " + cmap.silhouette.toFixed(3));
    if (cmap.noise) facts.push(plural(cmap.noise, "noise point"));
    if (cmap.metric && isNum(cmap.metric_mean)) facts.push(cmap.model + " " + cmap.metric + " " + formatValue("metric", cmap.metric_mean) + " overall");
    head.textContent = facts.join(" · ");
    const fig = el("figure", "figure map");
    fig.id = "fig-" + cmap.id;
    maps.append(head, fig);
    const ctx = {docs: v.docs, view: v, colourBy: state.colourBy, model: state.mapModel, search: state.mapSearch,
                 onDoc: (i) => openDocument(v.docs.ids[i]), onQuery: (qid) => selectQuery(qid, true)};
    const m = drawClusterMap(fig, cmap, ctx);
    counts.docs += m.docs;
    counts.queries += m.queries;
    maps.append(clusterLegend(cmap, ctx));
  }
  const needle = state.mapSearch.trim();
  document.querySelector("#clusters .map-found").textContent = !needle ? "" : counts.docs + counts.queries ?
    plural(counts.docs, "document") + ", " + plural(counts.queries, "query", "queries") + " match" :
    "Nothing on the map matches “" + needle + "”.";
}

// ---- explorer ----

function drawExplorer() {
  const v = state.view;
  if (!v.queries.length) return;
  const box = section("explorer", "Per-query explorer");
  const controls = el("div", "controls");
  const k = el("select");
  k.id = "k";
  k.setAttribute("aria-label", "hits per model");
  for (const n of state.source.kOptions) k.append(new Option("top " + n, String(n)));
  k.value = String(state.k);
  k.addEventListener("change", () => { state.k = Number(k.value); writeParams(); refreshScores().then(() => { if (state.selected) selectQuery(state.selected); }); });
  controls.append(k);
  if (state.source.canJudge) {
    const mode = el("select");
    mode.id = "mode";
    mode.setAttribute("aria-label", "view");
    mode.append(new Option("models side by side", "side"), new Option("blind judging (pooled, shuffled)", "blind"));
    mode.value = state.mode;
    mode.addEventListener("change", () => setMode(mode.value));
    controls.append(mode);
  }
  const legend = el("span", "legend marks");
  for (const [mark, label] of [["relevant", "relevant"], ["partly", "partly relevant"], ["not", "not relevant"], ["unjudged", "unjudged"]]) {
    legend.append(el("span", null, v.marks[mark] + " " + label));
  }
  controls.append(legend, button("keys", "keys-help", toggleHelp, "Keyboard shortcuts (?)"));
  box.append(controls);
  const list = el("div");
  list.id = "queries";
  box.append(list);
  const query = el("div");
  query.id = "query";
  query.append(el("p", "note", "Pick a query to see each model's top " + state.k + " side by side" +
                  (state.source.canJudge ? " and judge the hits." : ".")));
  box.append(query);
  const spec = queryTableSpec(v);
  if (!state.params.get("sort.queries")) state.params.set("sort.queries", "spread:desc");
  makeTable(list, spec, {boxClass: "queries-box", filterLabel: "filter queries by id or text", rowId: (r) => r.id,
                         rowClass: (r) => r.id === state.selected ? "query selected" : "query",
                         onRow: (r) => selectQuery(r.id, false), emptyText: "No queries."});
}

function queryProgress(qid) {
  const q = state.view.queries.find((r) => r.id === qid);
  return q ? q.graded + " of " + q.pool + " judged" : "";
}

function selectQuery(qid, scroll) {
  state.selected = qid;
  state.doc = null;
  state.focus = -1;
  writeParams();
  const table = state.tables.queries;
  if (table) {
    table.drawBody();
    const row = table.table.querySelector('tr[data-id="' + CSS.escape(qid) + '"]');
    if (row) row.scrollIntoView({block: "nearest"});
  }
  drawProgress();
  return loadPage(qid).then(() => {
    if (scroll) document.getElementById("query").scrollIntoView({block: "start"});
  });
}

function loadPage(qid) {
  const target = document.getElementById("query");
  const k = state.k;
  const request = state.mode === "blind" ? state.source.pool(qid, k) : state.source.page(qid, k);
  return request.then((page) => {
    if (state.selected !== qid || state.doc) return;  // a later click won
    state.page = page;
    drawPage();
  }).catch((e) => {
    target.replaceChildren(el("p", "warning", "Could not load query " + qid + ": " + e.message));
    setStatus("could not load query: " + e.message, true);
  });
}

function drawPage() {
  const target = document.getElementById("query");
  const opts = {models: state.view.models, hidden: state.hidden, marks: state.view.marks, grades: state.view.grades,
                progress: queryProgress(state.page.id),
                onJudge: state.source.canJudge ? (docId, grade) => judge(state.page.id, docId, grade) : null,
                onDoc: (docId) => openDocument(docId)};
  if (state.mode === "blind" && state.page.docs) renderBlind(target, state.page, opts);
  else if (state.page.columns) renderSideBySide(target, state.page, opts);
  const hits = hitItems();
  if (state.focus >= hits.length) state.focus = hits.length - 1;
  if (state.focus >= 0) hits[state.focus].classList.add("focused");
}

function openDocument(docId) {
  state.doc = docId;
  state.selected = null;
  writeParams();
  if (state.tables.queries) state.tables.queries.drawBody();
  const target = document.getElementById("query");
  return state.source.document(docId, state.k).then((doc) => {
    renderDocument(target, doc, {models: state.view.models, hidden: state.hidden, onQuery: (qid) => selectQuery(qid, true)});
    target.scrollIntoView({block: "start"});
  }).catch((e) => setStatus("could not open document " + docId + ": " + e.message, true));
}

function setMode(mode) {
  state.mode = mode;
  state.focus = -1;
  writeParams();
  const select = document.getElementById("mode");
  if (select) select.value = mode;
  if (state.selected) loadPage(state.selected);
}

function judge(qid, docId, grade) {
  setStatus("saving…");
  return state.source.judge(qid, docId, grade).then((saved) => {
    const line = "saved: " + plural(saved.total, "judgment") + " in " + saved.file;
    setStatus(line + " · re-scoring…");
    // the hit's mark first, then the numbers (re-scoring runs the statistics again)
    const page = state.selected === qid ? loadPage(qid) : Promise.resolve();
    return page.then(refreshScores).then(() => setStatus(line),
                                         (e) => setStatus(line + "; could not re-score: " + e.message, true));
  }, (e) => setStatus("not saved: " + e.message, true));
}

// Re-draw what judgments change: the numbers, the verdicts, the plots, the query list and the progress.
function refreshScores() {
  if (!state.source.canJudge) {
    drawProgress();
    return Promise.resolve();
  }
  return state.source.scores(state.k).then((scores) => {
    Object.assign(state.view, scores);
    for (const id of ["leaderboard", "significance", "wtl"]) delete state.tables[id];
    drawScores();
    drawBanner();
    if (state.tables.queries) state.tables.queries.setRows(queryTableSpec(state.view));
    drawProgress();
  });
}

function drawProgress() {
  const v = state.view, box = document.getElementById("progress");
  if (v.task) { box.textContent = ""; return; }  // no queries to judge in a task's report
  const graded = v.queries.reduce((a, q) => a + q.graded, 0), pool = v.queries.reduce((a, q) => a + q.pool, 0);
  const parts = [];
  if (state.selected) parts.push("this query: " + queryProgress(state.selected));
  parts.push("all queries: " + grouped(graded, 0) + " of " + grouped(pool, 0) + " judged (top " + state.k + ")");
  if (state.source.canJudge) parts.push("yours: " + grouped(v.your_judgments, 0));
  box.textContent = parts.join(" · ");
}

// ---- keyboard ----

function hitItems() {
  return [...document.querySelectorAll("#query li.hit")];
}

function moveFocus(step) {
  const hits = hitItems();
  if (!hits.length) return;
  hits.forEach((h) => h.classList.remove("focused"));
  state.focus = Math.max(0, Math.min(hits.length - 1, state.focus + step));
  const hit = hits[state.focus];
  hit.classList.add("focused");
  hit.scrollIntoView({block: "nearest"});
}

function moveQuery(step) {
  const table = state.tables.queries;
  if (!table) return;
  const rows = table.shown || [];
  if (!rows.length) return;
  const at = rows.findIndex((r) => r.id === state.selected);
  const next = at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.max(0, Math.min(rows.length - 1, at + step));
  selectQuery(rows[next].id, false);
}

function gradeFocused(grade) {
  const hits = hitItems();
  const top = ((state.view.grades || [])[0] || DEFAULT_GRADES[0]).grade;
  if (state.source.canJudge && grade !== null && grade > top) {
    setStatus("grade " + grade + " is not on this data's scale: grades go from 0 to " + top, true);
    return;
  }
  if (!state.source.canJudge || state.focus < 0 || !hits[state.focus] || !state.page) {
    setStatus(state.source.canJudge ? "move to a hit first (j / k)" : "the report is read-only: judge in `embedscope serve`");
    return;
  }
  const hit = hits[state.focus];
  const current = hit.querySelector("button.chosen");
  const withdraw = grade !== null && current && current.dataset.grade === String(grade);
  judge(state.page.id, hit.dataset.docId, withdraw ? null : grade);
}

function toggleHelp() {
  const help = document.getElementById("keys");
  help.hidden = !help.hidden;
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target.tagName || "").toLowerCase();
  if (tag === "input" || tag === "textarea" || tag === "select") {
    if (e.key === "Escape") e.target.blur();
    return;
  }
  const actions = {
    j: () => moveFocus(1), k: () => moveFocus(-1), n: () => moveQuery(1), p: () => moveQuery(-1),
    0: () => gradeFocused(0), 1: () => gradeFocused(1), 2: () => gradeFocused(2), 3: () => gradeFocused(3),
    Backspace: () => gradeFocused(null), Delete: () => gradeFocused(null),
    b: () => state.source.canJudge && setMode(state.mode === "blind" ? "side" : "blind"),
    "/": () => state.tables.queries && state.tables.queries.focusFilter(),
    "?": toggleHelp, Escape: () => { document.getElementById("keys").hidden = true; document.getElementById("copy-panel").hidden = true; },
  };
  const action = actions[e.key];
  if (action) {
    e.preventDefault();
    action();
  }
}

// ---- start ----

function startDashboard(source) {
  state.source = source;
  readParams();
  document.addEventListener("keydown", onKey);
  document.getElementById("copy-close").addEventListener("click", () => { document.getElementById("copy-panel").hidden = true; });
  document.getElementById("keys-close").addEventListener("click", toggleHelp);
  for (const a of document.querySelectorAll("nav a")) {  // scroll, keeping the #fragment for the page's state
    a.addEventListener("click", (e) => {
      e.preventDefault();
      document.getElementById(a.getAttribute("href").slice(1)).scrollIntoView({block: "start"});
    });
  }
  window.addEventListener("hashchange", () => {  // a link followed or pasted into this tab
    if (!state.view) return;
    readParams();
    const qid = state.params.get("q"), doc = state.params.get("doc");
    if (doc && doc !== state.doc) openDocument(doc);
    else if (qid && qid !== state.selected && state.view.queries.some((q) => q.id === qid)) selectQuery(qid, true);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (state.view) { drawPlots(); drawMaps(); } }, 200);
  });
  return source.view().then((view) => {
    state.view = view;
    view.explorer_k = view.k;
    const k = Number(state.params.get("k"));
    state.k = source.kOptions.includes(k) ? k : view.explorer_k;
    state.mode = source.canJudge && state.params.get("mode") === "blind" ? "blind" : "side";
    state.hidden = new Set((state.params.get("hide") || "").split(",").filter((m) => view.models.includes(m)));
    state.mapModel = view.clusters.length && view.models.includes(view.clusters[0].model) ? view.clusters[0].model : view.models[0];
    drawHeader();
    drawBanner();
    drawScores();
    drawClusters();
    drawStatic();
    drawExplorer();
    drawProgress();
    document.getElementById("loading").hidden = true;
    const qid = state.params.get("q"), doc = state.params.get("doc");
    if (doc) return openDocument(doc);
    if (qid && view.queries.some((q) => q.id === qid)) return selectQuery(qid, true);
    return null;
  }).then(() => { document.body.dataset.ready = "true"; }).catch((e) => {
    setStatus("could not load: " + e.message, true);
    document.getElementById("loading").textContent = "Could not load this page's data: " + e.message;
    document.body.dataset.ready = "error";
  });
}
