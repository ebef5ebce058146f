"""The console's live feed: Postgres notifications fanned out to the open pages.

Triggers of `migrations/0006_console.sql` notify `console:<schema>` with `{"contact": id,
"kind": ...}` whenever a message, a handoff, a lead's status or a contact's mode changes, whoever
wrote it (a worker of any process, the admin API, the console). One connection per web process
LISTENs and hands each notification to every subscribed page (`/console/events`, server-sent
events), which then fetches the part of the page that changed. A page that falls behind loses
notifications, not correctness: any event makes it refetch, and the browser's EventSource
reconnects by itself.

The listening connection is taken from the pool and held; the pool's connections skip the
session reset on release (`core.connections`), so the listener is removed by hand before the
connection goes back. If the connection dies (Postgres restarted), it is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import asyncpg

__all__ = ["LiveFeed"]

log = logging.getLogger(__name__)

CURRENT_SCHEMA = "SELECT current_schema()"
_DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class LiveFeed:
    """Notifications of `console:<schema>` to any number of subscribers (see the module doc)."""

    def __init__(self, pool: asyncpg.Pool, *, queue_size: int = 64) -> None:
        self._pool = pool
        self._queue_size = queue_size
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A new subscriber's queue of events (bounded: a subscriber that never reads loses
        events, never memory); `unsubscribe` it when done."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="console-live-feed")

    async def wait_listening(self, timeout: float = 10.0) -> None:
        """Until the feed listens (start-up; tests)."""
        await asyncio.wait_for(self._listening.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _publish(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):  # a slow page refetches anyway
                queue.put_nowait(event)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if isinstance(event, dict) and isinstance(event.get("contact"), int):
            self._publish({"contact": event["contact"], "kind": str(event.get("kind", ""))})

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_once()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except _DB_ERRORS as exc:
                log.warning("console live feed: %s; listening again in %.1f s", exc, delay)
            self._listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _listen_once(self) -> None:
        """Listen on one connection until it is closed under us."""
        closed = asyncio.Event()
        async with self._pool.acquire() as conn:
            channel = "console:" + await conn.fetchval(CURRENT_SCHEMA)

            def lost(_conn: Any) -> None:
                closed.set()

            conn.add_termination_listener(lost)
            await conn.add_listener(channel, self._on_notify)
            self._listening.set()
            # Everyone refetches: what changed while nobody listened is shown too.
            self._publish({"contact": 0, "kind": "resync"})
            try:
                await closed.wait()
            finally:
                conn.remove_termination_listener(lost)
                if not conn.is_closed():
                    with contextlib.suppress(*_DB_ERRORS):
                        await asyncio.shield(conn.remove_listener(channel, self._on_notify))
