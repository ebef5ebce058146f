"""Scheduled jobs run once across processes (issue #17): two worker processes, each with its own
pool, claim the same due outbox rows at the same moment; every row is delivered by exactly one of
them (`FOR UPDATE SKIP LOCKED` and the claim's lease), so every lead gets one follow-up."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from domain.events import LeadUpdate
from domain.lead import LeadProfile
from integrations.whatsapp.types import InboundMessage
from tests.utils.scheduled import Clock, meta_sends, scheduled_parts
from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import MetaStandIn

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)
LEADS = [f"+3460011{n:04d}" for n in range(16)]


@pytest.fixture
def meta() -> Iterator[tuple[MetaStandIn, str]]:
    stand_in = MetaStandIn()
    with ThreadedServer(stand_in.app()) as server:
        yield stand_in, server.url


async def test_two_worker_processes_deliver_each_due_row_once(
    pool: asyncpg.Pool, send_http: aiohttp.ClientSession, meta: tuple[MetaStandIn, str],
    database_url: str, db_schema: str, tmp_path: Path,
) -> None:
    stand_in, meta_url = meta
    clock = Clock(START)
    parts = await scheduled_parts(pool, send_http, meta_url, clock, tmp_path)
    for n, number in enumerate(LEADS):
        await parts.store.contacts.record_inbound(InboundMessage(
            channel="meta", contact=number, message_id=f"wamid.C{n}", timestamp=START,
            kind="text", text="We need a CRM",
        ))
        await parts.store.sink.lead_updated(LeadUpdate(
            thread_id=f"meta:{number}", channel="meta", contact=number, profile_name=None,
            stage="qualification", profile=LeadProfile(name="Ana"), summary="",
        ))
    stand_in.delay = 0.02  # each send takes a moment: the two processes overlap

    args = {
        "database_url": database_url, "schema": db_schema, "meta_url": meta_url,
        "now": (START + timedelta(hours=4)).isoformat(), "folder": str(tmp_path),
    }
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.utils.outbox_process", json.dumps(args | {"name": name}),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    for _ in range(3000):  # both have started (imports take a few seconds), then go at once
        if all(path.exists() for path in ready):
            break
        await asyncio.sleep(0.01)
    (tmp_path / "go").touch()
    outputs = [await worker.communicate() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]

    delivered = [json.loads(out)["delivered"] for out, _ in outputs]
    assert sum(delivered) == len(LEADS)
    assert all(count > 0 for count in delivered)  # both claimed rows...
    per_lead = Counter(body["to"] for number in LEADS for body in meta_sends(stand_in, number))
    assert per_lead == Counter(dict.fromkeys(LEADS, 1))  # ...none twice
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'follow_up' AND status = 'sent'"
        ) == len(LEADS)
