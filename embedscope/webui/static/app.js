"use strict";
// The source of `embedscope serve`: the same page as the report, its data from the app's JSON API (under
// the same token path, so relative URLs carry the token), with judging and live re-scoring.

function api(path, body) {
  const init = body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  return fetch("api/" + path, init).then((response) => response.json().catch(() => ({})).then((data) => {
    if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
    return data;
  }));
}

const query = (params) => Object.entries(params).map(([k, v]) => k + "=" + encodeURIComponent(v)).join("&");

class AppSource {
  constructor() {
    this.canJudge = true;
    this.kOptions = [5, 10, 20, 50, 100];
  }

  view() {
    return api("view").then((view) => {
      if (!this.kOptions.includes(view.k)) this.kOptions = this.kOptions.concat([view.k]).sort((a, b) => a - b);
      return view;
    });
  }

  page(qid, k) { return api("query?" + query({id: qid, k: k})); }

  pool(qid, k) { return api("pool?" + query({id: qid, k: k})); }

  document(docId, k) { return api("document?" + query({id: docId, k: k})); }

  judge(qid, docId, grade) { return api("judgments", {query_id: qid, doc_id: docId, grade: grade}); }

  scores(k) { return api("scores?" + query({k: k})); }

  active(n) { return api("active?" + query({n: n})); }
}

const source = new AppSource();
startDashboard(source).then(() => startActive(source));
