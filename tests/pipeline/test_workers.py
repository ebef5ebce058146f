"""Worker loops survive whatever a burst's processing raises, and say so once, not per loop."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.asyncio as aioredis

from core.connections import open_redis
from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor
from pipeline.workers import CLAIM_ERROR_LOG_SECONDS, WorkerPool
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore, message
from tests.utils.e2e import free_port, wait_until


class Exploding(BurstProcessor):
    """`process` raising past its own handlers (the retry delay of attempt 1025 overflowed)."""

    def __init__(self, buffer: BurstBuffer) -> None:
        super().__init__(
            buffer=buffer, engine=FakeEngine(), sender=FakeSender(), store=FakeStore()
        )
        self.calls = 0

    async def process(self, burst: Burst) -> None:
        self.calls += 1
        if self.calls == 1:
            raise OverflowError("int too large to convert to float")
        await self.buffer.ack(burst)


async def test_a_loop_keeps_claiming_after_process_raises(redis: aioredis.Redis) -> None:
    buffer = BurstBuffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=100)
    processor = Exploding(buffer)
    pool = WorkerPool(buffer, processor, concurrency=1, poll_max=0.01)
    pool.start()
    try:
        await buffer.add(message("hola"))
        for _ in range(300):  # the lease of the failed try expires, the same loop retakes it
            if processor.calls >= 2:
                break
            await asyncio.sleep(0.01)
        assert processor.calls >= 2
        assert all(not task.done() for task in pool._tasks)
    finally:
        await pool.stop()


async def test_redis_down_is_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Eight loops used to log an ERROR each per second while Redis was down (672 lines in 80 s).
    now = [1_000_000.0]
    dead = open_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    buffer = BurstBuffer(dead, quiet_ms=0, max_wait_ms=0, clock=lambda: now[0])
    pool = WorkerPool(buffer, Exploding(buffer), concurrency=8, error_pause=0.001)
    caplog.set_level(logging.INFO, logger="pipeline.worker")

    def errors() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]

    pool.start()
    try:
        await wait_until(lambda: pool.claim_errors.left_out >= 40, what="forty failed claims")
        assert len(errors()) == 1 and errors()[0].startswith("workers cannot claim")
        now[0] += CLAIM_ERROR_LOG_SECONDS  # the interval passes
        await wait_until(lambda: len(errors()) == 2, what="the next report")
        assert "more like it since the last such line" in errors()[1]
    finally:
        await pool.stop()
        await dead.aclose()


# --- Shutdown (issue #15, item 2) --------------------------------------------------------------

LEASE = "wa:c:{meta:+34600111222}:lease"


def _pool(
    redis: aioredis.Redis, clock: list[float], *, grace: float
) -> tuple[BurstBuffer, FakeEngine, FakeSender, WorkerPool]:
    buffer = BurstBuffer(
        redis, quiet_ms=0, max_wait_ms=0, lease_ms=30_000, clock=lambda: clock[0]
    )
    engine, sender = FakeEngine(gate=asyncio.Event()), FakeSender()
    processor = BurstProcessor(buffer=buffer, engine=engine, sender=sender, store=FakeStore())
    pool = WorkerPool(buffer, processor, concurrency=2, poll_max=0.01, shutdown_grace=grace)
    return buffer, engine, sender, pool


async def test_stop_stops_claiming_and_lets_a_burst_in_progress_finish(
    redis: aioredis.Redis,
) -> None:
    clock = [1_000_000.0]
    buffer, engine, sender, pool = _pool(redis, clock, grace=30.0)
    pool.start()
    await buffer.add(message("hola"))
    pool.wake()
    await engine.started.wait()
    stopping = asyncio.create_task(pool.stop())
    await wait_until(lambda: pool.stopping, what="the pool to stop claiming")
    await buffer.add(message("hi", contact="+34600000009"))  # not taken by this process now
    pool.wake()
    assert engine.gate is not None
    engine.gate.set()  # the model answers within the grace
    await stopping
    assert sender.texts == ["got: hola"]
    assert await redis.exists(LEASE) == 0
    claimed = await buffer.claim()  # the other contact waits for the next process
    assert isinstance(claimed, Burst) and claimed.thread_id == "meta:+34600000009"


async def test_stop_hands_back_a_burst_that_outlives_the_grace_at_once(
    redis: aioredis.Redis,
) -> None:
    clock = [1_000_000.0]
    buffer, engine, sender, pool = _pool(redis, clock, grace=0.05)
    pool.start()
    await buffer.add(message("hola"))
    pool.wake()
    await engine.started.wait()
    assert 0 < await redis.pttl(LEASE) <= 30_000  # the lease of the setting
    await pool.stop()  # the model never answers within the grace
    assert sender.texts == []
    assert await redis.pttl(LEASE) == -2  # released, not left to expire
    # The next process (the same clock: no time passes) takes the burst at once and answers.
    nxt_buffer, nxt_engine, nxt_sender, _ = _pool(redis, clock, grace=0.05)
    nxt_engine.gate = None
    claimed = await nxt_buffer.claim()
    assert isinstance(claimed, Burst) and claimed.attempts == 2
    await BurstProcessor(
        buffer=nxt_buffer, engine=nxt_engine, sender=nxt_sender, store=FakeStore()
    ).process(claimed)
    assert nxt_sender.texts == ["got: hola"]
