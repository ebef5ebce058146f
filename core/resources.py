"""The process's shared resources, opened once in the app's lifespan (or by a worker process)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from core.connections import open_pool, open_redis
from core.embedded import EmbeddedServices, resolve_urls
from core.migrate import apply_migrations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import redis.asyncio as aioredis

    from core.config import Settings

__all__ = ["Resources", "open_resources"]

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Resources:
    """What every part of the process shares: settings, the Redis client, the Postgres pool."""

    settings: Settings
    redis: aioredis.Redis
    pool: asyncpg.Pool
    embedded: EmbeddedServices


@asynccontextmanager
async def open_resources(
    settings: Settings,
    *,
    migrate: bool = True,
    server_settings: dict[str, str] | None = None,
    startup_wait_seconds: float = 30.0,
) -> AsyncIterator[Resources]:
    """Start embedded servers where no URL is set, open the clients, apply pending migrations.

    Postgres gets `startup_wait_seconds` to come up (a replica often starts before its database);
    after that the error stops start-up. `server_settings` go to every Postgres connection (tests
    set `search_path` to their own schema)."""
    embedded = resolve_urls(
        redis_url=settings.REDIS_URL,
        database_url=settings.DATABASE_URL,
        data_dir=settings.DATA_DIR,
    )
    redis = open_redis(embedded.redis_url)
    pool = await open_pool(
        embedded.database_url, max_size=settings.DATABASE_POOL_MAX, server_settings=server_settings
    )
    try:
        if migrate:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((OSError, asyncpg.CannotConnectNowError)),
                wait=wait_exponential(multiplier=0.2, max=3),
                stop=stop_after_delay(startup_wait_seconds),
                reraise=True,
            ):
                with attempt:
                    async with pool.acquire() as conn:
                        applied = await apply_migrations(conn)
            if applied:
                log.info("migrations applied at start-up: %s", applied)
        yield Resources(settings=settings, redis=redis, pool=pool, embedded=embedded)
    finally:
        await pool.close()
        await redis.aclose()
        embedded.close()
