"""Lead events to local webhook receivers: signed, in order per lead, retried until a 2xx, each
receiver on its own, and delivered after a restart."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from integrations.crm import CrmDelivery, WebhookClient, destination_name, verify
from integrations.crm.signature import signature_header
from tests.integrations.crm.conftest import crm_store, crm_worker, drain, pending
from tests.integrations.leads.conftest import NUMBER, Clock, lead_update, profile
from tests.utils.crm_receiver import SECRET, CrmReceiver
from tests.utils.e2e import wait_until
from tests.utils.lead_journey import JOURNEY_EVENTS, first_message_to_won

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def webhooks(http: httpx.AsyncClient, *urls: str) -> CrmDelivery:
    return CrmDelivery(webhooks=WebhookClient(list(urls), SECRET, http=http))


async def test_a_lead_from_first_message_to_won_reaches_the_receiver_signed_and_in_order(
    db: asyncpg.Pool, clock: Clock, receiver: CrmReceiver, http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    crm = webhooks(http, receiver.endpoint("/hooks"))
    store = crm_store(db, clock, crm)
    lead_id = await first_message_to_won(store)
    before = REGISTRY.get_sample_value(
        "wa_crm_events_delivered_total",
        {"destination": crm.destinations[0].name, "type": "lead.won"},
    ) or 0.0

    await drain(crm_worker(db, crm, tmp_path), db)

    deliveries = receiver.deliveries("/hooks")
    assert [d.event["type"] for d in deliveries] == JOURNEY_EVENTS
    assert all(d.signature_ok and d.status == 200 for d in deliveries)
    assert {d.event["lead_id"] for d in deliveries} == {lead_id}
    first = deliveries[0]
    assert first.headers["x-webhook-id"] == first.event["id"]
    assert first.headers["x-webhook-event"] == "lead.created"
    assert first.headers["x-webhook-attempt"] == "1"
    assert first.headers["content-type"] == "application/json"
    assert first.event["lead"]["number"] == NUMBER
    # The check a receiver makes, by hand: HMAC-SHA256 of "<t>.<body>" with the shared secret.
    t = int(first.headers["x-webhook-signature"].split(",")[0].removeprefix("t="))
    assert first.headers["x-webhook-signature"] == signature_header(SECRET, t, first.body)
    after = REGISTRY.get_sample_value(
        "wa_crm_events_delivered_total",
        {"destination": crm.destinations[0].name, "type": "lead.won"},
    )
    assert after == before + 1


async def test_a_receiver_failing_three_times_gets_each_event_once_more_per_failure(
    db: asyncpg.Pool, clock: Clock, receiver: CrmReceiver, http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    crm = webhooks(http, receiver.endpoint("/flaky"), receiver.endpoint("/steady"))
    store = crm_store(db, clock, crm)
    await first_message_to_won(store)
    receiver.fail("/flaky", 3, status=503)
    failures = REGISTRY.get_sample_value(
        "wa_crm_event_failures_total", {"destination": crm.destinations[0].name}
    ) or 0.0

    await drain(crm_worker(db, crm, tmp_path), db)

    # The steady receiver is not held up by the flaky one: it had three events or more while the
    # flaky one was still failing the first.
    paths = [d.path for d in receiver.deliveries()]
    first_success = [i for i, d in enumerate(receiver.deliveries()) if d.path == "/flaky"][3]
    assert paths[:first_success].count("/steady") >= 3
    assert [d.status for d in receiver.deliveries("/steady")] == [200] * len(JOURNEY_EVENTS)
    assert [e["type"] for e in receiver.accepted("/steady")] == JOURNEY_EVENTS
    flaky = receiver.deliveries("/flaky")
    assert len(flaky) == len(JOURNEY_EVENTS) + 3  # one more delivery per failure
    assert [d.status for d in flaky[:4]] == [503, 503, 503, 200]
    assert len({d.event["id"] for d in flaky[:4]}) == 1  # the first event, until it got through
    assert [d.headers["x-webhook-attempt"] for d in flaky[:4]] == ["1", "2", "3", "4"]
    assert [e["type"] for e in receiver.accepted("/flaky")] == JOURNEY_EVENTS  # none lost
    assert all(d.signature_ok for d in flaky)
    assert REGISTRY.get_sample_value(
        "wa_crm_event_failures_total", {"destination": crm.destinations[0].name}
    ) == failures + 3
    async with db.acquire() as conn:
        retried = await conn.fetch("SELECT attempts, last_error FROM outbox WHERE attempts > 1")
    assert [(r["attempts"], r["last_error"]) for r in retried] == [(4, None)]  # cleared once sent


async def test_a_process_killed_between_the_change_and_the_delivery_delivers_after_restart(
    db: asyncpg.Pool, receiver: CrmReceiver, tmp_path: Path, database_url: str, db_schema: str,
) -> None:
    url = receiver.endpoint("/hooks")
    args = {"database_url": database_url, "schema": db_schema, "url": url}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.utils.crm_change_process", json.dumps(args),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    assert line.decode().split() == ["committed", "1"]  # the change and its event, claimed
    child.kill()  # SIGKILL: nothing of the process survives but what it committed
    await child.wait()
    assert receiver.deliveries() == []

    # After the restart: new clients, a new worker, the same database; the dead claim runs out.
    await wait_until(
        lambda: db.fetchval("SELECT bool_and(lease_until <= now()) FROM outbox"),
        what="the killed process's claim to run out",
    )
    async with httpx.AsyncClient() as http:
        crm = webhooks(http, url)
        await drain(crm_worker(db, crm, tmp_path), db)
    assert [d.event["type"] for d in receiver.deliveries()] == ["lead.created"]
    assert receiver.deliveries()[0].headers["x-webhook-attempt"] == "2"
    assert receiver.deliveries()[0].signature_ok


async def test_erasure_sends_contact_erased_and_nothing_after_it(
    db: asyncpg.Pool, clock: Clock, receiver: CrmReceiver, http: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    crm = webhooks(http, receiver.endpoint("/hooks"))
    store = crm_store(db, clock, crm)
    worker = crm_worker(db, crm, tmp_path)
    await store.sink.lead_updated(lead_update())
    await drain(worker, db)
    renamed = lead_update(lead=profile(name="Ana María"))
    await store.sink.lead_updated(renamed)  # lead.updated, pending when the erase comes

    assert await store.contacts.delete_contact("meta", NUMBER)
    await drain(worker, db)
    got = [d.event for d in receiver.deliveries()]
    assert [e["type"] for e in got] == ["lead.created", "contact.erased"]
    assert got[1]["lead"] is None and NUMBER not in json.dumps(got[1])
    assert await pending(db) == 0


async def test_an_unreachable_receiver_is_retried_and_named_without_its_url(
    db: asyncpg.Pool, clock: Clock, tmp_path: Path, http: httpx.AsyncClient,
) -> None:
    url = "http://127.0.0.1:9/hooks?token=s3cret-in-the-url"  # the discard port: refused
    crm = webhooks(http, url)
    store = crm_store(db, clock, crm)
    await store.sink.lead_updated(lead_update())
    worker = crm_worker(db, crm, tmp_path)
    for _ in range(3):
        assert await worker.run_once() == 0
    async with db.acquire() as conn:
        row = await conn.fetchrow("SELECT attempts, last_error FROM outbox")
    assert row["attempts"] == 3
    assert destination_name(url) in row["last_error"] and "s3cret" not in row["last_error"]


@pytest.mark.parametrize(
    ("header", "body", "now", "ok"),
    [
        (None, b'{"id":"1"}', 1000, True),
        (None, b'{"id":"2"}', 1000, False),  # another body
        (None, b'{"id":"1"}', 1000 + 301, False),  # too old: a replay
        ("t=1000,v1=00", b'{"id":"1"}', 1000, False),
        ("v1=abc", b'{"id":"1"}', 1000, False),
        ("", b'{"id":"1"}', 1000, False),
    ],
)
def test_verify(header: str | None, body: bytes, now: float, ok: bool) -> None:
    signed = signature_header(SECRET, 1000, b'{"id":"1"}')
    assert verify(SECRET, signed if header is None else header, body, now=now) is ok
    assert not verify("another-secret", signed, b'{"id":"1"}', now=1000)
    rotating = f"t=1000,v1=00,{signed.split(',')[1]}"  # one v1 per secret while rotating
    assert verify(SECRET, rotating, b'{"id":"1"}', now=1000)
