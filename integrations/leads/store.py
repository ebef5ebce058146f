"""The Postgres lead store: contacts, leads, handoffs, the transcript, human takeover and opt-out.

It is the graph's `LeadSink` (graph/events.py) and the data layer of the manager's admin API.
Tables come from `migrations/0001_leads.sql`; the outbox rows it writes are delivered by
`integrations/outbox.py`.

Why it is shaped this way:

- Idempotence and concurrency come from the database, not from locks in Python. Every write of a
  contact starts with an upsert of its row, which locks it, so two workers handling one contact
  take turns; one open lead per contact is a partial unique index (`ON CONFLICT` upserts it); a
  handoff is unique per (lead, reason) while unresolved; the manager's email is an outbox row
  keyed by the handoff's id, written in the same transaction. A burst re-run or two concurrent
  `handed_off` calls therefore end with one lead row, one handoff and one email.
- A lead update never erases what is known: a missing profile item (the graph state expired after
  24 h, say) keeps the stored value, and the status only moves forward (new -> qualifying ->
  qualified -> booked -> handed_off) except when a handoff sets it, or the manager closes the lead.
- Human takeover lives on the contact (`human_since`, `human_last_activity`). The idle rule is
  the pure `human_mode_active` with `now` from an injectable clock, so tests need no sleeping.
  A handoff after an idle-expired stretch first ends that stretch (resolving its handoffs), so
  it is a new handoff with a new email, while a repeat within the stretch is absorbed.
- Errors: a Postgres outage (OSError, asyncpg errors) propagates untranslated, so the pipeline
  fails the turn and retries the burst later; only what callers act on is translated:

    LeadStoreError
     +-- ContactNotFound    no contact with that channel and number (admin API: 404)
     +-- LeadNotFound       no lead with that id (admin API: 404)
     +-- InvalidValue       a malformed number, status, outcome or author (also a ValueError)
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, get_args

import asyncpg

from graph.events import HandoffEvent, LeadUpdate, Stage
from graph.lead import Authority, Budget, LeadProfile, Need, Timeline
from integrations.calendar.base import Booking
from integrations.mail.quote import Attachment, QuoteRequest
from integrations.outbox import MANAGER_EMAIL_KIND, enqueue
from integrations.whatsapp.types import InboundMessage

if TYPE_CHECKING:
    from core.config import Settings

__all__ = [
    "ContactNotFound",
    "ContactState",
    "HandoffRecord",
    "InvalidValue",
    "LeadDetail",
    "LeadNotFound",
    "LeadRecord",
    "LeadStatus",
    "LeadStore",
    "LeadStoreError",
    "TranscriptEntry",
    "human_mode_active",
    "parse_thread_id",
    "status_for_update",
]

LeadStatus = Literal["new", "qualifying", "qualified", "booked", "handed_off", "won", "lost"]
Outcome = Literal["won", "lost"]
Author = Literal["lead", "bot", "human"]
LEAD_STATUSES: tuple[str, ...] = get_args(LeadStatus)
OPEN_STATUS_ORDER: tuple[str, ...] = ("new", "qualifying", "qualified", "booked", "handed_off")
"""Open statuses in the order a lead update may move through them (never backwards)."""

_E164 = re.compile(r"^\+[1-9]\d{5,14}$")


class LeadStoreError(Exception):
    """A lead store operation cannot be done as asked."""


class ContactNotFound(LeadStoreError, LookupError):
    """No contact has this channel and number; it never wrote in, or it was deleted."""


class LeadNotFound(LeadStoreError, LookupError):
    """No lead has this id; it never existed or its contact was deleted."""


class InvalidValue(LeadStoreError, ValueError):
    """A value is malformed (number not E.164, unknown status/outcome/author); fix the caller."""


# --- SQL -----------------------------------------------------------------------------------------

UPSERT_CONTACT = """
INSERT INTO contacts (channel, number, profile_name, language)
VALUES ($1, $2, $3, $4)
ON CONFLICT (channel, number) DO UPDATE SET
    profile_name = COALESCE(EXCLUDED.profile_name, contacts.profile_name),
    language = COALESCE(EXCLUDED.language, contacts.language),
    updated_at = now()
