"""`embedscope server start|stop|status`: a local Milvus, Redis or PostgreSQL for a trial, on 127.0.0.1.

The server outlives the command: its PID, port and folders go to a small state file (one per kind, in
EMBEDSCOPE_SERVERS, else $XDG_CACHE_HOME/embedscope/servers), and `stop` ends that PID.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

KINDS = ("milvus", "redis", "postgres")


def state_dir() -> Path:
    if os.environ.get("EMBEDSCOPE_SERVERS"):
        return Path(os.environ["EMBEDSCOPE_SERVERS"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "embedscope" / "servers"


def _state_file(kind: str) -> Path:
    return state_dir() / f"{kind}.json"


def _running(kind: str) -> dict | None:
    """The recorded server of this kind if its process is still alive; a stale record is removed."""
    from embedscope.servers import process_alive

    path = _state_file(kind)
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if process_alive(int(state["pid"])):
        return state
    path.unlink(missing_ok=True)
    return None


def _default_data_dir(kind: str) -> Path:
    """A folder per kind beside the state files; for PostgreSQL started by root, one under the temp folder:
    it runs as 'nobody' (it refuses root), which cannot reach a folder in root's home."""
    if kind == "postgres" and hasattr(os, "geteuid") and os.geteuid() == 0:
        import tempfile

        return Path(tempfile.gettempdir()) / "embedscope-servers" / kind
    return state_dir() / kind


@click.group("server")
def command() -> None:
    """Start, stop and list local vector-database servers (Milvus, Redis, PostgreSQL) on 127.0.0.1."""


@command.command("start")
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Folder for the server's data and log [a folder of its own beside the state files].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (redis, postgres) [a free one].")
def start(kind, data_dir, port):
    """Start a server in the background and print its address, data folder and PID."""
    from embedscope import servers

    if (state := _running(kind)) is not None:
        raise click.ClickException(f"{kind} is already running: {state['host']}:{state['port']} "
                                   f"(pid {state['pid']}); `embedscope server stop {kind}` first")
    folder = Path(data_dir or _default_data_dir(kind)).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "milvus":
        if port:
            raise click.UsageError("milvus chooses its own free port; leave out --port")
        click.secho("note: Milvus standalone binds every network interface, not only 127.0.0.1: run it on a "
                    "firewalled machine or in a private network namespace (unshare --net)", fg="yellow", err=True)
        server = servers.start_milvus(folder)
    else:
        starter = servers.start_redis if kind == "redis" else servers.start_postgres
        server = starter(folder, port=port)
    server._finalizer.detach()  # the server outlives this command; `server stop` ends it by PID
    state = {"kind": kind, "pid": server.pid, "host": server.host, "port": server.port,
             "data_dir": str(server.data_dir), "log": str(server.log_path)}
    state_dir().mkdir(parents=True, exist_ok=True)
    _state_file(kind).write_text(json.dumps(state, indent=2))
    click.echo(f"{kind} running on {server.host}:{server.port}  pid {server.pid}  data {server.data_dir}  "
               f"log {server.log_path}")


@command.command("stop")
@click.argument("kind", type=click.Choice(KINDS))
def stop(kind):
    """Stop the server `server start` started (by its PID); its data folder is kept."""
    from embedscope.servers import stop_pid

    state = _running(kind)
    if state is None:
        raise click.ClickException(f"no {kind} server started by `embedscope server start` is running")
    stop_pid(int(state["pid"]))
    _state_file(kind).unlink(missing_ok=True)
    click.echo(f"{kind} stopped (pid {state['pid']}); data kept in {state['data_dir']}")


@command.command("status")
def status():
    """List the servers `server start` started that are still running."""
    found = [state for kind in KINDS if (state := _running(kind)) is not None]
    if not found:
        click.echo("no server running (start one with `embedscope server start redis|postgres|milvus`)")
    for s in found:
        click.echo(f"{s['kind']:<9} {s['host']}:{s['port']}  pid {s['pid']}  data {s['data_dir']}")
