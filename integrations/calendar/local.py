"""The local calendar: calls booked in Postgres, the default when no Google Calendar is set.

`make run` books calls with nothing configured. Postgres itself refuses a double booking (the
exclusion constraint of `migrations/0002_calendar.sql`), so two workers booking one slot at the
same instant give one booking and one `SlotTaken`, with no lock or check-then-insert race here. The
idempotency key is unique: the same key books once and returns that booking ever after.

The lead hears about the booking from the agent on WhatsApp; when their email is known, an `.ics`
invitation is handed to `on_invitation` after each committed change (book, reschedule, cancel),
its subject and text in the lead's language (`Attendee.language`, kept with the booking so that a
later move or cancellation, which only knows the booking's id, speaks it too).
That hook should only enqueue the email (the outbox); its failures are logged and do not undo the
booking, which stands either way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from domain.booking import Attendee, Booking, DayWindow, Slot
from domain.texts import text
from integrations.calendar import slots
from integrations.calendar.base import CalendarError, CalendarUnavailable, SlotTaken
from integrations.calendar.ics import invitation_attachment

if TYPE_CHECKING:
    from core.config import Settings

__all__ = ["Invitation", "InvitationHook", "LocalCalendar"]

log = logging.getLogger(__name__)

_COLUMNS = """id::text AS id, lower(during) AS start, upper(during) AS "end", status,
    attendee_name, attendee_email, attendee_phone, attendee_language, title, description,
    sequence"""

SELECT_BUSY = """
SELECT lower(during) AS start, upper(during) AS "end" FROM calendar_bookings
WHERE status = 'confirmed' AND during && tstzrange($1, $2)"""

INSERT_BOOKING = f"""
INSERT INTO calendar_bookings (idempotency_key, during, blocked, attendee_name, attendee_email,
                               attendee_phone, title, description, attendee_language)
VALUES ($1, tstzrange($2, $3), tstzrange($2, $4), $5, $6, $7, $8, $9, $10)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING {_COLUMNS}"""

SELECT_BY_KEY = f"SELECT {_COLUMNS} FROM calendar_bookings WHERE idempotency_key = $1"

SELECT_BY_ID = f"SELECT {_COLUMNS} FROM calendar_bookings WHERE id = $1"

# A key whose booking was cancelled books again in the same row (its id stays the invitation UID).
REVIVE_BOOKING = f"""
UPDATE calendar_bookings
SET status = 'confirmed', during = tstzrange($2, $3), blocked = tstzrange($2, $4),
    attendee_name = $5, attendee_email = $6, attendee_phone = $7, title = $8, description = $9,
    attendee_language = $10, sequence = sequence + 1, updated_at = now()
WHERE id = $1 AND status = 'cancelled'
RETURNING {_COLUMNS}"""

MOVE_BOOKING = f"""
UPDATE calendar_bookings
SET during = tstzrange($2, $3), blocked = tstzrange($2, $4), sequence = sequence + 1,
    updated_at = now()