RETURNING id, human_since, human_last_activity"""
CONTACT_COLUMNS = """
id, channel, number, profile_name, language, opted_out, opted_out_at, human_since,
human_last_activity, created_at"""
SELECT_CONTACT = f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE channel = $1 AND number = $2"
SELECT_CONTACT_FOR_UPDATE = SELECT_CONTACT + " FOR UPDATE"
SET_OPT_OUT = """
UPDATE contacts
SET opted_out = $2, opted_out_at = CASE WHEN $2 THEN $3::timestamptz END, updated_at = now()
WHERE id = $1 AND opted_out IS DISTINCT FROM $2
RETURNING id"""
ENTER_HUMAN_MODE = """
UPDATE contacts
SET human_since = COALESCE(human_since, $2), human_last_activity = $2, updated_at = now()
WHERE id = $1"""
TOUCH_HUMAN = """
UPDATE contacts
SET human_since = COALESCE(human_since, $3), human_last_activity = $3, updated_at = now()
WHERE channel = $1 AND number = $2
RETURNING id"""
LEAVE_HUMAN_MODE = """
UPDATE contacts SET human_since = NULL, human_last_activity = NULL, updated_at = now()
WHERE id = $1"""
RESOLVE_CONTACT_HANDOFFS = """
UPDATE handoffs AS h SET resolved_at = $2
FROM leads AS l
WHERE l.id = h.lead_id AND l.contact_id = $1 AND h.resolved_at IS NULL"""
DELETE_CONTACT = "DELETE FROM contacts WHERE channel = $1 AND number = $2 RETURNING id"

# Profile columns of a lead, in parameter order after ($1 contact_id, $2 status, $3 force_status).
LEAD_PROFILE_COLUMNS: tuple[str, ...] = (
    "stage", "name", "company", "email", "language", "timezone",
    "need_words", "need_summary", "need_message_id",
    "budget_amount", "budget_currency", "budget_words", "budget_message_id",
    "authority_role", "authority_decides", "authority_words", "authority_message_id",
    "timeline_words", "timeline_date", "timeline_message_id",
    "summary",
    "booking_event_id", "booking_calendar", "booking_start", "booking_end", "booking_link",
    "booking_status",
)
_KEEP_KNOWN = ",\n    ".join(
    f"{column} = COALESCE(EXCLUDED.{column}, leads.{column})" for column in LEAD_PROFILE_COLUMNS
)
_STATUS_RANK = "array_position(ARRAY['" + "','".join(OPEN_STATUS_ORDER) + "']::text[], {})"
# Built once from the column list; every value is still a parameter.


def _upsert_lead(contact_id: str, first: int) -> str:
    """The lead upsert with the contact id given by `contact_id` (SQL) and the status, force flag
    and profile values as parameters from `$first` on."""
    values = ", ".join(f"${i}" for i in range(first + 2, first + 2 + len(LEAD_PROFILE_COLUMNS)))
    return f"""
INSERT INTO leads (contact_id, status, {", ".join(LEAD_PROFILE_COLUMNS)})
VALUES ({contact_id}, ${first}, {values})
ON CONFLICT (contact_id) WHERE status NOT IN ('won', 'lost') DO UPDATE SET
    status = CASE
        WHEN ${first + 1}::boolean
          OR {_STATUS_RANK.format("EXCLUDED.status")} >= {_STATUS_RANK.format("leads.status")}
        THEN EXCLUDED.status ELSE leads.status END,
    {_KEEP_KNOWN},
    updated_at = now()
RETURNING id"""


UPSERT_LEAD = _upsert_lead("$1", 2)
# The contact ($1-$4, as UPSERT_CONTACT) and its open lead in one statement: one round trip.
UPSERT_CONTACT_AND_LEAD = (
    f"WITH contact AS ({UPSERT_CONTACT})" + _upsert_lead("(SELECT id FROM contact)", 5)
)
LEAD_COLUMNS = (
    "l.id, l.contact_id, l.status, l.created_at, l.updated_at, l.closed_at, "
    + ", ".join(f"l.{c}" for c in LEAD_PROFILE_COLUMNS)
    + ", c.channel, c.number, c.profile_name AS contact_profile_name"
)
SELECT_LEAD = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id WHERE l.id = $1"""
LIST_LEADS = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE ($1::text IS NULL OR l.status = $1)
  AND ($2::timestamptz IS NULL OR l.created_at >= $2)
  AND ($3::timestamptz IS NULL OR l.created_at < $3)
