"""Deploys and kills with a burst in flight: how long the lead waits for the reply (issue #15).

Run: `uv run python -m bench.bench_restart` (or `make bench`). Prints figures; asserts nothing.

A lead writes; the server (`python -m server`, its own process, as in `bench_pipeline`) claims the
burst and calls the model, which takes `SLOW_MODEL_S` to answer this first call (longer than the
shutdown grace: the burst cannot finish before the process goes) and answers every later call at
once. While that call is in flight the process is stopped, and the moment the reply reaches the
Meta stand-in is measured:

1. SIGTERM (a deploy), then the server started again at once: seconds from the restart (the new
   process spawned) to the reply, and from the new process being ready (`/readyz`) to the reply;
2. SIGTERM with another worker process already running (`python -m pipeline.worker`): seconds
   from the SIGTERM to the reply (the grace, `SHUTDOWN_GRACE_SECONDS`, is part of it);
3. SIGKILL, then a restart: seconds from the restart to the reply (bounded by the lease,
   `BURST_LEASE_SECONDS`, since a killed process hands nothing back).

Redis and Postgres as in `bench_pipeline` (database 9 of REDIS_URL, a scratch database).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.bench_pipeline import (
    APP_SECRET,
    ROOT,
    VERIFY_TOKEN,
    ClockedRecords,
    Storage,
    _free_port,
    _out,
    flush,
    meta_webhook,
    responder,
    storage,
)
from core.config import Settings
from tests.utils.scripted_llm import Reply, ScriptedLLM
from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import ACCESS_TOKEN, PHONE_NUMBER_ID, MetaStandIn

SLOW_MODEL_S = 20.0
GRACE_S = 2.0
REPLY_DEADLINE_S = 120.0


class SlowFirstCall:
    """The model: its first call of each round answers after `SLOW_MODEL_S`, the rest at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slow_left = 0

    def __call__(self, body: dict[str, Any]) -> Reply:
        reply = responder(body)
        with self._lock:
            if self.slow_left and "response_format" in body:
                self.slow_left -= 1
                reply.delay = SLOW_MODEL_S
        return reply


