"use strict";
// The report's explorer: data comes precomputed in #explorer-data (a JSON block, never executed).
(function () {
  const source = document.getElementById("explorer-data");
  if (!source) return;
  const data = JSON.parse(source.textContent);
  let selected = null;
  function show() {
    const rows = sortRows(filterRows(data.queries, document.getElementById("filter").value),
                          document.getElementById("sort").value);
    renderQueryList(document.getElementById("queries"), rows, data.models, data.metric, select, selected);
  }
  function select(qid) {
    selected = qid;
    show();
    renderSideBySide(document.getElementById("query"), data.pages[qid], null);
  }
  document.getElementById("filter").addEventListener("input", show);
  document.getElementById("sort").addEventListener("change", show);
  show();
})();