ORDER BY l.created_at DESC, l.id DESC
LIMIT $4 OFFSET $5"""
COUNT_LEADS = """
SELECT count(*) FROM leads AS l
WHERE ($1::text IS NULL OR l.status = $1)
  AND ($2::timestamptz IS NULL OR l.created_at >= $2)
  AND ($3::timestamptz IS NULL OR l.created_at < $3)"""
SET_OUTCOME = """
UPDATE leads SET status = $2, closed_at = COALESCE(closed_at, $3), updated_at = now()
WHERE id = $1
RETURNING id"""
RESOLVE_LEAD_HANDOFFS = """
UPDATE handoffs SET resolved_at = $2 WHERE lead_id = $1 AND resolved_at IS NULL"""

INSERT_HANDOFF = """
INSERT INTO handoffs (lead_id, reason, at)
VALUES ($1, $2, $3)
ON CONFLICT (lead_id, reason) WHERE resolved_at IS NULL DO NOTHING
RETURNING id"""
SELECT_HANDOFFS = """
SELECT id, reason, at, resolved_at FROM handoffs WHERE lead_id = $1 ORDER BY at, id"""

# The contact ($1-$4, as UPSERT_CONTACT) upserted and one transcript line stored in one statement
# (one round trip, atomic without an explicit transaction): the hot path records two per turn.
RECORD_MESSAGE = f"""
WITH contact AS ({UPSERT_CONTACT})
INSERT INTO transcript (
    contact_id, channel, direction, author, kind, text, media, details, provider_message_id,
    message_ids, at
)
SELECT contact.id, $1, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13 FROM contact
ON CONFLICT (channel, provider_message_id) WHERE provider_message_id IS NOT NULL DO NOTHING
RETURNING id, contact_id"""
SELECT_HUMAN_NOTES = """
SELECT t.text FROM transcript AS t JOIN contacts AS c ON c.id = t.contact_id
WHERE c.channel = $1 AND c.number = $2 AND t.author = 'human' AND t.text IS NOT NULL
  AND c.human_since IS NOT NULL AND t.at >= c.human_since
ORDER BY t.at DESC, t.id DESC
LIMIT $3"""
SELECT_TRANSCRIPT = """
SELECT * FROM (
    SELECT id, direction, author, kind, text, media::text AS media, details::text AS details,
           provider_message_id, message_ids, at
    FROM transcript WHERE contact_id = $1
    ORDER BY at DESC, id DESC
    LIMIT $2
) AS latest
ORDER BY at, id"""


# --- Records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactState:
    """A contact as the pipeline needs it: opt-out and human takeover."""

    id: int
    channel: str
    number: str
    profile_name: str | None
    language: str | None
    opted_out: bool
    opted_out_at: datetime | None
    human_since: datetime | None
    """Start of the current human stretch; None when the bot has the conversation."""
    human_last_activity: datetime | None
    """The last human message (or the handoff); the idle clock starts here."""
    created_at: datetime

    def human_active(self, *, now: datetime, idle: timedelta) -> bool:
        return human_mode_active(self.human_since, self.human_last_activity, now=now, idle=idle)

    def human_stretch_ended(self, *, now: datetime, idle: timedelta) -> bool:
        """A human had the conversation and went idle: the bot resumes, knowing a human spoke."""
        return self.human_since is not None and not self.human_active(now=now, idle=idle)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadRecord:
    """One lead with its contact's channel and number."""

    id: int
    contact_id: int
    channel: str
    number: str
    contact_profile_name: str | None
    status: LeadStatus
    stage: Stage | None
    profile: LeadProfile
    summary: str | None
    booking: Booking | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEntry:
    """One stored message."""

    id: int
    direction: Literal["in", "out"]
    author: Author
    kind: str
    text: str | None
    media: list[dict[str, Any]]
    details: dict[str, Any]
    provider_message_id: str | None
    message_ids: list[str]
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRecord:
    id: int
    reason: str
    at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadDetail:
    """A lead with its contact's latest transcript (chronological) and its handoffs."""

    lead: LeadRecord
    transcript: list[TranscriptEntry]
    handoffs: list[HandoffRecord]


