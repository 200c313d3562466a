"""summary.md: the leaderboard, statistics and notes of a run as Markdown.

Every value that comes from the user's data or model names (names, ids, query text) is HTML-escaped and kept to
one line, so a Markdown renderer shows it as text: never as markup, never breaking a table.
"""

from __future__ import annotations

import html

from embedscope.models.training_data import MARK as TRAINED_MARK


def fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def leaderboard_rows(comparison) -> list[list[str]]:
    """Models best first by the main metric; one row of formatted cells each. A model trained on this dataset
    has its scores marked (see trust_notes)."""
    main = comparison.main_metric
    ordered = sorted(comparison.results, key=lambda r: -(r.evaluation.mean[main] if r.evaluation else -1))
    rows = []
    for r in ordered:
        if not r.ok:  # a model that failed during the work: listed, with why, last
            rows.append([r.name, "—", *["—" for _ in comparison.metrics], "failed", "—", "—"])
            continue
        means = r.evaluation.mean if r.evaluation else {}
        speed = r.info.get("docs_per_second")
        mark = f" {TRAINED_MARK}" if r.info.get("trained_on") else ""
        rows.append([r.name, str(r.info.get("dim", "—")), *[fmt(means.get(m)) + mark for m in comparison.metrics],
                     f"{speed:,.0f}" if speed else "cached" if r.run.meta.get("kind") == "dense" else "—",
                     runtime_cell(r.info), f"{r.info.get('seconds', 0):.1f}"])
    return rows


LEADERBOARD_HEADER = ["model", "dim"]


def trust_notes(comparison) -> list[str]:
    """One line per model whose scores come from data it was trained on (the mark next to its numbers)."""
    return [f"{TRAINED_MARK} {r.name}: trained on {', '.join(r.info['trained_on'])} (declared by its authors), "
            f"so its scores on {comparison.dataset.name} are not zero-shot"
            for r in comparison.results if r.info.get("trained_on")]


def header(comparison) -> list[str]:
    return [*LEADERBOARD_HEADER, *comparison.metrics, "docs/s", "runtime", "seconds"]


def runtime_cell(info: dict) -> str:
    """What encoded a model's vectors: torch, openvino fp32, openvino-int8 (queries openvino fp32), ..."""
    runtime = info.get("runtime")
    if not runtime:
        return "—"
    quantized = info.get("quantized")
    return f"{runtime} {quantized}" if quantized else str(runtime)


def text(value) -> str:
    """A value as inert Markdown text on one line: HTML escaped, line breaks as spaces."""
    return html.escape(" ".join(str(value).splitlines()), quote=False)


def cell(value) -> str:
    return text(value).replace("|", "\\|")


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def interval_cell(ci: dict) -> str:
    return f"{ci['mean']:.4f} ({ci['low']:.4f}–{ci['high']:.4f})"


def p_cell(p: float, floor: float = 1e-4) -> str:
    """A p-value to 4 places; below `floor` (for a randomization test: one permutation's worth) as '<floor'."""
    return f"<{floor:g}" if p < floor else f"{p:.4f}"


def interval_rows(analysis: dict, metrics: list[str]) -> list[list[str]]:
    """Each model's mean and bootstrap interval per metric, best first."""
    models = analysis["confidence_intervals"]["models"]
    return [[name, *[interval_cell(models[name][m]) if m in models[name] else "—" for m in metrics]]
            for name in analysis["significance"]["order"]]


VERDICT_HEADER = ["A", "B", "verdict", "difference (CI)", "p randomization (Holm)", "p t-test (Holm)"]


def verdict_rows(analysis: dict, metric: str | None = None) -> list[list[str]]:
    """The verdict table of one metric (the main one by default): one row per model pair."""
    sig = analysis["significance"]
    metric = metric or sig["main_metric"]
    resolution = max(1e-4, 1 / sig["permutations"])  # a p of 0 from N sign flips means "below 1/N"
    return [[p["a"], p["b"], p["verdict"],
             f"{p['difference']:+.4f} ({p['difference_low']:+.4f} to {p['difference_high']:+.4f})",
             f"{p_cell(p['p_randomization'], resolution)} ({p_cell(p['p_randomization_holm'], resolution)})",
             f"{p_cell(p['p_ttest'])} ({p_cell(p['p_ttest_holm'])})"]
            for p in sig["pairs"] if p["metric"] == metric]


def win_tie_loss_rows(analysis: dict) -> list[list[str]]:
    return [[w["a"], w["b"], str(w["wins"]), str(w["ties"]), str(w["losses"])]
            for w in analysis["per_query"]["win_tie_loss"]]


def disagreement_rows(analysis: dict, limit: int = 5) -> tuple[list[str], list[list[str]]]:
    """The queries that split the models most: each model's score and top-k marks."""
    names = analysis["significance"]["order"]
    rows = []
    for d in analysis["per_query"]["disagreements"][:limit]:
        query = d["query"] if len(d["query"]) <= 80 else d["query"][:79] + "…"
        rows.append([d["query_id"], query, f"{d['spread']:.3f}",
                     *[f"{d['scores'][n]:.3f} {d.get('marks', {}).get(n, '')}".strip() for n in names]])
    return ["query", "text", "spread", *names], rows


