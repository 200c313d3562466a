"use strict";
// The `embedscope serve` page: the API lives under the same token path, so relative URLs carry it.

const state = {rows: [], models: [], metric: null, selected: null};

function setStatus(text, isError) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

async function api(path, body) {
  const init = body === undefined ? {} :
    {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch("api/" + path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || response.status + " " + response.statusText);
  return data;
}

function showList() {
  const rows = sortRows(filterRows(state.rows, document.getElementById("filter").value),
                        document.getElementById("sort").value);
  renderQueryList(document.getElementById("queries"), rows, state.models, state.metric, selectQuery, state.selected);
}

async function selectQuery(qid) {
  state.selected = qid;
  showList();
  const k = document.getElementById("k").value;
  try {
    const q = await api("query?id=" + encodeURIComponent(qid) + "&k=" + encodeURIComponent(k));
    if (state.selected !== qid) return;  // a later click won
    renderSideBySide(document.getElementById("query"), q, (docId, grade) => judge(qid, docId, grade));
  } catch (e) {
    setStatus("could not load query: " + e.message, true);
  }
}

async function judge(qid, docId, grade) {
  try {
    const saved = await api("judgments", {query_id: qid, doc_id: docId, grade: grade});
    const row = state.rows.find((r) => r.id === qid);
    if (row) row.judged = saved.judged_for_query;
    setStatus("saved: " + saved.total + " judgment(s) in " + saved.file);
    await selectQuery(qid);
  } catch (e) {
    setStatus("not saved: " + e.message, true);
  }
}

async function start() {
  try {
    const summary = await api("summary");
    document.getElementById("dataset").textContent = summary.dataset;
    document.getElementById("summary").textContent = summary.line;
    state.models = summary.models;
    state.metric = summary.main_metric;
    const k = document.getElementById("k");
    if (![...k.options].some((o) => o.value === String(summary.k))) k.append(new Option(String(summary.k)));
    k.value = String(summary.k);
    state.rows = (await api("queries")).queries;
    showList();
  } catch (e) {
    setStatus("could not load the run: " + e.message, true);
  }
}

document.getElementById("filter").addEventListener("input", showList);
document.getElementById("sort").addEventListener("change", showList);
document.getElementById("k").addEventListener("change", () => { if (state.selected) selectQuery(state.selected); });
start();
