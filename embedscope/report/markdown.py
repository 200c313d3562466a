from __future__ import annotations


def fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def leaderboard_rows(comparison) -> list[list[str]]:
    """Models best first by the main metric; one row of formatted cells each."""
    main = comparison.main_metric
    ordered = sorted(comparison.results, key=lambda r: -(r.evaluation.mean[main] if r.evaluation else -1))
    rows = []
    for r in ordered:
        means = r.evaluation.mean if r.evaluation else {}
        speed = r.info.get("docs_per_second")
        rows.append([r.name, str(r.info.get("dim", "—")), *[fmt(means.get(m)) for m in comparison.metrics],
                     f"{speed:,.0f}" if speed else "cached" if r.run.meta.get("kind") == "dense" else "—",
                     f"{r.info.get('seconds', 0):.1f}"])
    return rows


LEADERBOARD_HEADER = ["model", "dim"]


def header(comparison) -> list[str]:
    return [*LEADERBOARD_HEADER, *comparison.metrics, "docs/s", "seconds"]


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_markdown(comparison) -> str:
    ds = comparison.dataset.summary()
    parts = [
        f"# embedscope: {ds['name']}",
        "",
        f"{ds['documents']:,} documents, {ds['queries']:,} queries, {ds['judgments']:,} judgments "
        f"(grades {', '.join(map(str, ds['grades'])) or 'none'}). Retrieval depth {comparison.settings.get('depth')}, "
        f"index `{comparison.settings.get('index')}`, similarity `{comparison.settings.get('similarity')}`.",
        "",
        "## Leaderboard",
        "",
        table(header(comparison), leaderboard_rows(comparison)),
        "",
    ]
    for section in comparison.settings.get("extra_markdown", []):
        parts += [section, ""]
    return "\n".join(parts)