class Rig:
    def __init__(self, tmp: Path, store: Storage, llm: ScriptedLLM, meta: ThreadedServer,
                 records: ClockedRecords, model: SlowFirstCall) -> None:
        self.tmp, self.store, self.llm, self.meta = tmp, store, llm, meta
        self.records, self.model = records, model
        self.runs = 0

    def env(self, port: int) -> dict[str, str]:
        settings: dict[str, Any] = {
            "HOST": "127.0.0.1", "PORT": port, "DATA_DIR": self.tmp / "data",
            "REDIS_URL": self.store.redis_url, "DATABASE_URL": self.store.database_url,
            "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": self.llm.base_url,
            "LLM_MAX_RETRIES": 0, "LLM_TIMEOUT_SECONDS": SLOW_MODEL_S * 2,
            "META_APP_SECRET": APP_SECRET, "META_VERIFY_TOKEN": VERIFY_TOKEN,
            "META_ACCESS_TOKEN": ACCESS_TOKEN, "META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "META_GRAPH_BASE": f"{self.meta.url}/v21.0",
            "BUFFER_QUIET_MS": 100, "BUFFER_MAX_WAIT_MS": 200,
            "SHUTDOWN_GRACE_SECONDS": GRACE_S,  # (ignored by a version without it)
        }
        env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
        env |= {key: str(value) for key, value in settings.items()}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def spawn(self, module: str) -> tuple[subprocess.Popen[bytes], int]:
        """`python -m <module>` with the bench's settings, no Redis flush (the burst stays)."""
        self.runs += 1
        port = _free_port()
        with (self.tmp / f"{module}-{self.runs}.log").open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", module], cwd=self.tmp, env=self.env(port),
                stdout=sink, stderr=sink,
            )
        return process, port

    @contextmanager
    def stopped_after(self, *processes: subprocess.Popen[bytes]) -> Iterator[None]:
        try:
            yield
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def ready(port: int, process: subprocess.Popen[bytes]) -> float:
    """Wait until the server answers `/readyz`; the moment it did."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited at start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return time.time()
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the server did not get ready")


def worker_running(rig: Rig) -> None:
    """Wait until the last spawned worker process logs that its loops run."""
    log = rig.tmp / f"pipeline.worker-{rig.runs}.log"
    deadline = time.monotonic() + 90
    while "worker process running" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.05)


def write_and_wait_for_the_model(rig: Rig, port: int, wa_id: str) -> int:
    """One message from `wa_id`; returns once the (slow) model call of its burst has started."""
    calls = len(rig.llm.requests)
    hook = meta_webhook(wa_id, f"wamid.RESTART{uuid.uuid4().hex}", "Hi, I need a quote")
    response = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/meta", content=hook["body"],
        headers={**hook["headers"], "Content-Type": "application/json"}, timeout=10,
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 30
    while len(rig.llm.requests) == calls:
        if time.monotonic() > deadline:
            raise RuntimeError("the burst was never taken")
        time.sleep(0.01)
    return len(rig.records)


def reply_at(rig: Rig, wa_id: str, since: int) -> float | None:
    """When the first text reply to `wa_id` after record `since` reached the stand-in."""
    deadline = time.monotonic() + REPLY_DEADLINE_S
    while time.monotonic() < deadline:
        for at, record in rig.records.since(since):
            body = record.json or {}
            if body.get("type") == "text" and str(body.get("to")).lstrip("+") == wa_id:
                return at
        time.sleep(0.01)
    return None


def _s(value: float | None) -> str:
    return "no reply" if value is None else f"{value:6.1f} s"


def restart_after(rig: Rig, sig: signal.Signals, wa_id: str) -> tuple[float | None, float | None]:
    """(restart -> reply, ready -> reply) after `sig` hit a server with the burst in flight."""
    flush(rig.store.redis_url)
    rig.model.slow_left = 1
    first, port = rig.spawn("server")
    with rig.stopped_after(first):
        ready(port, first)
        since = write_and_wait_for_the_model(rig, port, wa_id)
        first.send_signal(sig)
        first.wait(timeout=60)
    restarted = time.time()
    second, port = rig.spawn("server")
    with rig.stopped_after(second):
        up = ready(port, second)
        at = reply_at(rig, wa_id, since)
    if at is None:
        return None, None
    return at - restarted, at - up


def handed_to_a_running_worker(rig: Rig, wa_id: str) -> float | None:
    """SIGTERM -> reply, with a worker process already running beside the server."""
    flush(rig.store.redis_url)
    rig.model.slow_left = 1
    web, port = rig.spawn("server")
    with rig.stopped_after(web):
        ready(port, web)
        since = write_and_wait_for_the_model(rig, port, wa_id)  # the web process has it
        worker, _ = rig.spawn("pipeline.worker")
        with rig.stopped_after(worker):
            worker_running(rig)
            stopped = time.time()
            web.send_signal(signal.SIGTERM)
            at = reply_at(rig, wa_id, since)
    return None if at is None else at - stopped


def main() -> None:
    started = time.perf_counter()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-restart-")))
        store = stack.enter_context(storage(tmp))
        llm = stack.enter_context(ScriptedLLM())
        model = SlowFirstCall()
        llm.responder = model
        stand_in = MetaStandIn()
        records = ClockedRecords()
        stand_in.requests = records
        meta = stack.enter_context(ThreadedServer(stand_in.app()))
        rig = Rig(tmp, store, llm, meta, records, model)
        defaults = Settings.model_fields
        lease = defaults["BURST_LEASE_SECONDS"].default if "BURST_LEASE_SECONDS" in defaults else 60
        _out(f"restart bench: a burst in flight (the model answers its first call after "
             f"{SLOW_MODEL_S:.0f} s) when the server stops; SHUTDOWN_GRACE_SECONDS={GRACE_S:.0f}, "
             f"lease {lease} s; {store.where}")
        term = restart_after(rig, signal.SIGTERM, "5511990000001")
        _out(f"  SIGTERM, restart:        restart -> reply {_s(term[0])}   "
             f"ready -> reply {_s(term[1])}")
        other = handed_to_a_running_worker(rig, "5511990000002")
        _out(f"  SIGTERM, worker running: SIGTERM -> reply {_s(other)}")
        kill = restart_after(rig, signal.SIGKILL, "5511990000003")
        _out(f"  SIGKILL, restart:        restart -> reply {_s(kill[0])}   "
             f"ready -> reply {_s(kill[1])}")
        flush(store.redis_url)
    _out(f"total bench time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
