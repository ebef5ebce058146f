"""Where the Twilio client keeps the Content SIDs of the templates it created, by definition.

Twilio sends buttons and lists only as Content API templates. The client creates one the first
time a shape is needed (`integrations.whatsapp.interactive`) and reuses it from then on: from its
own memory, and across processes and restarts from this cache. In Postgres (`twilio_contents`,
migration 0007), so every worker shares one set of templates instead of creating its own at each
start. Two processes that create the same template at once both succeed at Twilio; the first row
written wins, and both use its SID from then on.
"""

from __future__ import annotations

from typing import Protocol

import asyncpg

__all__ = ["ContentCache", "MemoryContentCache", "PostgresContentCache"]

SELECT_CONTENT = "SELECT sid FROM twilio_contents WHERE key = $1"
INSERT_CONTENT = """
INSERT INTO twilio_contents (key, sid) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
RETURNING sid"""
"""Stores the SID unless one is stored; returns the stored one (the no-op update returns it)."""


class ContentCache(Protocol):
    """Content SIDs by the hash of their template's definition."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, sid: str) -> str:
        """Store `sid` unless `key` has one; the SID stored for `key` from now on."""
        ...


class MemoryContentCache:
    """One process's cache (tests, or a deployment without Postgres for it)."""

    def __init__(self) -> None:
        self._sids: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self._sids.get(key)

    async def put(self, key: str, sid: str) -> str:
        return self._sids.setdefault(key, sid)


class PostgresContentCache:
    """The cache every process shares (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, key: str) -> str | None:
        async with self._pool.acquire() as conn:
            sid: str | None = await conn.fetchval(SELECT_CONTENT, key)
        return sid

    async def put(self, key: str, sid: str) -> str:
        async with self._pool.acquire() as conn:
            stored: str = await conn.fetchval(INSERT_CONTENT, key, sid)
        return stored
