"""The outbox's order per key and its pause on refused credentials, with handlers of the test's
own (the email handlers are tested with a real SMTP server under tests/integrations/leads/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from core.migrate import apply_migrations
from integrations.mail import FileMailer
from integrations.outbox import DeliveryPaused, OutboxRow, OutboxWorker, enqueue


@pytest.fixture
async def db(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield pool


def make_worker(db: asyncpg.Pool, tmp_path: Path) -> OutboxWorker:
    return OutboxWorker(
        db, FileMailer(tmp_path), manager_email="m@example.com", mail_from="a@example.com",
        backoff=lambda attempt: 0.0,
    )


async def add(db: asyncpg.Pool, kind: str, key: str, ordering_key: str | None) -> None:
    async with db.acquire() as conn:
        await enqueue(
            conn, kind=kind, dedup_key=key, payload={"key": key}, ordering_key=ordering_key
        )


async def test_rows_of_one_ordering_key_go_out_one_after_another(
    db: asyncpg.Pool, tmp_path: Path
) -> None:
    worker = make_worker(db, tmp_path)
    sent: list[str] = []
    failures = {"a1": 2}  # the first row of `a` fails twice

    async def handler(row: OutboxRow) -> None:
        if failures.get(row.dedup_key, 0) > 0:
            failures[row.dedup_key] -= 1
            raise ConnectionError("receiver down")
        sent.append(row.dedup_key)

    worker.register("test", handler)
    for key, ordering in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a")):
        await add(db, "test", key, ordering)

    # Only the head of each key is claimable: b goes on while a1 is failing, a2 and a3 wait.
    await worker.run_once()
    assert sent == ["b1"]
    await worker.run_once()
    assert sent == ["b1", "b2"]
    await worker.run_once()
    assert sent == ["b1", "b2", "a1"]
    while await worker.run_once():
        pass
    assert sent == ["b1", "b2", "a1", "a2", "a3"]


async def test_a_paused_kind_is_reported_once_and_left_pending(
    db: asyncpg.Pool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_worker(db, tmp_path)
    calls: list[str] = []

    async def refused(row: OutboxRow) -> None:
        calls.append(row.dedup_key)
        raise DeliveryPaused("the token was refused (401); set a valid one and restart")

    async def fine(row: OutboxRow) -> None:
        calls.append(row.dedup_key)

    worker.register("refused", refused)
    worker.register("fine", fine)
    await add(db, "refused", "r1", None)
    await add(db, "refused", "r2", None)
    await add(db, "fine", "f1", None)
    with caplog.at_level("ERROR"):
        for _ in range(4):
            await worker.run_once()
    assert calls.count("r1") + calls.count("r2") == 1  # one call, then no more
    assert "f1" in calls and worker.paused == {"refused"}
    assert caplog.text.count("paused until restart") == 1
    async with db.acquire() as conn:
        pending = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'refused' AND status = 'pending'"
        )
    assert pending == 2

    # A restarted process (a fixed token) delivers them.
    restarted = make_worker(db, tmp_path)
    restarted.register("refused", fine)
    assert await restarted.run_once() == 2
