"""Workers: claim due bursts and process them, in the web process or in `make worker`
(`pipeline.worker`, the process's entry point).

Each worker runs `concurrency` loops. A loop claims the first due burst no other worker holds
(one contact is never processed twice at once, and its bursts go in order), or sleeps until the
next one is due, at most `poll_max` seconds, since another process may buffer an earlier one. In
the web process the webhook wakes the loops at once. Nothing here can crash a loop: an error in
Redis itself is retried after a pause, and logged once per `CLAIM_ERROR_LOG_SECONDS` for all the
loops together (with a count), not once per loop per second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.logs import RepeatedLog
from pipeline import metrics
from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor

__all__ = ["CLAIM_ERROR_LOG_SECONDS", "WorkerPool"]

log = logging.getLogger(__name__)

CLAIM_ERROR_LOG_SECONDS = 60.0


class WorkerPool:
    """`concurrency` claim-and-process loops over one buffer."""

    def __init__(
        self,
        buffer: BurstBuffer,
        processor: BurstProcessor,
        *,
        concurrency: int = 8,
        poll_max: float = 0.25,
        error_pause: float = 1.0,
        shutdown_grace: float = 20.0,
    ) -> None:
        self.buffer = buffer
        self.processor = processor
        self.concurrency = concurrency
        self.poll_max = poll_max
        self.error_pause = error_pause
        self.shutdown_grace = shutdown_grace
        self.claim_errors = RepeatedLog(log, interval=CLAIM_ERROR_LOG_SECONDS, clock=buffer.clock)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def wake(self) -> None:
        """A message was buffered in this process: look again now."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """`stop` was called: no loop claims anything more."""
        return self._stopping

    def start(self) -> None:
        self._stopping = False
        self._tasks = [asyncio.create_task(self._loop(i)) for i in range(self.concurrency)]

    async def stop(self) -> None:
        """Stop claiming; let bursts in progress finish within `shutdown_grace` seconds, then
        cancel the rest, which hands them back due at once (see the module docstring)."""
        self._stopping = True
        self._wake.set()  # idle loops leave now rather than at their next poll
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _, running = await asyncio.wait(tasks, timeout=self.shutdown_grace)
        if running:
            log.warning(
                "shutdown: %d burst(s) still running after %.0f s; handing them back",
                len(running), self.shutdown_grace,
            )
        for task in running:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> Burst | None:
        """Claim and process one due burst, if any (tests drive workers with this)."""
        claimed = await self.buffer.claim()
        if isinstance(claimed, Burst):
            await self.processor.process(claimed)
            return claimed
        return None

    async def _loop(self, index: int) -> None:
        while not self._stopping:
            try:
                claimed = await self.buffer.claim()
            except Exception as exc:  # noqa: BLE001 - Redis down: wait and try again
                self.claim_errors.log(
                    logging.ERROR, "workers cannot claim: %s; retrying every %.0f s",
                    exc, self.error_pause,
                )
                await asyncio.sleep(self.error_pause)
                continue
            self.claim_errors.clear("workers claim again")
            if isinstance(claimed, Burst):
                metrics.QUEUE_LAG.observe(max(0.0, self.buffer.clock() - claimed.due_at))
                try:
                    await self.processor.process(claimed)
                except Exception as exc:  # noqa: BLE001 - a dead loop would process nothing more
                    # The lease expires and the burst is taken again: nothing is lost.
                    log.error(
                        "worker %d: processing a burst failed unexpectedly (%s); "
                        "its lease expires and it is retried",
                        index, type(exc).__name__,
                    )
                continue
            wait = self.poll_max if claimed is None else min(self.poll_max, max(claimed, 0.005))
            if self._stopping:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
