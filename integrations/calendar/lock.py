"""One booking at a time per calendar, across every process: a Postgres advisory lock.

Google Calendar has no atomic "insert if free": a booking is a free/busy check, then an insert.
Two processes booking the same slot for two leads could both pass the check and both insert. So
`GoogleCalendar` holds this lock across the check and the write (book, reschedule): the second
booking waits, then sees the first one's event and raises `SlotTaken`.

Why these choices:
- Per calendar rather than per slot: with a buffer between meetings, neighbouring slots conflict
  too (10:00 and 10:30 with a 15-minute buffer), so a per-slot key would let those two through.
  Bookings are a few a day; one at a time per calendar costs nothing.
- A transaction-level advisory lock (`pg_advisory_xact_lock`) on a connection held for the
  duration: Postgres releases it when the transaction ends or the connection dies, so a crashed
  process never leaves a calendar locked, and there is no claim row to clean up.
- Bounded wait (`lock_timeout`): a holder stuck on a slow Google call makes the next booking fail
  as `CalendarUnavailable` (the agent says so and the lead is offered times again later) rather
  than hang the turn.
- The local calendar does not need it: its exclusion constraint refuses an overlap in Postgres.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from integrations.calendar.base import CalendarUnavailable

__all__ = ["LOCK", "SET_LOCK_TIMEOUT", "BookingLock", "lock_key"]

SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"
LOCK = "SELECT pg_advisory_xact_lock($1)"


def lock_key(calendar_id: str) -> int:
    """The advisory lock's 64-bit key for a calendar (stable across processes and releases)."""
    digest = hashlib.sha256(f"wa-agent-calendar-booking:{calendar_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class BookingLock:
    """Serializes the bookings of one calendar (see the module docstring)."""

    def __init__(
        self, pool: asyncpg.Pool, calendar_id: str, *, timeout_seconds: float = 30.0
    ) -> None:
        self._pool = pool
        self._key = lock_key(calendar_id)
        self._timeout = f"{int(timeout_seconds * 1000)}ms"

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the calendar's lock for the body; `CalendarUnavailable` when it cannot be had."""
        try:
            conn = await self._pool.acquire()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _unavailable(exc) from exc
        try:
            transaction = conn.transaction()
            try:
                await transaction.start()
                await conn.execute(SET_LOCK_TIMEOUT, self._timeout)
                await conn.execute(LOCK, self._key)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                with contextlib.suppress(Exception):
                    await transaction.rollback()
                raise _unavailable(exc) from exc
            try:
                yield
            finally:
                # Nothing was written: ending the transaction only releases the lock.
                with contextlib.suppress(Exception):
                    await transaction.rollback()
        finally:
            await self._pool.release(conn)


def _unavailable(exc: BaseException) -> CalendarUnavailable:
    return CalendarUnavailable(
        f"Bookings could not be serialized through Postgres ({type(exc).__name__}); "
        "try again later."
    )
