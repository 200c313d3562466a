"use strict";
// Tables users expect: click a header to sort (again to reverse), a filter box, columns to show or hide,
// copy as CSV or Markdown, models hidden everywhere at once. A table spec comes from the view:
// {id, title, columns: [{key, label, kind, help, hidden}], rows: [{key: raw value}], note, model_key}.
// A row may carry "ci:KEY" (an interval shown under the value), "before:KEY" (the value before your
// judgments, shown as a change) and "mark:KEY" ({text, title}: a mark after the value, e.g. a score measured on
// the model's own training data).

function compareValues(a, b) {
  if (a === null || a === undefined || a === "" || b === null || b === undefined || b === "") return 0;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, {numeric: true, sensitivity: "base"});
}

function sortKey(column, row) {
  const v = row[column.key];
  return column.kind === "progress" && row["sort:" + column.key] !== undefined ? row["sort:" + column.key] : v;
}

function rowText(spec, row) {
  return spec.columns.map((c) => row[c.key] === null || row[c.key] === undefined ? "" : String(row[c.key])).join(" ").toLowerCase();
}

class DataTable {
  // opts: {state: {sort: {key, dir}, filter, hidden: Set of column keys}, onState(state), hiddenModels: Set,
  //        best: bool (bold the best value of each metric column), onRow(row), rowClass(row), rowId(row),
  //        boxClass, cellExtra(column, row) -> node or null, filterLabel, emptyText}
  constructor(container, spec, opts) {
    this.container = container;
    this.spec = spec;
    this.opts = opts || {};
    const state = this.opts.state || {};
    this.state = {sort: state.sort || null, filter: state.filter || "",
                  hidden: new Set(state.hidden || spec.columns.filter((c) => c.hidden).map((c) => c.key))};
    this.render();
  }

  setRows(spec) {
    this.spec = spec;
    this.drawBody();
  }

  hiddenModels() {
    return this.opts.hiddenModels || new Set();
  }

  visibleColumns() {
    return this.spec.columns.filter((c) => !this.state.hidden.has(c.key) && !(c.model && this.hiddenModels().has(c.model)));
  }

  visibleRows() {
    const spec = this.spec, hidden = this.hiddenModels();
    let rows = spec.rows.filter((r) => !spec.model_key || !hidden.has(r[spec.model_key]) && !(spec.model_key === "a" && hidden.has(r.b)));
    const needle = this.state.filter.trim().toLowerCase();
    if (needle) rows = rows.filter((r) => rowText(spec, r).includes(needle));
    const sort = this.state.sort;
    const column = sort && spec.columns.find((c) => c.key === sort.key);
    if (column) {
      const dir = sort.dir === "desc" ? -1 : 1;
      const missing = (v) => (v === null || v === undefined || v === "" ? 1 : 0);
      // unknown values last whichever the direction; equal values keep their order
      rows = rows.map((r, i) => [r, i, sortKey(column, r)])
        .sort((x, y) => missing(x[2]) - missing(y[2]) || dir * compareValues(x[2], y[2]) || x[1] - y[1])
        .map((p) => p[0]);
    }
    return rows;
  }

  changed() {
    if (this.opts.onState) this.opts.onState(this.state);
  }

  render() {
    const spec = this.spec;
    this.container.replaceChildren();
    const tools = el("div", "table-tools");
    const filter = el("input", "table-filter");
    filter.type = "search";
    filter.placeholder = this.opts.filterLabel || "filter " + spec.title.toLowerCase();
    filter.setAttribute("aria-label", filter.placeholder);
    filter.value = this.state.filter;
    filter.addEventListener("input", () => { this.state.filter = filter.value; this.drawBody(); this.changed(); });
    this.filterInput = filter;
    tools.append(filter, this.columnChooser(),
                 button("copy CSV", "copy-csv", () => this.copy("csv"), "Copy the rows shown as CSV"),
                 button("copy Markdown", "copy-md", () => this.copy("md"), "Copy the rows shown as a Markdown table"));
    this.container.append(tools);
    const box = el("div", "table-box " + (this.opts.boxClass || ""));
    this.table = el("table", "data-table");
    this.table.id = "table-" + spec.id;
    box.append(this.table);
    this.container.append(box);
    this.drawBody();
  }

