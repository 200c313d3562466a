"""Console tables (rich) for perf.json and for a recommendation."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from embedscope.report.console import wide_console

from embedscope.perf.footprint import human_bytes


def console() -> Console:
    return wide_console()


def _num(x, fmt="{:,.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def _texts(n: int) -> str:
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return f"{n:,}"


def print_perf(perf: dict, out: Console | None = None) -> None:
    out = out or console()
    if perf["models"]:
        _print_models(perf, out)
    if perf.get("cost"):
        _print_cost(perf, out)
    if "load_test" in perf:
        lt = perf["load_test"]
        lat = lt["latency_ms"]
        out.print(f"load test {lt['url']}: {lt['requests_per_second']:.1f} req/s ({lt['texts_per_second']:.1f} texts/s, "
                  f"{lt['batch']} per request) at concurrency {lt['concurrency']}, "
                  f"p50 {lat.get('p50', 0):.1f} / p95 {lat.get('p95', 0):.1f} / p99 {lat.get('p99', 0):.1f} ms, "
                  f"{lt['succeeded']}/{lt['requests']} ok, errors {lt['errors'] or 'none'}")


def _hours(h: float) -> str:
    return f"{h * 60:.1f} min" if h < 1 else f"{h:,.1f} h"


def _print_models(perf: dict, out: Console) -> None:
    hw = perf["hardware"]
    ds = perf["dataset"]
    t = Table(title=f"Speed on {hw.get('cpu_model') or hw['machine']} ({hw['cpu_count_logical']} logical CPUs), "
                    f"{ds['timed_documents']:,} docs of {ds['name']}", header_style="bold")
    for col in ("model", "dim", "docs/s", "tokens/s", "query p50 ms", "p95", "p99", "load MB", "encode peak MB"):
        t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for m in perf["models"]:
        if "speed" not in m:
            lat = (m.get("retrieval") or {}).get("query_latency_ms") or {}
            if lat:  # a retriever with no encoder (BM25, precomputed vectors, pipelines): retrieval latency only
                t.add_row(escape(m["name"]), "-", "retrieval", "-", _num(lat.get("p50"), "{:.2f}"),
                          _num(lat.get("p95"), "{:.2f}"), _num(lat.get("p99"), "{:.2f}"), "-", "-")
            else:
                t.add_row(escape(m["name"]), "-", f"skipped: {escape(str(m.get('skipped')))}", *["-"] * 6)
            continue
        s, lat = m["speed"], m["speed"]["query_latency_ms"]
        t.add_row(escape(m["name"]), str(s["dim"]), _num(s["docs_per_second"]), _num(s["tokens_per_second"], "{:,.0f}"),
                  _num(lat.get("p50"), "{:.2f}"), _num(lat.get("p95"), "{:.2f}"), _num(lat.get("p99"), "{:.2f}"),
                  _num(s["load_rss_delta_mb"], "{:,.0f}"), _num(s["encode_peak_rss_delta_mb"], "{:,.0f}"))
    out.print(t)
    out.print("[dim]memory: psutil RSS deltas (native allocations included); latency: one query per call after warm-up[/dim]")

    t = Table(title="Footprint: flat index size (HNSW M=32 graph adds its own column)", header_style="bold")
    t.add_column("model")
    t.add_column("vectors", justify="right")
    for p in ("float32", "float16", "int8", "binary"):
        t.add_column(p, justify="right")
    t.add_column("+HNSW graph", justify="right")
    for m in perf["models"]:
        fp = m.get("footprint")
        if not fp:
            continue
        for label, row in fp["flat_index_bytes"].items():
            t.add_row(escape(m["name"]), f"{row['vectors']:,}" + (" (corpus)" if label == "corpus" else ""),
                      *[human_bytes(row[p]) for p in ("float32", "float16", "int8", "binary")],
                      human_bytes(fp["hnsw"]["graph_bytes"][label]))
    out.print(t)
    if perf["models"] and perf["models"][0].get("footprint"):
        out.print(f"[dim]HNSW graph: {perf['models'][0]['footprint']['hnsw']['formula']}[/dim]")


def _print_cost(perf: dict, out: Console) -> None:
    cost = perf["cost"]
    t = Table(title=f"Cost to embed ({cost['currency']}; machines billed at least {cost['min_billed_hours']:g} h)",
              header_style="bold")
    t.add_column("option")
    t.add_column("where")
    t.add_column("tokens/text", justify="right")
    for n in cost["scales"]:
        t.add_column(_texts(n) + (" (corpus)" if n == perf["dataset"]["documents"] else ""), justify="right")
    t.add_column("break-even texts", justify="right")
    t.add_column("as of")
    for row in cost["rows"]:
        be = row.get("break_even")
        be_text = "-" if not be else (f"{be['texts']:,} vs {be['versus']}" if be["texts"] else f"never vs {be['versus']}")
        cells = []
        for n in cost["scales"]:
            c = row["costs"][str(n)]
            # machine time is what a self-hosted row buys: the hours it runs (billed at least the minimum)
            cells.append(f"${c['usd']:,.2f}" + (f" / {_hours(c['hours'])}" if c.get("hours") is not None else ""))
        t.add_row(escape(row["name"]), escape(row["hardware"] or "API"), _num(row["tokens_per_text"]),
                  *cells, escape(be_text), row.get("as_of") or "-")
    out.print(t)
    out.print("[dim]self-hosted cells: cost / machine time to embed that many texts (GPU time from the declared "
              "throughput, CPU time as measured here)[/dim]")


def print_recommendation(advice: dict, out: Console | None = None) -> None:
    out = out or console()
    t = Table(title=f"Models by {advice['metric']} (cost for {advice['scale']:,} texts)", header_style="bold")
    for col in ("model", advice["metric"], "cost", "via", "p95 ms", "dim", "status", "why"):
        t.add_column(col, justify="right" if col in (advice["metric"], "cost", "p95 ms", "dim") else "left")
    for m in sorted(advice["models"], key=lambda m: -(m["quality"] or -1)):
        mark = " †" if m.get("trained_on") else ""
        t.add_row(escape(m["name"]), _num(m["quality"], "{:.4f}") + mark, _num(m["cost_usd"], "${:,.2f}"),
                  escape(m["cost_option"] or "-"), _num(m["latency_ms"], "{:.1f}"), _num(m["dim"], "{}"),
                  m["status"] + (" *" if m["pareto"] else ""), escape("; ".join(m["reasons"] + m["notes"])))
    out.print(t)
    out.print("[dim]* on the Pareto front of quality, cost and latency[/dim]")
    if any(m.get("trained_on") for m in advice["models"]):
        out.print("[yellow]† measured on data the model was trained on (declared by its authors): not zero-shot[/]")
    if advice["chosen"]:
        out.print(f"[bold green]recommended: {escape(advice['chosen'])}[/bold green]")
    else:
        out.print("[bold red]no model meets every constraint[/bold red]; loosen one (see the reasons above)")
