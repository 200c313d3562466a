from __future__ import annotations

import contextlib

import click

from embedscope.cli import options


@options.command("serve", aliases=(options.Alias("--k", "--hits"),))
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind (127.0.0.1 or ::1).")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks a free one.")
@options.HITS
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--active", "active_order", is_flag=True,
              help="Blind judging lists each query's pool in judge-next's order (most informative first).")
def command(run_dir, host, port, hits, open_browser, active_order):
    """Browse queries, compare models side by side and judge hits in a local web app.

    The page is the report's, live: judgments are saved as graded qrels (2 relevant, 1 partly, 0 not) in
    RUN_DIR/judgments/qrels.tsv and the scores and verdicts are re-computed with them at once.
    `embedscope report RUN_DIR --with-judgments` writes the report with them.
    """
    from embedscope.webui import Explorer, WebApp, make_server
    from embedscope.webui.server import LOOPBACK

    if host not in LOOPBACK:  # say so before the (slow) dataset reload
        raise click.BadParameter(f"{host}: serve binds a loopback address only (127.0.0.1, ::1)", param_hint="--host")
    click.echo(f"loading {run_dir} ...", err=True)
    app = WebApp(Explorer(run_dir), k=hits)
    if active_order:
        app.judge_order = app.active.order
    server = make_server(app, host, port)
    click.echo(f"embedscope serve: open {server.url}")
    click.echo(f"judgments go to {app.explorer.judgments.path}; Ctrl-C stops", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    with server, contextlib.suppress(KeyboardInterrupt):  # leaving the block closes the socket
        server.serve_forever()