  columnChooser() {
    const details = el("details", "column-chooser");
    details.append(el("summary", null, "columns"));
    const list = el("div", "column-list");
    for (const c of this.spec.columns) {
      if (c.key === (this.spec.model_key || "")) continue;
      const label = el("label");
      const box = el("input");
      box.type = "checkbox";
      box.checked = !this.state.hidden.has(c.key);
      box.addEventListener("change", () => {
        if (box.checked) this.state.hidden.delete(c.key); else this.state.hidden.add(c.key);
        this.drawBody();
        this.changed();
      });
      label.append(box, document.createTextNode(" " + c.label));
      list.append(label);
    }
    details.append(list);
    return details;
  }

  best() {
    const found = {};
    if (!this.opts.best) return found;
    const hidden = this.hiddenModels();
    for (const c of this.spec.columns) {
      if (c.kind !== "metric") continue;
      const values = this.spec.rows.filter((r) => !hidden.has(r[this.spec.model_key])).map((r) => r[c.key]).filter(isNum);
      if (values.length > 1) found[c.key] = Math.max(...values);
    }
    return found;
  }

  drawBody() {
    const columns = this.visibleColumns(), rows = this.visibleRows(), best = this.best();
    const head = el("tr");
    for (const c of columns) {
      const th = el("th", numericKind(c.kind) ? "num" : null);
      const sorted = this.state.sort && this.state.sort.key === c.key ? this.state.sort.dir : null;
      th.setAttribute("aria-sort", sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : "none");
      const b = button(c.label, "sort", () => this.sortBy(c), (c.help ? c.help + " " : "") + "Click to sort.");
      b.dataset.key = c.key;
      if (sorted) b.append(el("span", "arrow", sorted === "asc" ? " ▲" : " ▼"));
      th.append(b);
      if (c.help) th.dataset.help = c.help;
      head.append(th);
    }
    const thead = el("thead");
    thead.append(head);
    const body = el("tbody");
    for (const row of rows) body.append(this.drawRow(row, columns, best));
    if (!rows.length) {
      const tr = el("tr", "empty");
      const td = el("td", "note", this.state.filter.trim() ?
        "No row matches “" + this.state.filter.trim() + "”." : (this.opts.emptyText || "No rows (every model hidden?)."));
      td.colSpan = Math.max(columns.length, 1);
      tr.append(td);
      body.append(tr);
    }
    this.table.replaceChildren(thead, body);
    this.shown = rows;
  }

  drawRow(row, columns, best) {
    const tr = el("tr", this.opts.rowClass ? this.opts.rowClass(row) : null);
    if (this.opts.rowId) tr.dataset.id = this.opts.rowId(row);
    if (this.opts.onRow) {
      tr.tabIndex = 0;
      tr.classList.add("clickable");
      tr.addEventListener("click", () => this.opts.onRow(row));
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter") this.opts.onRow(row); });
    }
    for (const c of columns) tr.append(this.cell(c, row, best));
    return tr;
  }

