"""The lead store's scheduled messages: a booked call's reminders and a quiet lead's follow-ups.

Both are outbox rows due later (`integrations.outbox`, whose docstring says why the outbox and not
a job library), written in the same transaction as the change they follow:

- reminders, by the lead sink when it records the lead's booking (`sync_reminders`): one row 24
  hours and one 1 hour before the call, keyed by the call's start; a moved call drops the
  pending rows of the old time and adds the new ones, a cancelled call drops them;
- follow-ups, by the statement that records a lead's message (`ARM_FOLLOW_UP`, a part of
  `sql.RECORD_INBOUND`): one row per contact, due `FOLLOWUP_AFTER_HOURS` after the lead's last
  message, moved on by each new one, so a lead who writes is never followed up on that stretch.

Whether a due row still applies (the call moved, the lead answered, opted out, was handed to a
person or disqualified; quiet hours in the lead's zone) is decided when it is due, by the pipeline
(`pipeline.scheduled`), from what this module reads (`ScheduleStore.subject`).

`SCHEDULED` counts what became of them, including the leads who answered one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from prometheus_client import Counter

from domain.booking import Booking, confirmed

if TYPE_CHECKING:
    from integrations.leads.records import LeadStatus

__all__ = [
    "ARM_FOLLOW_UP",
    "FOLLOW_UP_KIND",
    "REMINDERS",
    "REMINDER_KIND",
    "SCHEDULED",
    "FollowUpJob",
    "JobSubject",
    "ReminderJob",
    "ScheduleStore",
    "sync_reminders",
]

REMINDER_KIND = "reminder"
FOLLOW_UP_KIND = "follow_up"

REMINDERS: dict[str, timedelta] = {"24h": timedelta(hours=24), "1h": timedelta(hours=1)}
"""A booked call's reminders: their name (`reminder.<name>` in the catalogue) and how long
before the call each goes out."""

SCHEDULED = Counter(
    "wa_scheduled_messages_total",
    "Reminders and follow-ups: sent, deferred (quiet hours), skipped (and why), and answered "
    "(the lead's next message came after one).",
    ["kind", "outcome", "reason"],
)
"""Labels: `kind` (`reminder`, `follow_up`), `outcome` (`sent`, `deferred`, `skipped`,
`answered`), `reason` (why skipped or deferred; "" otherwise)."""

DROP_REMINDERS = """
DELETE FROM outbox
WHERE contact_id = $1 AND kind = 'reminder' AND status = 'pending'
  AND NOT (dedup_key = ANY($2::text[]))"""
ADD_REMINDER = """
INSERT INTO outbox (kind, dedup_key, payload, contact_id, next_attempt_at)
VALUES ('reminder', $1, $2::jsonb, $3, $4)
ON CONFLICT (dedup_key) DO NOTHING"""
ARM_FOLLOW_UP = """
INSERT INTO outbox (kind, dedup_key, payload, contact_id, next_attempt_at)
SELECT 'follow_up', 'follow_up:' || line.contact_id,
       jsonb_build_object('contact_id', line.contact_id, 'since', $13::timestamptz, 'sent', 0),
       line.contact_id, $13::timestamptz + make_interval(secs => $14::double precision)
FROM line
WHERE $14::double precision IS NOT NULL
ON CONFLICT (dedup_key) DO UPDATE SET
    payload = EXCLUDED.payload, next_attempt_at = EXCLUDED.next_attempt_at, status = 'pending',
    attempts = 0, last_error = NULL, sent_at = NULL
WHERE (outbox.payload->>'since')::timestamptz <= (EXCLUDED.payload->>'since')::timestamptz"""
"""The contact's follow-up, due `$14` seconds after the message (`$13`) the CTE `line` just
stored; none when `$14` is NULL (follow-ups off). A message older than the armed one (a late
webhook) leaves it as it is."""
SELECT_SUBJECT = """
SELECT c.channel, c.number, c.address, c.language AS contact_language, c.last_inbound_at,
       l.status, l.name, l.language, l.timezone,
       l.booking_event_id, l.booking_calendar, l.booking_start, l.booking_end, l.booking_link,
       l.booking_status