def statistics_markdown(analysis: dict, metrics: list[str]) -> str:
    """Sections for summary.md: intervals, verdicts with warnings, and the per-query view."""
    if not analysis:
        return ""
    ci = analysis["confidence_intervals"]
    sig = analysis["significance"]
    main = sig["main_metric"]
    parts = [
        "## Confidence intervals",
        "",
        f"Mean and {ci['confidence']:.0%} percentile-bootstrap interval over the {ci['queries']} queries "
        f"({ci['resamples']:,} resamples, seed {ci['seed']}).",
        "",
        table(["model", *metrics], interval_rows(analysis, metrics)),
        "",
    ]
    if sig["pairs"]:
        n_pairs = len(verdict_rows(analysis))
        parts += [
            f"## Significance ({main})",
            "",
            f"Paired two-sided randomization test ({sig['permutations']:,} sign flips) decides, "
            f"Holm-corrected across the {n_pairs} model pair{'s' if n_pairs > 1 else ''} at alpha {sig['alpha']}; "
            "the paired t-test is shown beside it. Difference = mean of A - B per query, with its bootstrap interval.",
            "",
            table(VERDICT_HEADER, verdict_rows(analysis)),
            "",
        ]
        parts += [f"> ⚠ {text(w)}" + "  " for w in sig["warnings"]] + ([""] if sig["warnings"] else [])
        head, rows = disagreement_rows(analysis)
        parts += [
            "## Per query",
            "",
            f"Queries where A scores above / equal to / below B on {main}.",
            "",
            table(["A", "B", "wins", "ties", "losses"], win_tie_loss_rows(analysis)),
            "",
        ]
        if rows:
            k = analysis["per_query"]["k"]
            parts += [
                f"Queries the models disagree on most ({main} best minus worst), with each model's score and "
                f"top-{k} hits: ✅ relevant, ⚪ partly relevant, ❌ judged not relevant, ? unjudged. "
                "See them side by side with `embedscope show RUN_DIR --query QID`.",
                "",
                table(head, rows),
                "",
            ]
    return "\n".join(parts)


def summary_markdown(comparison, analysis: dict | None = None) -> str:
    ds = comparison.dataset.summary()
    parts = [
        f"# embedscope: {text(ds['name'])}",
        "",
        f"{ds['documents']:,} documents, {ds['queries']:,} queries, {ds['judgments']:,} judgments "
        f"(grades {', '.join(map(str, ds['grades'])) or 'none'}). Retrieval depth {comparison.settings.get('depth')}, "
        f"index `{comparison.settings.get('index')}`, similarity `{comparison.settings.get('similarity')}`.",
        "",
        "## Leaderboard",
        "",
        table(header(comparison), leaderboard_rows(comparison)),
        "",
        *[f"> {text(note)}  " for note in trust_notes(comparison)],
    ]
    failed = [r for r in comparison.results if not r.ok]
    if failed:
        parts += [f"> ⚠ {len(failed)} of {len(comparison.results)} models failed; the others' results are complete:", ">"]
        parts += [f"> - **{text(r.name)}**: {text(r.reason)}" for r in failed] + [""]
    if analysis:
        parts += [statistics_markdown(analysis, comparison.metrics)]
    parts += failures_markdown(comparison)
    if analysis and analysis.get("references"):
        parts += [references_markdown(analysis["references"]), ""]
    for section in comparison.settings.get("extra_markdown", []):
        parts += [section, ""]
    return "\n".join(parts)


def failures_markdown(comparison, limit: int = 20) -> list[str]:
    """Texts whose vectors were refused and left out (--bad-vectors record): each model's, by id, with the fault."""
    rows = []
    for r in comparison.results:
        for role, found in (r.run.meta.get("failures") or {}).items():
            for text_id, fault in list(found.items())[:limit]:
                rows.append([r.name, role[:-1], text_id, fault])
            if len(found) > limit:
                rows.append([r.name, role[:-1], f"… {len(found) - limit:,} more", ""])
    if not rows:
        return []
    return ["## Failures", "",
            "Texts whose vectors could not be scored: left out, so these documents are never retrieved and these "
            "queries retrieve nothing (they score zero). Every one is listed in results.json.", "",
            table(["model", "text", "id", "fault"], rows), ""]


def references_markdown(section: dict) -> str:
    """Published scores beside this data's, with the rank agreement and its warning."""
    metric, task = section["metric"], section["task"]
    marks = {r["model"]: f" {TRAINED_MARK}" if r.get("trained_on") else "" for r in section["models"]}
    rows = [[r["model"], fmt(r["reference"]) + marks[r["model"]], fmt(r["own"]) + marks[r["model"]], r["source"] or "—"]
            for r in section["models"]]
    rows += [[f"{r['model']} (reference only)", fmt(r["metrics"].get(metric)), "not run here", r["source"]]
             for r in section["reference_only"]]
    ag = section["agreement"]
    split = f", {section['split']} split" if section.get("split") else ""
    lines = [f"## Published scores vs your data ({task}{split}, {metric})", "",
             table(["model", f"published {metric}", f"your data {metric}", "source"], rows), ""]
    lines += [f"{TRAINED_MARK} {r['model']} was trained on {', '.join(r['trained_on'])} (declared by its authors): "
              "these scores are not zero-shot.  " for r in section["models"] if r.get("trained_on")]
    if ag["kendall_tau"] is not None:
        rho = f", Spearman's rho {ag['spearman_rho']:.2f}" if len(ag["rows"]) >= 3 else ""
        lines.append(f"Rank agreement over {len(ag['rows'])} models: Kendall's tau {ag['kendall_tau']:.2f}{rho}.")
    if ag["warning"]:
        lines += ["", f"> ⚠ {text(ag['warning'])}"]
    if ag.get("note"):  # why differing orders made no warning, as the console says
        lines += ["", f"Note: {text(ag['note'])}"]
    return "\n".join(lines)