WHERE id = $1 AND status = 'confirmed'
RETURNING {_COLUMNS}"""

# Erasure: the rows name the attendee, so they go (a confirmed one frees its slot).
ERASE_ATTENDEE = """
DELETE FROM calendar_bookings WHERE attendee_phone = $1 RETURNING attendee_email"""

CANCEL_BOOKING = f"""
UPDATE calendar_bookings SET status = 'cancelled', sequence = sequence + 1, updated_at = now()
WHERE id = $1 AND status = 'confirmed'
RETURNING {_COLUMNS}"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    """An `.ics` invitation (or cancellation) to email to the lead."""

    to: str
    booking: Booking
    subject: str
    body: str
    """The email's text, in the lead's language."""
    attachment: tuple[str, str, bytes]
    """`(filename, mime, bytes)`, as the mailer takes attachments."""


InvitationHook = Callable[[Invitation], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class LocalCalendar:
    """The `Calendar` protocol over the `calendar_bookings` table."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        rules: slots.SlotRules,
        organizer_email: str,
        on_invitation: InvitationHook | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._pool = pool
        self._rules = rules
        self._organizer = organizer_email
        self._on_invitation = on_invitation
        self._clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, pool: asyncpg.Pool, *, on_invitation: InvitationHook | None = None
    ) -> LocalCalendar:
        """The rules of `settings`; invitations come from `MANAGER_EMAIL` (or `MAIL_FROM`)."""
        return cls(
            pool,
            rules=slots.SlotRules.from_settings(settings),
            organizer_email=settings.MANAGER_EMAIL or settings.MAIL_FROM,
            on_invitation=on_invitation,
        )

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
        now = self._clock()
        window_start, window_end = slots.search_window(self._rules, after=after, now=now)
        rows = await self._fetch(SELECT_BUSY, window_start, window_end)
        busy = [(row["start"], row["end"]) for row in rows]
        return slots.free_slots(
            self._rules, busy=busy, after=after, now=now, limit=limit, within=within,
            moving=moving.slot if moving is not None else None,
        )

    async def book(
        self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
    ) -> Booking:
        _check_slot(slot)
        args = (
            slot.start, slot.end, slot.end + self._rules.buffer, attendee.name, attendee.email,
            attendee.phone, title, description, attendee.language,
        )
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(INSERT_BOOKING, key, *args)
                if row is None:  # this key booked before
                    row = await conn.fetchrow(SELECT_BY_KEY, key)
                    if row is None:
                        raise CalendarError("The booking of this key vanished; book again.")
                    if row["status"] == "cancelled":
                        row = await conn.fetchrow(REVIVE_BOOKING, uuid.UUID(row["id"]), *args)
                        if row is None:  # someone else revived it meanwhile
                            row = await conn.fetchrow(SELECT_BY_KEY, key)
                    else:
                        return _booking(row)
        except asyncpg.ExclusionViolationError as exc:
            raise SlotTaken("That slot was booked meanwhile; offer the lead other times.") from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _db_error(exc) from exc
        assert row is not None
        booking = _booking(row)
        await self._invite(row, booking)
        return booking

    async def cancel(self, booking_id: str) -> None:
        booking_uuid = _parse_id(booking_id)
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(CANCEL_BOOKING, booking_uuid)
                if row is None and await conn.fetchrow(SELECT_BY_ID, booking_uuid) is None:
                    raise CalendarError(f"There is no booking {booking_id}; check the id.")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _db_error(exc) from exc
        if row is not None:  # None: it was cancelled already
            await self._invite(row, _booking(row))

    async def reschedule(self, booking_id: str, slot: Slot) -> Booking:
        _check_slot(slot)
        booking_uuid = _parse_id(booking_id)
        try:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    MOVE_BOOKING, booking_uuid, slot.start, slot.end, slot.end + self._rules.buffer
                )
                if row is None:
                    current = await conn.fetchrow(SELECT_BY_ID, booking_uuid)
                    if current is None:
                        raise CalendarError(f"There is no booking {booking_id}; check the id.")
                    raise CalendarError(
                        f"Booking {booking_id} is cancelled; book a new call instead of moving it."
                    )
        except asyncpg.ExclusionViolationError as exc:
            raise SlotTaken("That slot was booked meanwhile; offer the lead other times.") from exc
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _db_error(exc) from exc
        booking = _booking(row)
        await self._invite(row, booking)
        return booking

    async def erase_attendee(self, phone: str) -> set[str]:
        rows = await self._fetch(ERASE_ATTENDEE, phone)
        return {row["attendee_email"] for row in rows if row["attendee_email"]}

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        try:
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(query, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise _db_error(exc) from exc

    async def _invite(self, row: asyncpg.Record, booking: Booking) -> None:
        if self._on_invitation is None or not row["attendee_email"]:
            return
        attendee = Attendee(
            name=row["attendee_name"], email=row["attendee_email"], phone=row["attendee_phone"],
            language=row["attendee_language"],
        )
        attachment = invitation_attachment(
            booking, attendee, self._organizer, row["title"], row["description"],
            sequence=row["sequence"],
        )
        cancelled = booking.status == "cancelled"
        language = attendee.language
        subject = (
            text("invitation.cancelled", language, title=row["title"]) if cancelled
            else row["title"]
        )
        body = text(
            "invitation.cancelled_body" if cancelled else "invitation.body", language,
            subject=subject, file=attachment[0],
        )
        invitation = Invitation(
            to=row["attendee_email"], booking=booking, subject=subject, body=body,
            attachment=attachment,
        )
        try:
            await self._on_invitation(invitation)
        except Exception:  # the booking stands; the agent confirms it on WhatsApp anyway
            log.exception("could not hand over the invitation of booking %s", booking.id)


def _check_slot(slot: Slot) -> None:
    if slot.start.tzinfo is None or slot.end.tzinfo is None or slot.end <= slot.start:
        raise ValueError("a slot needs timezone-aware ends and a positive length")


def _parse_id(booking_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(booking_id)
    except ValueError as exc:
        raise CalendarError(f"There is no booking {booking_id}; check the id.") from exc


def _booking(row: asyncpg.Record) -> Booking:
    return Booking(
        id=row["id"], start=row["start"], end=row["end"], calendar="local", status=row["status"]
    )


def _db_error(exc: BaseException) -> CalendarError:
    """Connection trouble is worth retrying later; any other database error is a bug or a missing
    migration, and says so."""
    if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                        asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)):
        return CalendarUnavailable(
            f"The local calendar's database did not answer ({type(exc).__name__}); try again later."
        )
    return CalendarError(
        f"The local calendar's database refused the statement ({type(exc).__name__}: {exc}); "
        "check that the migrations are applied (make migrate)."
    )