  cell(c, row, best) {
    const v = row[c.key];
    const td = el("td", numericKind(c.kind) ? "num" : "text");
    td.dataset.key = c.key;
    if (c.kind === "model" && v !== null && v !== undefined) {
      const swatch = el("span", "swatch");
      swatch.style.background = modelColour(this.opts.models || [], v);
      td.append(swatch, el("span", "model-name", v));
      td.classList.add("model-cell");
    } else {
      td.append(el("span", "value", formatValue(c.kind, v, {floor: this.spec.p_floor})));
    }
    if (c.kind === "metric" && isNum(v) && best[c.key] === v) td.classList.add("best");
    const mark = row["mark:" + c.key];
    if (mark && mark.text) {
      const m = el("span", "mark", " " + mark.text);
      m.title = mark.title || "";
      td.append(m);
    }
    const before = row["before:" + c.key];
    if (isNum(before) && isNum(v)) {
      const change = v - before;
      const moved = Math.abs(change) > 1e-12;
      const delta = el("span", "delta " + (change > 0 && moved ? "up" : change < 0 && moved ? "down" : "same"),
                       moved ? formatValue("delta", change) + " from\u00a0" + formatValue(c.kind, before) : "unchanged");
      delta.title = "before your judgments: " + formatValue(c.kind, before);
      td.append(delta);
    }
    if (row["ci:" + c.key]) td.append(el("span", "ci", formatCI(row["ci:" + c.key], c.kind === "delta" ? "delta" : "metric")));
    if (c.key === "docs_per_second" && row.speed_source) td.title = row.speed_source;
    if (c.kind === "text" && typeof v === "string" && v.length > 80) td.title = v;
    const extra = this.opts.cellExtra ? this.opts.cellExtra(c, row) : null;
    if (extra) td.append(extra);
    return td;
  }

  sortBy(column) {
    const current = this.state.sort;
    // numbers start high-to-low (best first), text A to Z
    const first = numericKind(column.kind) ? "desc" : "asc";
    const dir = current && current.key === column.key ? (current.dir === "asc" ? "desc" : "asc") : first;
    this.state.sort = {key: column.key, dir: dir};
    this.drawBody();
    this.changed();
  }

  // The rows and columns on screen, as CSV (plain numbers, CIs in their own columns) or Markdown (as shown).
  text(format) {
    const columns = this.visibleColumns(), rows = this.shown || this.visibleRows();
    const header = [], lines = [];
    for (const c of columns) {
      header.push(c.label);
      if (format === "csv" && rows.some((r) => r["ci:" + c.key])) header.push(c.label + " CI low", c.label + " CI high");
    }
    for (const r of rows) {
      const cells = [];
      for (const c of columns) {
        const shown = c.kind === "model" ? String(r[c.key]) : formatValue(c.kind, r[c.key], {floor: this.spec.p_floor});
        if (format === "csv") {  // numbers without thousands separators or currency sign, for spreadsheets
          cells.push(numericKind(c.kind) ? shown.replace(/,/g, "").replace(/^\$/, "") : shown);
          if (rows.some((x) => x["ci:" + c.key])) {
            const ci = r["ci:" + c.key] || [null, null];
            cells.push(formatValue("metric", ci[0]), formatValue("metric", ci[1]));
          }
        } else {
          cells.push(shown + (r["ci:" + c.key] ? " " + formatCI(r["ci:" + c.key]) : ""));
        }
      }
      lines.push(cells);
    }
    if (format === "csv") return [header, ...lines].map((cells) => cells.map(csvCell).join(",")).join("\n") + "\n";
    const md = (cells) => "| " + cells.map((x) => String(x).replace(/\|/g, "\\|").replace(/\n/g, " ")).join(" | ") + " |";
    return [md(header), "|" + header.map((_, i) => numericKind(columns[i] && columns[i].kind) ? "---:" : "---").join("|") + "|",
            ...lines.map(md)].join("\n") + "\n";
  }

  copy(format) {
    copyText(this.text(format), plural((this.shown || []).length, "row") + " of " + this.spec.title + " as " +
             (format === "csv" ? "CSV" : "Markdown"));
  }

  focusFilter() {
    this.filterInput.focus();
  }
}

function numericKind(kind) {
  return ["metric", "delta", "p", "int", "rate", "ms", "s", "mb", "bytes", "usd", "usd_small", "params_m", "num"].includes(kind);
}

function csvCell(text) {
  const s = String(text);
  return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

// The clipboard API where the page may use it; otherwise the text in a box, selected, to copy by hand.
function copyText(text, what) {
  const done = () => setStatus("copied " + what);
  const fallback = () => {
    const panel = document.getElementById("copy-panel");
    const area = panel.querySelector("textarea");
    area.value = text;
    panel.hidden = false;
    area.focus();
    area.select();
    setStatus("select-all is done: press Ctrl+C (or ⌘C) to copy " + what);
  };
  if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}
