"use strict";
// Active judging in `embedscope serve`: one pooled (query, document) pair at a time, in `embedscope judge-next`'s
// order (the pair that can move the open comparisons most, across all queries), and after every judgment each
// pair of models' verdict, its interval, the probability that the order holds, and whether the decision is
// settled. Judging is blind here too: no model names, ranks or scores beside the document.
// Uses the dashboard's helpers (el, button, makeTable, section, renderHit, refreshScores, setStatus) and
// source.active(n) -> Promise of the state (embedscope.noqrels.active.ActiveJudging.state).

const active = {state: null, skipped: new Set(), busy: false};
const ACTIVE_BATCH = 20;  // next pairs fetched at once: enough to skip a few without asking again

function activeNav() {
  const nav = document.querySelector("nav[aria-label=sections]");
  if (!nav || nav.querySelector('a[href="#active"]')) return;
  const link = el("a", null, "active judging");
  link.href = "#active";
  link.hidden = true;
  nav.prepend(link);
}

function activeSection() {
  let box = document.getElementById("active");
  if (!box) {
    box = el("section");
    box.id = "active";
    box.hidden = true;
    const explorer = document.getElementById("explorer");
    explorer.parentNode.insertBefore(box, explorer);
  }
  return box;
}

function loadActive(source) {
  return source.active(ACTIVE_BATCH).then((found) => {
    active.state = found;
    drawActive(source);
  }).catch((e) => {
    const box = section("active", "Active judging");
    box.append(el("p", "warning", "Active judging is not available for this run: " + e.message));
  });
}

function verdictSpec(found) {
  const pct = (p) => p >= 1 ? "100%" : p > 0.9999 ? "> 99.99%" : (100 * p).toFixed(p > 0.999 ? 2 : 1) + "%";
  const rows = found.verdicts.map((v) => ({
    a: v.a, b: v.b, verdict: v.verdict, estimate: v.estimate, "ci:estimate": [v.low, v.high], now: v.current,
    probability: pct(v.probability),
    bound: formatValue("delta", v.bound_low) + " to " + formatValue("delta", v.bound_high),
    settled: v.settled_by === "bound" ? "yes: no judgment left can flip it" :
             v.settled_by === "interval" ? "yes: the interval excludes 0" :
             "no (" + plural(v.unjudged, "pair") + " can move it)",
    is_settled: v.settled,
  }));
  const level = Math.round((1 - found.alpha) * 100);
  return {
    id: "active-verdicts", title: "Verdicts", model_key: null, rows: rows,
    columns: [
      {key: "a", label: "model A", kind: "model"}, {key: "b", label: "model B", kind: "model"},
      {key: "verdict", label: "verdict", kind: "text"},
      {key: "estimate", label: "A − B once judged (" + level + "% interval)", kind: "delta",
       help: "Expected " + found.metric + " difference once every pooled pair is judged, with its interval."},
      {key: "now", label: "A − B now", kind: "delta",
       help: "The difference with unjudged pairs counted as not relevant."},
      {key: "probability", label: "P(order holds)", kind: "text",
       help: "Probability that the final difference has this sign."},
      {key: "bound", label: "can still end in", kind: "text",
       help: "MTC's bound: the lowest and highest final difference over every way the rest could be judged."},
      {key: "settled", label: "settled", kind: "text"},
    ],
  };
}

function drawActive(source) {
  const found = active.state;
  const box = section("active", "Active judging",
                      "The pair that can change the comparison of the models most, across all queries (Minimal Test " +
                      "Collections weights, " + found.metric + "). Judge it; the verdicts below update at once.");
  const status = el("p", found.settled ? "settled" : "open");
  status.id = "active-status";
  status.textContent = found.settled ?
    "Settled: every pair of models has its verdict, after " + plural(found.judgments, "judgment") + " (" +
    grouped(found.judged, 0) + " of " + grouped(found.pool, 0) + " pooled pairs labelled). You can stop judging." :
    found.settled_pairs + " of " + plural(found.pairs, "pair") + " of models settled · " +
    plural(found.judgments, "judgment") + " · " + grouped(found.judged, 0) + " of " + grouped(found.pool, 0) +
    " pooled pairs labelled.";
  box.append(status);
  const holder = el("div");
  box.append(holder);
  makeTable(holder, verdictSpec(found), {rowClass: (r) => r.is_settled ? "significant" : null});
  const next = found.next.find((p) => !active.skipped.has(p.query_id + "\u0000" + p.doc_id));
  const card = el("div", "active-next");
  card.id = "active-next";
  box.append(card);
  if (!next) {
    card.append(el("p", "note", found.next.length ? "You skipped every pair offered; reload to see them again." :
                                                   "Every pooled pair is judged."));
    return;
  }
  card.append(el("h3", null, found.settled ? "If you go on, the next pair" : "Judge next"));
  card.append(queryHead({id: next.query_id, text: next.query}, "how relevant is this document to the query?"));
  const list = el("ol", "hits blind");
  list.append(renderHit({doc_id: next.doc_id, title: next.title, text: next.text, judgment: null, mark: "unjudged",
                         symbol: state.view.marks.unjudged},
                        {grades: state.view.grades, marks: state.view.marks,
                         onJudge: (docId, grade) => judgeActive(source, next.query_id, docId, grade),
                         onDoc: (docId) => openDocument(docId)}));
  card.append(list);
  card.append(button("skip", "active-skip", () => {
    active.skipped.add(next.query_id + "\u0000" + next.doc_id);
    drawActive(source);
  }, "Show the following pair instead"));
}

function judgeActive(source, qid, docId, grade) {
  if (active.busy || grade === null) return Promise.resolve();
  active.busy = true;
  setStatus("saving…");
  return source.judge(qid, docId, grade).then((saved) => {
    setStatus("saved: " + plural(saved.total, "judgment") + " in " + saved.file);
    return Promise.all([refreshScores(), loadActive(source)]);
  }).catch((e) => setStatus("not saved: " + e.message, true)).finally(() => { active.busy = false; });
}

function startActive(source) {
  if (!source.active || !state.view || state.view.models.length < 2) return Promise.resolve();
  activeNav();
  activeSection();
  return loadActive(source);
}
