"""Interactive cluster map: plotly scatter of documents (by cluster) and queries, text on hover."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np


def hover_text(text: str, limit: int = 200) -> str:
    """Truncated and HTML-escaped: plotly renders tags in hover labels, and corpus text is not ours to trust."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text)


def plot_data(doc_ids, doc_texts, doc_xy, labels, query_ids=(), query_texts=(), query_xy=None,
              query_clusters=None) -> dict:
    """Everything the figure shows, as plain JSON (also read by the HTML report)."""
    data = {"documents": [{"id": str(d), "x": float(x), "y": float(y), "cluster": int(c), "text": hover_text(t)}
                          for d, t, (x, y), c in zip(doc_ids, doc_texts, doc_xy, labels)], "queries": []}
    if query_xy is not None:
        clusters = query_clusters or {}
        data["queries"] = [{"id": str(q), "x": float(x), "y": float(y), "cluster": int(clusters.get(q, -1)),
                            "text": hover_text(t)} for q, t, (x, y) in zip(query_ids, query_texts, query_xy)]
    return data


def figure(data: dict, title: str = "embedding clusters"):
    import plotly.graph_objects as go

    fig = go.Figure()
    docs = data["documents"]
    for cluster in sorted({d["cluster"] for d in docs}):
        members = [d for d in docs if d["cluster"] == cluster]
        fig.add_trace(go.Scattergl(
            x=[d["x"] for d in members], y=[d["y"] for d in members], mode="markers", marker={"size": 5, "opacity": 0.7},
            name="noise" if cluster < 0 else f"cluster {cluster}",
            hovertext=[f"<b>{html.escape(d['id'])}</b><br>{d['text']}" for d in members], hoverinfo="text"))
    if data["queries"]:
        q = data["queries"]
        fig.add_trace(go.Scattergl(
            x=[p["x"] for p in q], y=[p["y"] for p in q], mode="markers", name="queries",
            marker={"symbol": "x", "size": 8, "color": "black"},
            hovertext=[f"<b>query {html.escape(p['id'])}</b> (cluster {p['cluster']})<br>{p['text']}" for p in q],
            hoverinfo="text"))
    fig.update_layout(title=title, template="plotly_white", legend={"itemsizing": "constant"})
    return fig


def write_plot(data: dict, folder: str | Path, stem: str = "clusters", title: str = "embedding clusters") -> dict[str, Path]:
    """<stem>.html (self-contained: plotly.js inlined, opens offline) and <stem>.json."""
    from embedscope.files import write_file  # whole or not at all, and listed in a run directory's files

    folder = Path(folder)
    paths = {"html": folder / f"{stem}.html", "json": folder / f"{stem}.json"}
    write_file(paths["html"], figure(data, title).to_html(include_plotlyjs=True, full_html=True))
    write_file(paths["json"], json.dumps(data, default=_plain))
    return paths


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)
