"""Fixtures of the CRM delivery tests: a migrated schema, the lead store's movable clock, a local
webhook receiver, and an outbox worker that retries at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from core.migrate import apply_migrations
from integrations.crm import CrmDelivery
from integrations.leads import LeadStore
from integrations.mail import FileMailer
from integrations.outbox import OutboxWorker
from tests.integrations.leads.conftest import Clock


@pytest.fixture
async def db(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """The test's pool with the project's migrations applied."""
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield pool


@pytest.fixture
def clock() -> Clock:
    return Clock()


def crm_store(pool: asyncpg.Pool, clock: Clock, crm: CrmDelivery) -> LeadStore:
    return LeadStore.open(pool, clock=clock, event_destinations=crm.destinations)


def crm_worker(pool: asyncpg.Pool, crm: CrmDelivery, tmp_path: Path) -> OutboxWorker:
    """A fresh worker (as after a restart) delivering the CRM's rows, retrying at once."""
    worker = OutboxWorker(
        pool, FileMailer(tmp_path), manager_email="m@example.com", mail_from="a@example.com",
        backoff=lambda attempt: 0.0,
    )
    crm.register(worker)
    return worker


async def pending(pool: asyncpg.Pool) -> int:
    """The CRM's rows not delivered yet (a booked call's reminders wait in the outbox too, due
    later: they are not the CRM's)."""
    async with pool.acquire() as conn:
        return int(await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND kind LIKE 'crm%'"
        ))


async def drain(worker: OutboxWorker, pool: asyncpg.Pool, *, rounds: int = 100) -> int:
    """Run the worker until nothing is pending (or `rounds` runs); returns the runs it took."""
    for run in range(1, rounds + 1):
        await worker.run_once()
        if not await pending(pool):
            return run
    raise AssertionError(f"still {await pending(pool)} rows pending after {rounds} runs")
