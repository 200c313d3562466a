from __future__ import annotations

import click

from embedscope.cli import options


@options.command("report", aliases=(options.Alias("--k", "--hits"),))
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="HTML file to write [RUN_DIR/report.html].")
@options.HITS
@click.option("--max-queries", type=click.IntRange(1), help="Explorer keeps this many queries, most disputed first [all].")
@click.option("--max-chars", default=600, show_default=True, type=click.IntRange(50),
              help="Document text shown per hit (the rest is cut, to keep the file small).")
@click.option("--with-judgments", is_flag=True,
              help="Re-score the run with the judgments made in `embedscope serve` (RUN_DIR/judgments/qrels.tsv) "
                   "merged into the qrels; the report shows how each number moved.")
def command(run_dir, output, hits, max_queries, max_chars, with_judgments):
    """Write one self-contained HTML report of a run directory (opens offline)."""
    from embedscope.report.html import write_report

    path = write_report(run_dir, output, k=hits, max_queries=max_queries, max_chars=max_chars, with_judgments=with_judgments)
    size = path.stat().st_size / 1e6
    click.echo(f"report written to {path} ({size:.1f} MB)")