FROM contacts AS c
LEFT JOIN leads AS l ON l.contact_id = c.id AND l.status NOT IN ('won', 'lost')
WHERE c.id = $1"""


def _key(contact_id: int, booking: Booking, name: str) -> str:
    return f"reminder:{contact_id}:{booking.start.astimezone(UTC).isoformat()}:{name}"


async def sync_reminders(
    conn: asyncpg.Connection, *, contact_id: int, booking: Booking, now: datetime
) -> None:
    """Make the contact's pending reminders those of `booking` (in the caller's transaction):
    a confirmed call gets its reminders that are still ahead; any other pending one goes."""
    rows = []
    if confirmed(booking):
        for name, before in REMINDERS.items():
            due = booking.start - before
            if due > now:
                job = ReminderJob(contact_id=contact_id, start=booking.start, name=name)
                rows.append((_key(contact_id, booking, name), job.to_json(), contact_id, due))
    await conn.execute(DROP_REMINDERS, contact_id, [key for key, *_ in rows])
    if rows:
        await conn.executemany(ADD_REMINDER, rows)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReminderJob:
    """A reminder row's payload: whose call, starting when, which reminder."""

    contact_id: int
    start: datetime
    name: str
    """A key of `REMINDERS` ("24h", "1h")."""

    def to_json(self) -> str:
        return json.dumps(
            {"contact_id": self.contact_id, "start": self.start.isoformat(), "name": self.name}
        )

    @classmethod
    def from_json(cls, text: str) -> ReminderJob:
        data = json.loads(text)
        return cls(
            contact_id=int(data["contact_id"]), start=datetime.fromisoformat(data["start"]),
            name=str(data["name"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUpJob:
    """A follow-up row's payload: whose, since the lead's message of when, how many sent."""

    contact_id: int
    since: datetime
    """The lead's last message when the row was armed."""
    sent: int
    """Follow-ups already sent since then."""

    def to_json(self) -> str:
        return json.dumps(
            {"contact_id": self.contact_id, "since": self.since.isoformat(), "sent": self.sent}
        )

    @classmethod
    def from_json(cls, text: str) -> FollowUpJob:
        data = json.loads(text)
        return cls(
            contact_id=int(data["contact_id"]), since=datetime.fromisoformat(data["since"]),
            sent=int(data["sent"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSubject:
    """The contact a scheduled message is for, and their open lead, as they are now."""

    channel: str
    number: str
    address: str | None
    """Where to send when the provider writes the number otherwise (`contacts.address`)."""
    language: str | None
    """The lead's language (else the contact's)."""
    last_inbound_at: datetime | None
    """When the lead last wrote: the 24-hour window runs from it."""
    status: LeadStatus | None
    """The open lead's status; None without an open lead."""
    name: str | None
    timezone: str | None
    """The zone the lead said they are in, if they did."""
    booking: Booking | None


class ScheduleStore:
    """Reads what a due reminder or follow-up needs to decide and to address the lead."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def subject(self, contact_id: int) -> JobSubject | None:
        """The contact and its open lead; None when the contact was erased."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_SUBJECT, contact_id)
        if row is None:
            return None
        booking = None
        if row["booking_event_id"] is not None:
            booking = Booking(
                id=row["booking_event_id"], start=row["booking_start"], end=row["booking_end"],
                calendar=row["booking_calendar"], link=row["booking_link"],
                status=row["booking_status"] or "confirmed",
            )
        return JobSubject(
            channel=row["channel"], number=row["number"], address=row["address"],
            language=row["language"] or row["contact_language"],
            last_inbound_at=row["last_inbound_at"], status=row["status"], name=row["name"],
            timezone=row["timezone"], booking=booking,
        )
