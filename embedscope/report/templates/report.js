"use strict";
// The report's source: the view travels inside the page (gzip + base64 when large), so it opens offline
// and asks nothing of any server. Judging needs `embedscope serve`.

function decodeView(node) {
  if (node.dataset.encoding !== "gzip-base64") return Promise.resolve(JSON.parse(node.textContent));
  const bytes = Uint8Array.from(atob(node.textContent.trim()), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text().then(JSON.parse);
}

class ReportSource {
  constructor(node) {
    this.node = node;
    this.canJudge = false;
    this.kOptions = [];
  }

  view() {
    return decodeView(this.node).then((view) => {
      this.data = view;
      const k = view.explorer ? view.explorer.k : 10;
      this.kOptions = [1, 3, 5, 10, 20, 50, 100].filter((n) => n < k).concat([k]);
      this.missing = new Set(view.docs.missing);
      this.position = new Map(view.queries.map((q, i) => [q.id, i]));
      return view;
    });
  }

  marks(i) {  // doc index -> [grade, judgment, mark] for the documents shown for query i
    const flat = this.data.explorer.marks[i], found = new Map();
    for (let j = 0; j < flat.length; j += 4) found.set(flat[j], [flat[j + 1], flat[j + 2], flat[j + 3]]);
    return found;
  }

  hit(i, rank, score, marks) {
    const docs = this.data.docs;
    const [grade, judgment, mark] = marks.get(i);
    return {rank: rank, doc_id: docs.ids[i], score: score, title: docs.titles[i], text: docs.texts[i], grade: grade,
            judgment: judgment, mark: mark, symbol: this.data.marks[mark], missing: this.missing.has(i)};
  }

  page(qid, k) {
    const v = this.data, i = this.position.get(qid);
    if (i === undefined || !v.explorer) return Promise.reject(new Error("no query " + qid + " in this report"));
    const marks = this.marks(i), shown = new Set();
    const columns = v.models.map((m) => {
      const flat = v.explorer.hits[m][i], hits = [];
      for (let j = 0; j < flat.length && hits.length < k; j += 2) {
        hits.push(this.hit(flat[j], hits.length + 1, flat[j + 1], marks));
        shown.add(flat[j]);
      }
      const metrics = {};
      for (const metric of v.metrics) {
        const value = ((v.per_query[m] || {})[metric] || [])[i];
        if (isNum(value)) metrics[metric] = value;
      }
      return {model: m, metrics: metrics, hits: hits};
    });
    // relevant documents shown at the report's k but not within this k also count as not shown
    let notShown = v.explorer.missed[i];
    for (const [doc, [grade]] of marks) if (grade > 0 && !shown.has(doc)) notShown += 1;
    return Promise.resolve({id: qid, text: v.queries[i].text, k: k, columns: columns, relevant_not_shown: notShown});
  }

  document(docId, k) {
    const v = this.data, i = v.docs.ids.indexOf(docId);
    if (i < 0) return Promise.reject(new Error("document " + docId + " is not in this report"));
    const queries = [];
    if (v.explorer) {
      v.queries.forEach((q, qi) => {
        const ranks = {};
        for (const m of v.models) {
          const flat = v.explorer.hits[m][qi];
          for (let j = 0; j < flat.length && j / 2 < k; j += 2) if (flat[j] === i) ranks[m] = j / 2 + 1;
        }
        const mark = this.marks(qi).get(i);
        const grade = mark ? mark[0] : null;
        if (Object.keys(ranks).length || (grade !== null && grade !== undefined)) queries.push({id: q.id, text: q.text, ranks: ranks, grade: grade});
      });
    }
    return Promise.resolve({doc_id: docId, title: v.docs.titles[i], text: v.docs.texts[i], missing: this.missing.has(i),
                            k: k, queries: queries});
  }
}

startDashboard(new ReportSource(document.getElementById("embedscope-data")));
