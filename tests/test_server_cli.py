"""`embedscope server start|stop|status`: a local Redis or PostgreSQL started by the command outlives it, answers
on 127.0.0.1, is listed, and is stopped by its PID with its port closed afterwards. (Milvus standalone binds
every interface, so its tests run it inside a private network namespace: tests/test_vector_dbs.py.)"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def embedscope(*args, env):
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def _redis_answers(port: int) -> bool:
    import redis

    return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping())


def _postgres_answers(port: int) -> bool:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5) as c:
        return c.execute("select 1").fetchone() == (1,)


def _available(kind: str) -> None:
    from embedscope.servers import ServerError, postgres_bin_dir, redis_paths

    try:
        redis_paths() if kind == "redis" else postgres_bin_dir()
    except ServerError as e:
        pytest.skip(f"no {kind} here: {e}")
    pytest.importorskip("redis" if kind == "redis" else "psycopg", reason=f"the {kind} client is not installed")


@pytest.mark.parametrize("kind, answers", [("redis", _redis_answers), ("postgres", _postgres_answers)])
def test_server_start_status_stop(kind, answers, tmp_path, request):
    import os

    from embedscope.servers import process_alive

    _available(kind)
    env = {**os.environ, "EMBEDSCOPE_SERVERS": str(tmp_path / "state")}
    # a folder every user can reach: PostgreSQL started by root runs as 'nobody' (pytest's tmp_path is root-only)
    data_dir = Path(tempfile.mkdtemp(prefix=f"embedscope-{kind}-test-")) / "data"
    data_dir.parent.chmod(0o755)
    request.addfinalizer(lambda: shutil.rmtree(data_dir.parent, ignore_errors=True))
    started = embedscope("server", "start", kind, "--data-dir", str(data_dir), env=env)
    assert started.returncode == 0, started.stderr
    found = re.search(kind + r" running on 127\.0\.0\.1:(\d+)\s+pid (\d+)\s+data (\S+)", started.stdout)
    assert found, started.stdout
    port, pid, data = int(found[1]), int(found[2]), found[3]
    try:
        assert data == str(data_dir.resolve())
        assert any(data_dir.iterdir())  # the server's files are in the folder named
        assert answers(port)  # alive after the command ended
        again = embedscope("server", "start", kind, env=env)
        assert again.returncode == 2 and "already running" in again.stderr
        listed = embedscope("server", "status", env=env)
        assert listed.returncode == 0 and f"127.0.0.1:{port}" in listed.stdout and f"pid {pid}" in listed.stdout
        stopped = embedscope("server", "stop", kind, env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"pid {pid}" in stopped.stdout
    finally:
        from embedscope.servers import stop_pid

        stop_pid(pid)  # whatever failed above, the test leaves no server behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not process_alive(pid)
    assert "no server running" in embedscope("server", "status", env=env).stdout
    assert embedscope("server", "stop", kind, env=env).returncode == 2


def test_postgres_as_root_refuses_a_folder_its_user_cannot_reach(tmp_path):
    """PostgreSQL started by root runs as 'nobody': a --data-dir inside a root-only folder is refused with the
    reason, not replaced by another folder behind the user's back."""
    import os

    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root hands PostgreSQL to another user")
    _available("postgres")
    tmp_path.chmod(0o700)
    env = {**os.environ, "EMBEDSCOPE_SERVERS": str(tmp_path / "state")}
    refused = embedscope("server", "start", "postgres", "--data-dir", str(tmp_path / "private" / "data"), env=env)
    assert refused.returncode == 2 and "cannot reach" in refused.stderr, refused.stderr
    assert "no server running" in embedscope("server", "status", env=env).stdout
