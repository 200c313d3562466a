"""Plotly figures for the sweeps, written as self-contained HTML (plotly.js inlined: opens offline)."""

from __future__ import annotations

from pathlib import Path


def recall_qps_figure(sweeps, k: int):
    """Recall@k of the exact top-k (x) against queries per second (y, log), one line per model and index."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for sweep in sweeps:
        families: dict[str, list[dict]] = {}
        for row in sweep.rows:
            families.setdefault(row["family"], []).append(row)
        for fam, rows in families.items():
            rows = sorted(rows, key=lambda r: r[f"recall@{k}"])
            main = sweep.metrics[0]
            fig.add_trace(go.Scatter(
                x=[r[f"recall@{k}"] for r in rows], y=[r["qps_batch"] for r in rows],
                mode="lines+markers", name=f"{sweep.model} · {fam}",
                text=[f"{r['spec']}<br>{main} {r['metrics'].get(main, float('nan')):.4f}<br>"
                      f"single-query QPS {r['qps_single']:,.0f}<br>build {r['build_seconds']:.2f}s, "
                      f"{r['index_bytes'] / 2**20:.1f} MiB" for r in rows],
                hovertemplate="%{text}<br>recall %{x:.4f}, QPS %{y:,.0f}<extra></extra>",
            ))
    threads = sweeps[0].settings.get("threads") if sweeps else None
    fig.update_layout(
        title=f"Recall@{k} vs queries per second (batched search, {threads or 'all'} thread(s))",
        xaxis_title=f"recall@{k} (share of exact top-{k} found)", yaxis_title="queries / second (log)",
        yaxis_type="log", template="plotly_white", legend_title="model · index",
    )
    return fig


def compression_figure(sweeps):
    """Bytes per vector (x, log) against the main metric's delta vs float32, with its bootstrap interval."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for sweep in sweeps:
        main = sweep.metrics[0]
        rows = sweep.rows
        fig.add_trace(go.Scatter(
            x=[r["bytes_per_vector"] for r in rows], y=[r["delta"][main] for r in rows],
            error_y={"type": "data", "symmetric": False,
                     "array": [r["ci"][main][1] - r["delta"][main] for r in rows],
                     "arrayminus": [r["delta"][main] - r["ci"][main][0] for r in rows]},
            mode="markers+text", text=[r["option"] for r in rows], textposition="top center",
            name=sweep.model,
        ))
    main = sweeps[0].metrics[0] if sweeps else "metric"
    fig.add_hline(y=0, line_dash="dot")
    fig.update_layout(title=f"{main} change vs float32 exact, by storage per vector",
                      xaxis_title="bytes per vector in the index (log)", xaxis_type="log",
                      yaxis_title=f"Δ {main} (95% bootstrap interval)", template="plotly_white")
    return fig


def write_html(fig, path: str | Path) -> Path:
    path = Path(path)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
