"""Turn expected failures (bad data, bad config, a corrupt cache, an API or server that says no, a full disk) into
one clear line and exit code 2, not a traceback. With EMBEDSCOPE_TRACEBACK=1 (or `verbose`) the traceback follows."""

from __future__ import annotations

import os
import traceback

import click

from embedscope.errors import EmbedscopeError

# ValueError stays for option values that libraries reject with a clear message; OSError for disks and permissions.
EXPECTED = (EmbedscopeError, OSError, ValueError)
verbose = False  # set by the CLI's -v: expected errors then show their traceback too


def run_cli(group: click.Group) -> int:
    try:
        # Without standalone mode click returns a command's ctx.exit(code) instead of raising it.
        code = group.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except EXPECTED as e:
        if verbose or os.environ.get("EMBEDSCOPE_TRACEBACK") == "1":
            traceback.print_exc()
        click.secho(f"error: {e}", fg="red", err=True)
        return 2
    return code if isinstance(code, int) else 0