# --- Pure helpers --------------------------------------------------------------------------------


def human_mode_active(
    human_since: datetime | None,
    last_activity: datetime | None,
    *,
    now: datetime,
    idle: timedelta,
) -> bool:
    """Whether a human has the conversation: a stretch started and the last human activity is
    less than `idle` ago."""
    if human_since is None:
        return False
    return now - (last_activity or human_since) < idle


def status_for_update(update: LeadUpdate) -> LeadStatus:
    """The status a lead update implies (the store never moves an open lead backwards)."""
    if update.booking is not None and update.booking.status == "confirmed":
        return "booked"
    profile = update.profile
    if profile.bant_complete:
        return "qualified"
    if update.stage == "greeting" and len(profile.missing_bant()) == 4:
        return "new"
    return "qualifying"


def parse_thread_id(thread_id: str) -> tuple[str, str]:
    """`"<channel>:<E.164 number>"` as `(channel, number)`."""
    channel, sep, number = thread_id.partition(":")
    if not sep or not channel:
        raise InvalidValue(f"thread id {thread_id!r} is not '<channel>:<E.164 number>'")
    return channel, _number(number)


def _number(number: str) -> str:
    if not _E164.match(number):
        raise InvalidValue("the contact number must be E.164 (+ and 6 to 15 digits)")
    return number


def lead_values(
    *, stage: Stage | None, profile: LeadProfile, summary: str | None, booking: Booking | None
) -> list[Any]:
    """The `LEAD_PROFILE_COLUMNS` values of a profile, in order; None keeps the stored value."""
    need, budget, authority = profile.need, profile.budget, profile.authority
    timeline = profile.timeline
    values: dict[str, Any] = {
        "stage": stage,
        "name": profile.name,
        "company": profile.company,
        "email": profile.email,
        "language": profile.language,
        "timezone": profile.timezone,
        "need_words": need.words if need else None,
        "need_summary": need.summary if need else None,
        "need_message_id": need.message_id if need else None,
        "budget_amount": Decimal(str(budget.amount)) if budget and budget.amount else None,
        "budget_currency": budget.currency if budget else None,
        "budget_words": budget.words if budget else None,
        "budget_message_id": budget.message_id if budget else None,
        "authority_role": authority.role if authority else None,
        "authority_decides": authority.decides if authority else None,
        "authority_words": authority.words if authority else None,
        "authority_message_id": authority.message_id if authority else None,
        "timeline_words": timeline.words if timeline else None,
        "timeline_date": timeline.date if timeline else None,
        "timeline_message_id": timeline.message_id if timeline else None,
        "summary": summary or None,
        "booking_event_id": booking.id if booking else None,
        "booking_calendar": booking.calendar if booking else None,
        "booking_start": booking.start if booking else None,
        "booking_end": booking.end if booking else None,
        "booking_link": booking.link if booking else None,
        "booking_status": booking.status if booking else None,
    }
    return [values[column] for column in LEAD_PROFILE_COLUMNS]


def _profile_from_row(row: asyncpg.Record) -> LeadProfile:
    def item(prefix: str) -> dict[str, Any] | None:
        words = row[f"{prefix}_words"]
        if words is None:
            return None
        return {"words": words, "message_id": row[f"{prefix}_message_id"]}

    need, budget, authority = item("need"), item("budget"), item("authority")
    timeline = item("timeline")
    amount: Decimal | None = row["budget_amount"]
    timeline_date: date | None = row["timeline_date"]
    return LeadProfile(
        name=row["name"],
        company=row["company"],
        email=row["email"],
        language=row["language"],
        timezone=row["timezone"],
        need=Need(**need, summary=row["need_summary"]) if need else None,
        budget=Budget(
            **budget, amount=float(amount) if amount is not None else None,
            currency=row["budget_currency"],
        ) if budget else None,
        authority=Authority(
            **authority, role=row["authority_role"], decides=row["authority_decides"]
        ) if authority else None,
        timeline=Timeline(**timeline, date=timeline_date) if timeline else None,
    )


