"""Opening the Redis client and the asyncpg pool the whole process shares."""

from __future__ import annotations

import asyncpg
import redis.asyncio as aioredis

__all__ = ["open_redis", "open_pool"]

# Every call to a dependency has a deadline, so a dead server gives an error, not a hang.
CONNECT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 10.0


def open_redis(url: str) -> aioredis.Redis:
    """A pooled asyncio Redis client with connect and command deadlines."""
    return aioredis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Returning a connection to the pool: asyncpg still rolls back an open transaction, but
    skips its session reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL), one more
    round trip on every release: the app leaves no such state behind (no LISTEN, no session
    SET, cursors only inside transactions, the migration lock released in a `finally`)."""


async def open_pool(
    url: str, *, max_size: int = 10, server_settings: dict[str, str] | None = None
) -> asyncpg.Pool:
    """An asyncpg pool that opens connections lazily, so a Postgres outage at start-up or later
    shows in /readyz instead of crashing the process."""
    pool = await asyncpg.create_pool(
        url,
        min_size=0,
        max_size=max_size,
        timeout=CONNECT_TIMEOUT_SECONDS,
        command_timeout=COMMAND_TIMEOUT_SECONDS,
        server_settings=server_settings,
        reset=_keep_session,
    )
    assert pool is not None
    return pool
