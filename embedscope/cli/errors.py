"""Turn expected failures (bad data, bad config, unwritable disk) into one clear line, not a traceback."""

from __future__ import annotations

import click

from embedscope.cache import CacheError
from embedscope.config import ConfigError
from embedscope.data import DataError

EXPECTED = (DataError, ConfigError, CacheError, OSError, ValueError)


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
        click.secho(f"error: {e}", fg="red", err=True)
        return 2
    return code if isinstance(code, int) else 0
