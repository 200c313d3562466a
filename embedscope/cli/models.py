from __future__ import annotations

import click


@click.command("models")
def command():
    """List the model kinds this installation can run."""
    from embedscope.models import known_kinds

    for kind in known_kinds():
        click.echo(kind)
