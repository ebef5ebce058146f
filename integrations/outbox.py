"""The Postgres outbox: side effects that must not be lost, delivered with retries.

A row is written by `enqueue` inside the transaction that decides the side effect (the lead store's
handoff), so the side effect exists exactly when the decision does. `OutboxWorker` delivers rows:

- claim: due rows are locked with `FOR UPDATE SKIP LOCKED` and given a lease (`lease_until`) and an
  attempt number, committed before anything is sent, so several workers never take one row and a
  worker that dies leaves the row to be taken again when its lease runs out;
- send; then mark the row sent;
- on failure: the lease is released and `next_attempt_at` moves by an exponential backoff capped
  at `max_backoff` (10 minutes by default). Rows never give up: after `alert_after` attempts they
  keep retrying at the cap, and each further failure is logged at ERROR and counted in
  `wa_outbox_alerts_total`, so a mail server down for an hour (or a day) loses nothing.

Crash after sending and before marking (the issue lets us choose): we claim under a lease and use a
stable idempotency key. Every email of a row carries the same Message-ID (`<outbox.<id>.<hash of
the dedup key>@<MAIL_FROM domain>>`) and the same Date, so in the rare case of a crash (or a
Postgres outage) between the server's acceptance and the mark, the row is sent again after its
lease and the copy is the same message, which mail clients (Gmail among them) fold into one. In
the normal case nothing is sent twice: the lease (5 minutes) is far longer than the SMTP timeout,
and the mark follows the send at once. The alternative, marking before sending, turns that rare
duplicate into a rare lost email, which is worse for a lead.

`attempts` counts claims, so a row that crashes its worker every time is counted (and alerted on)
too. Handlers are looked up by `kind` (other packages add theirs with `register`: the CRM's lead
events); a row of an unknown kind fails (and alerts) until a worker that knows it runs.

Order: rows enqueued with the same `ordering_key` (one CRM receiver and one lead) go out one after
another: a row is claimed only when no earlier row of its key is pending, so event n+1 waits
until event n was delivered, retries included. Ids follow commit order within a key because the
writers of one lead hold its contact's (or lead's) row lock until they commit.

A handler that raises `DeliveryPaused` (a CRM token that was refused) stops the worker from
claiming rows of that kind until the process restarts with a fixed setting: the failure is
logged once, at ERROR, and `wa_outbox_paused` says so; the rows stay pending, nothing is lost.

Scheduled jobs (issue #17: a booked call's reminders, a quiet lead's follow-ups) are rows of this
outbox due later (`next_attempt_at` in the future), rather than a job library's: they are written
in the transaction of the change they follow (the booking, the lead's message), which a library
on its own connection (procrastinate: psycopg) could not join; they are claimed once across
processes by the same `FOR UPDATE SKIP LOCKED` and lease; and "now" is the worker's injected
clock, passed to every statement, so tests move time instead of waiting for Postgres's `now()`.
A handler may answer `Reschedule`: the row is due again at that time with a new payload (the next
follow-up, a message held back by the lead's quiet hours) instead of being marked sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import asyncpg
from prometheus_client import Counter, Gauge

from integrations.mail.booking_change import BookingChangeNotice, build_booking_change_email
from integrations.mail.digest import NurtureDigest, build_nurture_digest
from integrations.mail.mailer import Mailer
from integrations.mail.quote import QuoteRequest, build_quote_request

if TYPE_CHECKING:
    from core.config import Settings

__all__ = [
    "ENQUEUE",
    "DeliveryPaused",
    "Handler",
    "LEAD_EMAIL_KIND",
    "MANAGER_BOOKING_KIND",
    "MANAGER_DIGEST_KIND",
    "MANAGER_EMAIL_KIND",
    "Handler",
    "OutboxRow",
    "OutboxWorker",
    "Reschedule",
    "enqueue",
    "exponential_backoff",
    "stable_message_id",
]

log = logging.getLogger(__name__)

MANAGER_EMAIL_KIND = "manager_email"
MANAGER_DIGEST_KIND = "manager_digest"
"""A lead to nurture, in a few lines (`integrations.mail.digest.NurtureDigest`)."""
MANAGER_BOOKING_KIND = "manager_booking_change"
"""A booked call moved or cancelled (`integrations.mail.booking_change.BookingChangeNotice`)."""
LEAD_EMAIL_KIND = "lead_email"
"""An email to the lead: `{"to", "subject", "text", "attachments": [[name, mime, base64]]}`
(the local calendar's .ics invitations)."""

ENQUEUE = """
INSERT INTO outbox (kind, dedup_key, payload, contact_id, ordering_key)
VALUES ($1, $2, $3::jsonb, $4, $5)
ON CONFLICT (dedup_key) DO NOTHING
RETURNING id"""
# "Now" is the worker's clock ($3, $5...), never Postgres's: tests move it.
CLAIM_DUE = """
WITH due AS (
    SELECT o.id FROM outbox AS o
    WHERE o.status = 'pending'
      AND o.next_attempt_at <= $3::timestamptz
      AND (o.lease_until IS NULL OR o.lease_until <= $3)
      AND o.kind <> ALL($4::text[])
      AND (o.ordering_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM outbox AS earlier
          WHERE earlier.ordering_key = o.ordering_key
            AND earlier.status = 'pending'
            AND earlier.id < o.id
      ))
    ORDER BY o.next_attempt_at, o.id
    LIMIT $1
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox AS o
SET lease_until = $3::timestamptz + make_interval(secs => $2), attempts = o.attempts + 1
FROM due
WHERE o.id = due.id
RETURNING o.id, o.kind, o.dedup_key, o.payload::text AS payload, o.attempts"""
# Marks name the claim (`attempts`): a row rescheduled meanwhile (a lead's new message moved
# their follow-up) is left as it now is.
MARK_SENT = """
UPDATE outbox SET status = 'sent', sent_at = $3, lease_until = NULL, last_error = NULL
WHERE id = $1 AND attempts = $2"""
RELEASE = """
UPDATE outbox SET lease_until = NULL, attempts = attempts - 1
WHERE id = $1 AND attempts = $2 AND status = 'pending'"""
MARK_FAILED = """
UPDATE outbox
SET lease_until = NULL, last_error = $3,
    next_attempt_at = $5::timestamptz + make_interval(secs => $4)
WHERE id = $1 AND attempts = $2 AND status = 'pending'"""
MARK_RESCHEDULED = """
UPDATE outbox
SET lease_until = NULL, last_error = NULL, attempts = 0, next_attempt_at = $3,
    payload = COALESCE($4::jsonb, payload)
WHERE id = $1 AND attempts = $2 AND status = 'pending'"""

SENT = Counter("wa_outbox_sent_total", "Outbox rows delivered.", ["kind"])
FAILED = Counter("wa_outbox_failed_total", "Outbox delivery attempts that failed.", ["kind"])
ALERTS = Counter(
    "wa_outbox_alerts_total",
    "Failed outbox attempts of rows past the alert threshold (still retrying at the cap).",
    ["kind"],
)
PAUSED = Gauge(
    "wa_outbox_paused",
    "1 while this process claims no rows of a kind (its destination refused our credentials).",
    ["kind"],
)

Backoff = Callable[[int], float]
"""Seconds to wait after the given (1-based) failed attempt."""


def exponential_backoff(attempt: int, *, base: float = 5.0, cap: float = 600.0) -> float:
    """`base * 2^(attempt-1)` seconds, capped at `cap` (5 s, 10 s, 20 s ... 10 min)."""
    return float(min(cap, base * 2 ** min(max(attempt - 1, 0), 32)))


def stable_message_id(row_id: int, dedup_key: str, mail_from: str) -> str:
    """The Message-ID every send of one outbox row carries: a resend is recognisably the same."""
    domain = mail_from.rpartition("@")[2].strip("<> ") or "localhost"
    digest = hashlib.sha256(dedup_key.encode()).hexdigest()[:16]
    return f"<outbox.{row_id}.{digest}@{domain}>"


def _header_safe(value: str) -> str:
    """A header value with no line breaks or control characters (no header injection)."""
    return "".join(ch for ch in value if ch.isprintable()).strip()


async def enqueue(
    conn: asyncpg.Connection,
    *,
    kind: str,
    dedup_key: str,
    payload: str | Mapping[str, Any],
    contact_id: int | None = None,
    ordering_key: str | None = None,
) -> int | None:
    """Add a row in the caller's transaction; returns its id, or None when `dedup_key` exists.
    Rows of one `ordering_key` are delivered in the order they were enqueued."""
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    row_id: int | None = await conn.fetchval(
        ENQUEUE, kind, dedup_key, body, contact_id, ordering_key
    )
    return row_id


class DeliveryPaused(Exception):
    """The destination refuses every row until a person fixes a setting (a revoked token)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxRow:
    """One claimed row."""

    id: int
    kind: str
    dedup_key: str
    payload: str
    """The JSON payload as text."""
    attempts: int
    """This attempt's number, starting at 1."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reschedule:
    """A handler's answer: not done yet, due again `at` (with `payload`, when given)."""

    at: datetime
    payload: str | None = None


Handler = Callable[[OutboxRow], Awaitable[Reschedule | None]]
"""Delivers one row: None when done, `Reschedule` to run it again later; raises to retry."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class OutboxWorker:
    """Delivers due outbox rows; `run_forever` in the app's lifespan, `run_once` in tests."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        mailer: Mailer,
        *,
        manager_email: str,
        mail_from: str,
        poll_interval: float = 2.0,
        batch_size: int = 5,
        lease_seconds: float = 300.0,
        backoff: Backoff | None = None,
        max_backoff: float = 600.0,
        alert_after: int = 10,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._pool = pool
        self.clock = clock
        """The worker's "now": when rows are due, and the handlers' too."""
        self._mailer = mailer
        self.manager_email = manager_email
        self.mail_from = mail_from
        self.poll_interval = poll_interval
        # A claimed batch is sent one row after another under one lease: batch_size times the
        # mailer's timeout (30 s) must stay well under lease_seconds, or another process could
        # claim the last rows of a slow batch again.
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self._backoff: Backoff = backoff or (
            lambda attempt: exponential_backoff(attempt, cap=max_backoff)
        )
        self.max_backoff = max_backoff
        self.alert_after = alert_after
        self._handlers: dict[str, Handler] = {
            MANAGER_EMAIL_KIND: self._send_manager_email,
            MANAGER_DIGEST_KIND: self._send_manager_digest,
            MANAGER_BOOKING_KIND: self._send_booking_change,
            LEAD_EMAIL_KIND: self._send_lead_email,
        }
        self._paused: set[str] = set()
        self._wake = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        pool: asyncpg.Pool,
        mailer: Mailer,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> OutboxWorker:
        """A worker with the configured addresses (MANAGER_EMAIL unset: a local placeholder)."""
        manager_email = settings.MANAGER_EMAIL
        if not manager_email:
            manager_email = "manager@localhost"
            log.warning("MANAGER_EMAIL is not set; quote requests go to %s", manager_email)
        return cls(
            pool, mailer, manager_email=manager_email, mail_from=settings.MAIL_FROM, clock=clock
        )

    def register(self, kind: str, handler: Handler) -> None:
        """Deliver rows of `kind` with `handler` (parts beyond email add theirs): it raises to
        have the row retried, or answers `Reschedule`."""
        self._handlers[kind] = handler

    @property
    def paused(self) -> frozenset[str]:
        """The kinds this worker no longer claims (see `DeliveryPaused`)."""
        return frozenset(self._paused)

    def wake(self) -> None:
        """Look for due rows now instead of at the next poll (after enqueueing, for instance)."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim the due rows and deliver them; returns how many were delivered. Postgres errors
        propagate (nothing was lost: an unmarked row is taken again after its lease)."""
        async with self._pool.acquire() as conn:
            records = await conn.fetch(
                CLAIM_DUE, self.batch_size, self.lease_seconds, self.clock(),
                sorted(self._paused),
            )
        delivered = 0
        for record in records:
            row = OutboxRow(
                id=record["id"],
                kind=record["kind"],
                dedup_key=record["dedup_key"],
                payload=record["payload"],
                attempts=record["attempts"],
            )
            if await self._deliver(row):
                delivered += 1
        return delivered

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; errors are logged and the loop goes on."""
        log.info("outbox worker started (poll every %.1f s)", self.poll_interval)
        while not stop.is_set():
            try:
                delivered = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "outbox: could not claim rows; retrying in %.1f s", self.poll_interval
                )
                delivered = 0
            if delivered:
                continue  # there may be more due rows
            await self._sleep(stop)
        log.info("outbox worker stopped")

    async def _sleep(self, stop: asyncio.Event) -> None:
        self._wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def _deliver(self, row: OutboxRow) -> bool:
        if row.kind in self._paused:  # paused while this row waited in the claimed batch
            async with self._pool.acquire() as conn:
                await conn.execute(RELEASE, row.id, row.attempts)
            return False
        handler = self._handlers.get(row.kind)
        try:
            if handler is None:
                raise LookupError(
                    f"no handler for outbox kind {row.kind!r}; deploy a worker that knows it"
                )
            later = await handler(row)
        except asyncio.CancelledError:
            raise
        except DeliveryPaused as exc:
            await self._pause(row, exc)
            return False
        except Exception as exc:
            await self._failed(row, exc)
            return False
        async with self._pool.acquire() as conn:
            if later is not None:
                await conn.execute(MARK_RESCHEDULED, row.id, row.attempts, later.at, later.payload)
                log.info("outbox: row %s (%s) is due again at %s", row.id, row.kind, later.at)
                return True
            await conn.execute(MARK_SENT, row.id, row.attempts, self.clock())
        SENT.labels(row.kind).inc()
        log.info("outbox: delivered row %s (%s) at attempt %s", row.id, row.kind, row.attempts)
        return True

    async def _pause(self, row: OutboxRow, exc: DeliveryPaused) -> None:
        """Stop claiming rows of the kind; the row keeps its place (see the module docstring)."""
        FAILED.labels(row.kind).inc()
        if row.kind not in self._paused:
            self._paused.add(row.kind)
            PAUSED.labels(row.kind).set(1)
            log.error(
                "outbox: %s rows paused until restart (row %s): %s", row.kind, row.id, exc
            )
        await self._mark_failed(row, f"{type(exc).__name__}: {exc}"[:2000], 0.0)

    async def _failed(self, row: OutboxRow, exc: Exception) -> None:
        FAILED.labels(row.kind).inc()
        delay = min(max(self._backoff(row.attempts), 0.0), self.max_backoff)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= self.alert_after:
            ALERTS.labels(row.kind).inc()
            log.error(
                "outbox: row %s (%s) still undelivered after %s attempts, retrying in %.0f s: %s",
                row.id, row.kind, row.attempts, delay, error,
            )
        else:
            log.warning(
                "outbox: row %s (%s) attempt %s failed, retrying in %.0f s: %s",
                row.id, row.kind, row.attempts, delay, error,
            )
        await self._mark_failed(row, error, delay)

    async def _mark_failed(self, row: OutboxRow, error: str, delay: float) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(MARK_FAILED, row.id, row.attempts, error, delay, self.clock())

    async def _send_lead_email(self, row: OutboxRow) -> None:
        data = json.loads(row.payload)
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = _header_safe(data["to"])
        message["Subject"] = _header_safe(data["subject"])
        message["Message-ID"] = stable_message_id(row.id, row.dedup_key, self.mail_from)
        message.set_content(data["text"])
        for name, mime, encoded in data.get("attachments", []):
            maintype, _, subtype = mime.partition(";")[0].strip().partition("/")
            params = dict(
                part.strip().split("=", 1) for part in mime.split(";")[1:] if "=" in part
            )
            message.add_attachment(
                base64.b64decode(encoded), maintype=maintype, subtype=subtype,
                filename=name, params=params,
            )
        await self._mailer.send(message)

    async def _send_manager_email(self, row: OutboxRow) -> None:
        request = QuoteRequest.from_json(row.payload)
        message = build_quote_request(
            request,
            to=self.manager_email,
            mail_from=self.mail_from,
            message_id=stable_message_id(row.id, row.dedup_key, self.mail_from),
        )
        await self._mailer.send(message)

    async def _send_manager_digest(self, row: OutboxRow) -> None:
        message = build_nurture_digest(
            NurtureDigest.from_json(row.payload),
            to=self.manager_email,
            mail_from=self.mail_from,
            message_id=stable_message_id(row.id, row.dedup_key, self.mail_from),
        )
        await self._mailer.send(message)

    async def _send_booking_change(self, row: OutboxRow) -> None:
        message = build_booking_change_email(
            BookingChangeNotice.from_json(row.payload),
            to=self.manager_email,
            mail_from=self.mail_from,
            message_id=stable_message_id(row.id, row.dedup_key, self.mail_from),
        )
        await self._mailer.send(message)