def _lead_from_row(row: asyncpg.Record) -> LeadRecord:
    booking = None
    if row["booking_event_id"] is not None:
        booking = Booking(
            id=row["booking_event_id"],
            start=row["booking_start"],
            end=row["booking_end"],
            calendar=row["booking_calendar"],
            link=row["booking_link"],
            status=row["booking_status"] or "confirmed",
        )
    return LeadRecord(
        id=row["id"],
        contact_id=row["contact_id"],
        channel=row["channel"],
        number=row["number"],
        contact_profile_name=row["contact_profile_name"],
        status=row["status"],
        stage=row["stage"],
        profile=_profile_from_row(row),
        summary=row["summary"],
        booking=booking,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
    )


def _contact_from_row(row: asyncpg.Record) -> ContactState:
    return ContactState(**{f.name: row[f.name] for f in fields(ContactState)})


def _inbound_details(message: InboundMessage) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if message.location is not None:
        details["location"] = asdict(message.location)
    if message.reply_to:
        details["reply_to"] = message.reply_to
    if message.payload:
        details["payload"] = message.payload
    return details


# --- The store -----------------------------------------------------------------------------------


class LeadStore:
    """Leads, contacts and transcript in Postgres; the graph's `LeadSink`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        human_idle_hours: float = 24.0,
        clock: Callable[[], datetime] | None = None,
        attachments: Callable[[HandoffEvent], Sequence[Attachment]] | None = None,
    ) -> None:
        """`clock` gives "now" for human takeover and opt-out (tests move it); `attachments`
        returns files to attach to the manager's email of a handoff (the calendar's `.ics`)."""
        self._pool = pool
        self.human_idle = timedelta(hours=human_idle_hours)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._attachments = attachments

    @classmethod
    def from_settings(
        cls,
        pool: asyncpg.Pool,
        settings: Settings,
        *,
        attachments: Callable[[HandoffEvent], Sequence[Attachment]] | None = None,
    ) -> LeadStore:
        return cls(pool, human_idle_hours=settings.HUMAN_IDLE_HOURS, attachments=attachments)

    def now(self) -> datetime:
        return self._clock()

    # --- LeadSink ------------------------------------------------------------------------------

    async def lead_updated(self, update: LeadUpdate) -> None:
        """Upsert the contact's open lead from the profile and stage (idempotent)."""
        number = _number(update.contact)
        async with self._pool.acquire() as conn:
            await conn.fetchval(
                UPSERT_CONTACT_AND_LEAD,
                update.channel, number, update.profile_name, update.profile.language,
                status_for_update(update), False,
                *lead_values(
                    stage=update.stage, profile=update.profile, summary=update.summary,
                    booking=update.booking,
                ),
            )

    async def handed_off(self, event: HandoffEvent) -> None:
        """Record a handoff: the lead (status handed_off, or booked), the handoff, human mode for
        the contact, and one manager-email outbox row, in one transaction. A repeat of an
        unresolved handoff (re-run, concurrent call) changes nothing more."""
        number = _number(event.contact)
        async with self._pool.acquire() as conn, conn.transaction():
            now = self.now()
            contact = await conn.fetchrow(
                UPSERT_CONTACT, event.channel, number, event.profile_name, event.profile.language
            )
            contact_id: int = contact["id"]
            since, last = contact["human_since"], contact["human_last_activity"]
            if since is not None and not human_mode_active(
                since, last, now=now, idle=self.human_idle
            ):
                # The last human stretch went idle: this is a new handoff, not a repeat.
                await conn.execute(RESOLVE_CONTACT_HANDOFFS, contact_id, now)
                await conn.execute(LEAVE_HUMAN_MODE, contact_id)
            status: LeadStatus = "booked" if event.reason == "booked" else "handed_off"
            lead_id: int = await conn.fetchval(
                UPSERT_LEAD, contact_id, status, True,
                *lead_values(
                    stage="handoff", profile=event.profile, summary=event.summary,
                    booking=event.booking,
                ),
            )
            handoff_id: int | None = await conn.fetchval(
                INSERT_HANDOFF, lead_id, event.reason, event.at
            )
            if handoff_id is None:
                return
            await conn.execute(ENTER_HUMAN_MODE, contact_id, now)
            files = list(self._attachments(event)) if self._attachments else []
            request = QuoteRequest.from_event(event, lead_id=lead_id, attachments=files)
            await enqueue(
                conn,
                kind=MANAGER_EMAIL_KIND,
                dedup_key=f"handoff:{handoff_id}",
                payload=request.to_json(),
                contact_id=contact_id,
            )

    # --- Contacts and transcript ---------------------------------------------------------------

    async def upsert_contact(
        self,
        channel: str,
        number: str,
        *,
        profile_name: str | None = None,
        language: str | None = None,
    ) -> ContactState:
        """Create the contact or refresh its profile name and language; returns its state."""
        number = _number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(UPSERT_CONTACT, channel, number, profile_name, language)
            row = await conn.fetchrow(SELECT_CONTACT, channel, number)
        return _contact_from_row(row)

    async def get_contact(self, channel: str, number: str) -> ContactState | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_CONTACT, channel, _number(number))
        return None if row is None else _contact_from_row(row)

    async def record_inbound(self, message: InboundMessage) -> bool:
        """Store an inbound message (also while a human has the conversation); False when it was
        already stored (same provider message id)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                RECORD_MESSAGE, message.channel, _number(message.contact), message.profile_name,
                None, "in", "lead", message.kind, message.text,
                json.dumps([asdict(m) for m in message.media]),
                json.dumps(_inbound_details(message)), message.message_id or None, [],
                message.timestamp,
            )
        return row is not None

    async def record_outbound(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        author: Literal["bot", "human"] = "bot",
        message_ids: Sequence[str] = (),
        kind: str = "text",
        at: datetime | None = None,
    ) -> bool:
        """Store a message sent to the contact (a reply may be split: `message_ids` are all its
        provider ids; the first one makes re-recording a no-op). A human message also starts
        or refreshes human mode. False when it was already stored."""
        if author not in ("bot", "human"):
            raise InvalidValue(f"outbound author must be 'bot' or 'human', not {author!r}")
        number = _number(number)
        now = self.now()
        human = author == "human"  # the line and human mode together, or neither
        async with self._pool.acquire() as conn, (
            conn.transaction() if human else contextlib.nullcontext()
        ):
            row = await conn.fetchrow(
                RECORD_MESSAGE, channel, number, None, None, "out", author, kind, text, "[]", "{}",
                message_ids[0] if message_ids else None, list(message_ids), at or now,
            )
            if human and row is not None:
                await conn.execute(ENTER_HUMAN_MODE, row["contact_id"], now)
        return row is not None

    # --- Human takeover and opt-out -------------------------------------------------------------

    async def is_silenced(self, channel: str, number: str, *, now: datetime | None = None) -> bool:
        """Whether the bot must not send to this contact: opted out, or a human has the
        conversation and has not been idle for `human_idle_hours`."""
        state = await self.get_contact(channel, number)
        if state is None:
            return False
        return state.opted_out or state.human_active(now=now or self.now(), idle=self.human_idle)

    async def touch_human(self, channel: str, number: str) -> None:
        """A human wrote to the contact: (re)start human mode and its idle clock."""
        async with self._pool.acquire() as conn:
            row_id = await conn.fetchval(TOUCH_HUMAN, channel, _number(number), self.now())
        if row_id is None:
            raise ContactNotFound(f"no {channel} contact with that number")

    async def human_notes(
        self, channel: str, number: str, *, limit: int = 5, max_chars: int = 600
    ) -> str:
        """What the business wrote to the contact during the current human stretch (the last
        `limit` messages, oldest first, at most `max_chars`): the bot reads it on release so it
        does not ask again what the human settled. Empty when the human wrote nothing."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_HUMAN_NOTES, channel, _number(number), limit)
        notes = " / ".join(row["text"].strip() for row in reversed(rows))
        return notes if len(notes) <= max_chars else notes[: max_chars - 1] + "…"

    async def release(self, channel: str, number: str) -> bool:
        """Give the contact back to the bot and resolve its open handoffs; returns whether a
        human stretch was on (active or idle)."""
        number = _number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_CONTACT_FOR_UPDATE, channel, number)
            if row is None:
                raise ContactNotFound(f"no {channel} contact with that number")
            await conn.execute(RESOLVE_CONTACT_HANDOFFS, row["id"], self.now())
            await conn.execute(LEAVE_HUMAN_MODE, row["id"])
        return row["human_since"] is not None

    async def set_opt_out(self, channel: str, number: str, opted_out: bool) -> bool:
        """Opt the contact out (or back in), creating it if needed; returns whether anything
        changed, so the confirmation is sent once."""
        number = _number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            contact = await conn.fetchrow(UPSERT_CONTACT, channel, number, None, None)
            changed = await conn.fetchval(SET_OPT_OUT, contact["id"], opted_out, self.now())
        return changed is not None

    async def delete_contact(self, channel: str, number: str) -> bool:
        """Erase the contact and everything of it (leads, handoffs, transcript, outbox rows);
        returns whether it existed. The conversation state in Redis is the caller's to delete."""
        async with self._pool.acquire() as conn:
            row_id = await conn.fetchval(DELETE_CONTACT, channel, _number(number))
        return row_id is not None

    # --- The manager's view ----------------------------------------------------------------------

    async def list_leads(
        self,
        *,
        status: LeadStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRecord]:
        """Leads newest first, filtered by status and by creation time (`since` <= t < `until`)."""
        self._check_filters(status, limit, offset)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(LIST_LEADS, status, since, until, limit, offset)
        return [_lead_from_row(row) for row in rows]

    async def count_leads(
        self,
        *,
        status: LeadStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many leads `list_leads` would page through."""
        self._check_filters(status, 1, 0)
        async with self._pool.acquire() as conn:
            total: int = await conn.fetchval(COUNT_LEADS, status, since, until)
        return total

    async def get_lead(self, lead_id: int, *, transcript_limit: int = 200) -> LeadDetail:
        """One lead with its contact's last `transcript_limit` messages and its handoffs."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_LEAD, lead_id)
            if row is None:
                raise LeadNotFound(f"no lead {lead_id}")
            messages = await conn.fetch(SELECT_TRANSCRIPT, row["contact_id"], transcript_limit)
            handoffs = await conn.fetch(SELECT_HANDOFFS, lead_id)
        return LeadDetail(
            lead=_lead_from_row(row),
            transcript=[
                TranscriptEntry(
                    id=m["id"], direction=m["direction"], author=m["author"], kind=m["kind"],
                    text=m["text"], media=json.loads(m["media"]), details=json.loads(m["details"]),
                    provider_message_id=m["provider_message_id"],
                    message_ids=list(m["message_ids"]), at=m["at"],
                )
                for m in messages
            ],
            handoffs=[
                HandoffRecord(
                    id=h["id"], reason=h["reason"], at=h["at"], resolved_at=h["resolved_at"]
                )
                for h in handoffs
            ],
        )

    async def set_outcome(self, lead_id: int, outcome: Outcome) -> None:
        """Close the lead as won or lost and resolve its open handoffs; the contact's next
        conversation starts a new lead."""
        if outcome not in ("won", "lost"):
            raise InvalidValue(f"outcome must be 'won' or 'lost', not {outcome!r}")
        now = self.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row_id = await conn.fetchval(SET_OUTCOME, lead_id, outcome, now)
            if row_id is None:
                raise LeadNotFound(f"no lead {lead_id}")
            await conn.execute(RESOLVE_LEAD_HANDOFFS, lead_id, now)

    @staticmethod
    def _check_filters(status: str | None, limit: int, offset: int) -> None:
        if status is not None and status not in LEAD_STATUSES:
            raise InvalidValue(
                f"unknown lead status {status!r}; use one of {', '.join(LEAD_STATUSES)}"
            )
        if not 1 <= limit <= 500 or offset < 0:
            raise InvalidValue("limit must be 1 to 500 and offset at least 0")
