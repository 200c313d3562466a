"""`embedscope server start|stop|status`: a local Redis started by the command outlives it, answers on
127.0.0.1, is listed, and is stopped by its PID with its port closed afterwards."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest


def embedscope(*args, env):
    return subprocess.run([sys.executable, "-m", "embedscope", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def test_server_start_status_stop_redis(tmp_path, monkeypatch):
    import os

    from embedscope.servers import ServerError, process_alive, redis_paths

    try:
        redis_paths()
    except ServerError as e:
        pytest.skip(f"no Redis here: {e}")
    redis = pytest.importorskip("redis", reason="the redis client is not installed")
    env = {**os.environ, "EMBEDSCOPE_SERVERS": str(tmp_path / "state")}
    started = embedscope("server", "start", "redis", "--data-dir", str(tmp_path / "data"), env=env)
    assert started.returncode == 0, started.stderr
    found = re.search(r"redis running on 127\.0\.0\.1:(\d+)\s+pid (\d+)\s+data (\S+)", started.stdout)
    assert found, started.stdout
    port, pid, data = int(found[1]), int(found[2]), found[3]
    try:
        assert data == str((tmp_path / "data").resolve())
        assert redis.Redis(host="127.0.0.1", port=port, socket_timeout=5).ping()  # alive after the command ended
        again = embedscope("server", "start", "redis", env=env)
        assert again.returncode == 2 and "already running" in again.stderr
        listed = embedscope("server", "status", env=env)
        assert listed.returncode == 0 and f"127.0.0.1:{port}" in listed.stdout and f"pid {pid}" in listed.stdout
        stopped = embedscope("server", "stop", "redis", env=env)
        assert stopped.returncode == 0, stopped.stderr
        assert f"pid {pid}" in stopped.stdout
    finally:
        from embedscope.servers import stop_pid

        stop_pid(pid)  # whatever failed above, the test leaves no server behind
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not process_alive(pid)
    assert "no server running" in embedscope("server", "status", env=env).stdout
    assert embedscope("server", "stop", "redis", env=env).returncode == 2
