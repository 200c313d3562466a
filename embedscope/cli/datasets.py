"""`embedscope datasets`: what is in the data cache and what can be fetched; `datasets add` registers a local copy."""

from __future__ import annotations

import click

DIR_OPTION = click.option("--dir", "root", metavar="DIR", envvar="EMBEDSCOPE_DATASETS",
                          help="Data cache folder [$EMBEDSCOPE_DATASETS or ~/.cache/embedscope/datasets].")


@click.group("datasets", invoke_without_command=True)
@DIR_OPTION
@click.pass_context
def command(ctx, root):
    """List named datasets: cached or registered here, and the BEIR sets that can be fetched (size, licence)."""
    ctx.obj = {"root": root}
    if ctx.invoked_subcommand is None:
        _list(root)


def _list(root) -> None:
    from embedscope.data.named import home, human_bytes, listing

    rows = listing(root)
    click.echo(f"data cache: {home(root)}")
    width = max(len(r.name) for r in rows)
    for r in rows:
        size = human_bytes(r.bytes) if r.bytes is not None else "-"
        where = f"-> {r.path}" if r.state == "registered" else ""
        extra = "; ".join(x for x in (where, r.licence, r.note) if x)
        click.echo(f"{r.name:<{width}}  {r.state:<10}  {size:>9}  {extra}")


@command.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True))
@click.option("--copy", is_flag=True, help="Copy a folder into the cache instead of linking to it.")
@DIR_OPTION
@click.pass_context
def add(ctx, name, path, copy, root):
    """Register PATH (a dataset folder, or a .zip such as BEIR's) as dataset NAME, for machines without internet.

    A BEIR zip is checked against BEIR's md5 and unpacked into the cache; a folder is linked (or copied)."""
    from embedscope.data.named import register

    where = register(name, path, root=root or ctx.obj["root"], copy=copy)
    click.echo(f"{name} -> {where}")


@command.command("remove")
@click.argument("name")
@DIR_OPTION
@click.pass_context
def remove(ctx, name, root):
    """Remove dataset NAME from the data cache (a registered folder itself is left alone)."""
    from embedscope.data.named import remove as remove_entry

    click.echo(f"removed {remove_entry(name, root or ctx.obj['root'])}")


@command.command("fetch")
@click.argument("names", nargs=-1, required=True)
@DIR_OPTION
@click.pass_context
def fetch(ctx, names, root):
    """Download BEIR datasets into the cache now (checksummed), e.g. before going offline."""
    from embedscope.data.named import resolve

    for name in names:
        click.echo(f"{name}: {resolve(name, root=root or ctx.obj['root'], say=lambda m: click.echo(m, err=True))}")
