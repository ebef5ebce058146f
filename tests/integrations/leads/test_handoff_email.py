"""Handoffs end to end: real Postgres, the outbox worker, a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, get_args
from urllib.parse import urlsplit

import asyncpg
import pytest
from prometheus_client import REGISTRY

from core.connections import open_pool
from core.migrate import apply_migrations
from domain.events import HandoffReason
from integrations.leads import LeadStore
from integrations.mail import MailUnavailable, SmtpMailer
from integrations.outbox import CLAIM_DUE, OutboxWorker, stable_message_id
from tests.integrations.leads.conftest import (
    MAIL_FROM,
    MANAGER,
    NUMBER,
    Clock,
    RecordingHandler,
    booking,
    count,
    handoff_event,
    lead_update,
    make_worker,
    parts,
    profile,
)
from tests.utils.tcp_proxy import TcpProxy

REASONS: tuple[HandoffReason, ...] = get_args(HandoffReason)


@pytest.mark.parametrize("reason", REASONS)
async def test_each_reason_gives_one_lead_and_one_email(
    reason: HandoffReason,
    store: LeadStore,
    worker: OutboxWorker,
    smtp_server: tuple[RecordingHandler, int],
    db: asyncpg.Pool,
) -> None:
    handler, _ = smtp_server
    event = handoff_event(reason)
    await store.sink.handed_off(event)
    await store.sink.handed_off(event)  # a re-run of the same burst

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert await count(db, "leads") == 1
    assert await count(db, "handoffs") == 1
    assert len(handler.received) == 1

    received = handler.received[0]
    assert received.rcpt_tos == [MANAGER]
    assert received.mail_from == MAIL_FROM
    message = received.message
    assert message["Subject"] == "Quote request: Ana Pérez (Acme SL)"
    assert message["To"] == MANAGER
    assert message["Reply-To"].addresses[0].addr_spec == "ana@acme.example"
    assert message["Message-ID"].startswith("<outbox.")
    plain, html = parts(message)
    for body in (plain, html):
        assert "https://wa.me/34600111222" in body
        assert f"({reason})" in body
        assert "necesitamos un CRM para 20 vendedores" in body
        assert "unos 5000 euros" in body and "5,000 EUR" in body
        assert "CTO" in body and "antes de abril" in body and "2030-04-01" in body
        assert "Ana wants a CRM for her 20 sales reps before April." in body
        assert "¿Puedo hablar con una persona?" in body
        assert ("Booked call" in body) == (reason == "booked")
    assert '<a href="https://wa.me/34600111222">' in html
    if reason == "booked":
        assert "2030-03-05 09:00" in plain
        assert 'href="https://calendar.example/evt-123"' in html

    detail = (await store.leads.list_leads())[0]
    assert detail.status == ("booked" if reason == "booked" else "handed_off")
    assert (await store.contacts.mode("meta", NUMBER)).silenced


async def test_two_concurrent_handoffs_give_one_lead_one_handoff_one_email(
    store: LeadStore,
    worker: OutboxWorker,
    smtp_server: tuple[RecordingHandler, int],
    db: asyncpg.Pool,
) -> None:
    event = handoff_event("requested")
    await asyncio.gather(*(store.sink.handed_off(event) for _ in range(2)))
    # and a wider race, with a second store as another worker process would have
    other = LeadStore.open(db, clock=Clock())
    await asyncio.gather(*(s.sink.handed_off(event) for s in (store, other, store, other)))

    assert await count(db, "contacts") == 1
    assert await count(db, "leads") == 1
    assert await count(db, "handoffs") == 1
    assert await count(db, "outbox") == 1
    assert await worker.run_once() == 1
    assert len(smtp_server[0].received) == 1


async def test_concurrent_workers_send_a_row_once(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    for number in ("+34600000001", "+34600000002", "+34600000003"):
        await store.sink.handed_off(handoff_event(number=number))
    workers = [make_worker(db, smtp_server[1]) for _ in range(3)]
    sent = await asyncio.gather(*(w.run_once() for w in workers))
    assert sum(sent) == 3
    assert len(smtp_server[0].received) == 3


async def test_smtp_down_then_up_delivers_once_after_recovery(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp_server
    before = REGISTRY.get_sample_value("wa_outbox_alerts_total", {"kind": "manager_email"}) or 0
    async with TcpProxy("127.0.0.1", port) as proxy:
        worker = make_worker(db, proxy.port, alert_after=3)
        await store.sink.handed_off(handoff_event())
        await proxy.cut()
        for _ in range(4):
            assert await worker.run_once() == 0
        async with db.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, attempts, last_error, lease_until FROM outbox"
            )
        assert row["status"] == "pending" and row["attempts"] == 4
        assert "MailUnavailable" in row["last_error"] and row["lease_until"] is None
        assert handler.received == []
        after = REGISTRY.get_sample_value("wa_outbox_alerts_total", {"kind": "manager_email"})
        assert after == before + 2  # attempts 3 and 4: past the threshold, still retrying

        await proxy.restore()
        assert await worker.run_once() == 1
        assert await worker.run_once() == 0
    assert len(handler.received) == 1
    async with db.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM outbox") == "sent"


async def test_backoff_keeps_a_failed_row_until_it_is_due(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    async with TcpProxy("127.0.0.1", smtp_server[1]) as proxy:
        worker = make_worker(db, proxy.port, backoff=lambda attempt: 3600.0, max_backoff=600.0)
        await store.sink.handed_off(handoff_event())
        await proxy.cut()
        assert await worker.run_once() == 0
        await proxy.restore()
        assert await worker.run_once() == 0  # not due yet: not even claimed
        async with db.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT attempts, next_attempt_at - now() AS wait FROM outbox"
            )
            assert row["attempts"] == 1
            assert 500 < row["wait"].total_seconds() <= 600  # capped at max_backoff
            await conn.execute("UPDATE outbox SET next_attempt_at = now()")
        assert await worker.run_once() == 1
    assert len(smtp_server[0].received) == 1


async def test_a_leased_row_waits_for_its_lease_and_a_resend_has_the_same_message_id(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp_server
    await store.sink.handed_off(handoff_event())
    # A worker claims the row and dies before marking it.
    async with db.acquire() as conn:
        claimed = await conn.fetch(CLAIM_DUE, 10, 3600.0, datetime.now(UTC), [])
    assert len(claimed) == 1
    worker = make_worker(db, port)
    assert await worker.run_once() == 0  # leased by the dead worker

    # Its lease runs out: the row is taken again, with the same Message-ID as any earlier send.
    async with db.acquire() as conn:
        await conn.execute("UPDATE outbox SET lease_until = now() - interval '1 second'")
    assert await worker.run_once() == 1
    row = claimed[0]
    assert handler.received[0].message["Message-ID"] == stable_message_id(
        row["id"], row["dedup_key"], MAIL_FROM
    )


class SendsThenCrashes:
    """A mailer that hands the message over and then fails, as a crash before the mark would."""

    def __init__(self, inner: SmtpMailer) -> None:
        self.inner = inner
        self.crashes = 1

    async def send(self, message: Any) -> None:
        await self.inner.send(message)
        if self.crashes:
            self.crashes -= 1
            raise MailUnavailable("crashed after sending")


async def test_crash_after_send_resends_the_identical_message(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, port = smtp_server
    mailer = SendsThenCrashes(SmtpMailer("127.0.0.1", port, starttls=False))
    worker = OutboxWorker(
        db, mailer, manager_email=MANAGER, mail_from=MAIL_FROM, backoff=lambda attempt: 0.0
    )
    await store.sink.handed_off(handoff_event())
    assert await worker.run_once() == 0
    assert await worker.run_once() == 1
    first, second = (r.message for r in handler.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert first.as_bytes() == second.as_bytes()


def _via(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


async def test_postgres_down_during_a_handoff_fails_and_the_retry_lands(
    database_url: str,
    db_settings: dict[str, str],
    db: asyncpg.Pool,
    worker: OutboxWorker,
    smtp_server: tuple[RecordingHandler, int],
    clock: Clock,
) -> None:
    target = urlsplit(database_url)
    if not target.hostname or not target.port:
        pytest.skip("Postgres is not reachable over TCP (embedded server on a socket)")
    async with TcpProxy(target.hostname, target.port) as proxy:
        pool = await open_pool(_via(database_url, proxy.port), server_settings=db_settings)
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)  # already applied: a warm connection in the pool
            store = LeadStore.open(pool, clock=clock)
            event = handoff_event("low_confidence")

            await proxy.cut()
            with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                await store.sink.handed_off(event)
            assert await count(db, "leads") == 0
            assert await count(db, "outbox") == 0

            await proxy.restore()
            await store.sink.handed_off(event)  # the pipeline retries the burst
            await store.sink.handed_off(event)
        finally:
            await pool.close()
    assert await count(db, "leads") == 1
    assert await worker.run_once() == 1
    assert len(smtp_server[0].received) == 1


async def test_header_injection_in_the_leads_name_and_company(
    store: LeadStore, worker: OutboxWorker, smtp_server: tuple[RecordingHandler, int]
) -> None:
    handler, _ = smtp_server
    lead = profile(
        name="Bob\r\nBcc: evil@x.com",
        company="Evil\nX-Injected: yes\u2028Cc: other@x.com",
        email="bob@bob.example",
    )
    event = replace(
        handoff_event(lead=lead),
        profile_name="Name\r\nTo: evil@x.com",
        summary="<script>alert(1)</script>\r\n.\r\nMAIL FROM:<evil@x.com>",
    )
    await store.sink.handed_off(event)
    assert await worker.run_once() == 1

    assert len(handler.received) == 1
    received = handler.received[0]
    assert received.rcpt_tos == [MANAGER]
    message = received.message
    for header in ("Bcc", "Cc", "X-Injected"):
        assert header not in message
    assert message.get_all("To") == [MANAGER]
    subject = str(message["Subject"])
    assert "\n" not in subject and "\r" not in subject
    # (a long subject is folded onto the next line; the parser keeps the fold's space)
    assert subject.strip() == (
        "Quote request: Bob Bcc: evil@x.com (Evil X-Injected: yes Cc: other@x.com)"
    )
    reply_to = message["Reply-To"].addresses
    assert [a.addr_spec for a in reply_to] == ["bob@bob.example"]
    assert reply_to[0].display_name == "Bob Bcc: evil@x.com"
    plain, html = parts(message)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "MAIL FROM:<evil@x.com>" in plain  # body text stays body text


async def test_run_forever_delivers_and_stops(
    store: LeadStore, db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]
) -> None:
    worker = make_worker(db, smtp_server[1], poll_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop))
    await store.sink.handed_off(handoff_event())
    worker.wake()
    async with asyncio.timeout(20):
        while not smtp_server[0].received:
            await asyncio.sleep(0.02)
    stop.set()
    async with asyncio.timeout(20):
        await task
    assert len(smtp_server[0].received) == 1


# --- A booked call moved or cancelled (issue #15, item 9) ----------------------------------------


async def test_a_moved_then_cancelled_call_emails_the_manager_and_unbooks_the_lead(
    store: LeadStore,
    worker: OutboxWorker,
    smtp_server: tuple[RecordingHandler, int],
) -> None:
    handler, _ = smtp_server
    booked = replace(lead_update("scheduling"), booking=booking())
    await store.sink.lead_updated(booked)
    await store.sink.handed_off(handoff_event("booked"))
    assert await worker.run_once() == 1  # the quote request of the booking
    assert (await store.leads.list_leads())[0].status == "booked"

    first = booking()
    later = timedelta(hours=2)
    moved_to = replace(first, start=first.start + later, end=first.end + later)
    moved = replace(booked, stage="handoff", booking=moved_to)
    await store.sink.lead_updated(moved)
    await store.sink.lead_updated(moved)  # a re-run of the same turn
    assert await worker.run_once() == 1
    lead = (await store.leads.list_leads())[0]
    assert lead.status == "booked" and lead.booking == moved_to

    cancelled = replace(moved, booking=replace(moved_to, status="cancelled"))
    await store.sink.lead_updated(cancelled)
    await store.sink.lead_updated(cancelled)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    lead = (await store.leads.list_leads())[0]
    assert lead.status == "qualified"  # set back: nothing is booked now
    assert lead.booking is not None and lead.booking.status == "cancelled"

    subjects = [r.message["Subject"] for r in handler.received]
    assert subjects == [
        "Quote request: Ana Pérez (Acme SL)",
        "Call moved: Ana Pérez (Acme SL)",
        "Call cancelled: Ana Pérez (Acme SL)",
    ]
    moved_text = handler.received[1].message.get_content()
    assert "Was: 2030-03-05 09:00 - 09:30" in moved_text
    assert "Now: 2030-03-05 11:00 - 11:30" in moved_text
    assert "https://wa.me/34600111222" in moved_text
    assert "cancelled their call of 2030-03-05 11:00" in handler.received[2].message.get_content()
