"""Turn expected failures (bad data, bad config, a corrupt cache, an API or server that says no, a full disk, a
bad option) into one clear line and exit code 2, not a traceback or a usage page. With EMBEDSCOPE_TRACEBACK=1 (or
`verbose`) the traceback follows.

Exit codes: 0 done; 2 an expected failure stopped the command (the line says why); 3 partial: some models failed
during the work, each is recorded as failed with its reason, and the other models' results were written;
130 interrupted (Ctrl-C)."""

from __future__ import annotations

import os
import traceback

import click

from embedscope.errors import EmbedscopeError

OK, FAILED, PARTIAL, INTERRUPTED = 0, 2, 3, 130


class ModelsFailed(EmbedscopeError):
    """Every model of a comparison failed: nothing to write."""

    def __init__(self, failed: list):
        lines = [f"{r.name} failed: {r.reason}" for r in failed]
        self.lines = [*lines, f"all {len(lines)} models failed; nothing was written"] if len(lines) > 1 else None
        super().__init__(lines[0] if len(lines) == 1 else f"all {len(lines)} models failed: " + "; ".join(lines))


def require_results(comparison, partial_ok: bool = True) -> None:
    """Stop (exit 2) when no model finished, or when any failed and the command needs them all."""
    failed = comparison.failed
    if failed and (len(failed) == len(comparison.results) or not partial_ok):
        raise ModelsFailed(failed)


def exit_partial(comparison, run_dir) -> None:
    """After the outputs are written: one line per failed model and exit code 3, when any failed."""
    failed = comparison.failed
    if not failed:
        return
    for r in failed:
        click.secho(f"error: {r.name} failed: {r.reason}", fg="red", err=True)
    click.echo(f"partial: {len(failed)} of {len(comparison.results)} models failed; the others' results are in "
               f"{run_dir} (exit code {PARTIAL})", err=True)
    click.get_current_context().exit(PARTIAL)


# ValueError stays for option values that libraries reject with a clear message; OSError for disks and permissions.
EXPECTED = (EmbedscopeError, OSError, ValueError)
verbose = False  # set by the CLI's -v: expected errors then show their traceback too


def run_cli(group: click.Group) -> int:
    try:
        # Without standalone mode click returns a command's ctx.exit(code) instead of raising it.
        code = group.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return INTERRUPTED
    except click.UsageError as e:  # a bad option or argument: the message and where to look, on one line
        where = f" (see '{e.ctx.command_path} -h')" if e.ctx is not None else ""
        click.secho(f"error: {' '.join(e.format_message().split())}{where}", fg="red", err=True)
        return FAILED
    except click.ClickException as e:
        click.secho(f"error: {' '.join(e.format_message().split())}", fg="red", err=True)
        return FAILED
    except click.exceptions.Exit as e:
        return e.exit_code
    except EXPECTED as e:
        if verbose or os.environ.get("EMBEDSCOPE_TRACEBACK") == "1":
            traceback.print_exc()
        for line in getattr(e, "lines", None) or [e]:  # an error with several problems: one line each
            click.secho(f"error: {' '.join(str(line).split())}", fg="red", err=True)
        return FAILED
    return code if isinstance(code, int) else 0
