"""Worker loops survive whatever a burst's processing raises."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor
from pipeline.workers import WorkerPool
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore, message


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
