"""Fixtures of the lead store and manager-email tests: a migrated schema, a real SMTP server
(aiosmtpd on 127.0.0.1) that records what it receives, a movable clock, handoff events."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from core.migrate import apply_migrations
from domain.booking import Booking
from domain.events import HandoffEvent, HandoffReason, LeadUpdate, Stage, TranscriptLine
from domain.lead import Authority, Budget, LeadProfile, Need, Timeline
from integrations.leads import LeadStore
from integrations.mail import SmtpMailer
from integrations.outbox import OutboxWorker

MANAGER = "manager@sales.example"
MAIL_FROM = "agent@sales.example"
NUMBER = "+34600111222"
START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message (from the server's own thread)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[RecordingHandler, int]]:
    """A real SMTP server on 127.0.0.1: `(handler, port)`."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """The test's pool with the project's migrations applied."""
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield pool


@pytest.fixture
def store(db: asyncpg.Pool, clock: Clock) -> LeadStore:
    return LeadStore.open(db, human_idle_hours=24, clock=clock)


def make_worker(pool: asyncpg.Pool, port: int, **options: Any) -> OutboxWorker:
    """A worker sending through the SMTP server on `port`, retrying at once by default."""
    mailer = SmtpMailer("127.0.0.1", port, starttls=False, timeout=5)
    options.setdefault("backoff", lambda attempt: 0.0)
    return OutboxWorker(pool, mailer, manager_email=MANAGER, mail_from=MAIL_FROM, **options)


@pytest.fixture
def worker(db: asyncpg.Pool, smtp_server: tuple[RecordingHandler, int]) -> OutboxWorker:
    return make_worker(db, smtp_server[1])


def profile(**overrides: Any) -> LeadProfile:
    values: dict[str, Any] = {
        "name": "Ana Pérez",
        "company": "Acme SL",
        "email": "ana@acme.example",
        "language": "es",
        "timezone": "Europe/Madrid",
        "need": Need(words="necesitamos un CRM para 20 vendedores", message_id="wamid.1",
                     summary="CRM for 20 sales reps"),
        "budget": Budget(words="unos 5000 euros", message_id="wamid.2", amount=5000,
                         currency="EUR"),
        "authority": Authority(words="yo decido, soy la CTO", message_id="wamid.3", role="CTO",
                               decides=True),
        "timeline": Timeline(words="antes de abril", message_id="wamid.4",
                             date=datetime(2030, 4, 1).date()),
    }
    values.update(overrides)
    return LeadProfile(**values)


def booking() -> Booking:
    return Booking(
        id="evt-123", start=START + timedelta(days=1), end=START + timedelta(days=1, minutes=30),
        calendar="local", link="https://calendar.example/evt-123",
    )


def handoff_event(
    reason: HandoffReason = "requested",
    *,
    number: str = NUMBER,
    lead: LeadProfile | None = None,
    at: datetime = START,
    with_booking: bool | None = None,
) -> HandoffEvent:
    with_booking = reason == "booked" if with_booking is None else with_booking
    return HandoffEvent(
        thread_id=f"meta:{number}",
        channel="meta",
        contact=number,
        profile_name="Ana WA",
        reason=reason,
        at=at,
        profile=lead or profile(),
        summary="Ana wants a CRM for her 20 sales reps before April.",
        recent=[
            TranscriptLine(
                role="lead", text="¿Puedo hablar con una persona?", message_id="wamid.5"
            ),
            TranscriptLine(role="bot", text="Claro, te paso con el equipo."),
        ],
        booking=booking() if with_booking else None,
    )


def lead_update(
    stage: Stage = "qualification", *, number: str = NUMBER, lead: LeadProfile | None = None
) -> LeadUpdate:
    return LeadUpdate(
        thread_id=f"meta:{number}",
        channel="meta",
        contact=number,
        profile_name="Ana WA",
        stage=stage,
        profile=lead if lead is not None else profile(),
        summary="so far",
    )


async def count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # test tables only


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies of a received message."""
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()
