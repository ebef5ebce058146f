"""The calendar interface the scheduling agent uses, whatever calendar is behind it.

    CalendarError
     +-- SlotTaken            the slot was free when offered and is not any more
     +-- CalendarUnavailable  the calendar could not be reached after retries
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

__all__ = [
    "Attendee", "Booking", "Calendar", "CalendarError", "CalendarUnavailable", "Slot", "SlotTaken",
]


class CalendarError(Exception):
    """A calendar operation failed."""


class SlotTaken(CalendarError):
    """The slot is no longer free; offer the lead fresh options."""


class CalendarUnavailable(CalendarError):
    """The calendar did not answer after retries; try again later or hand over to a human."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A bookable time range; both ends timezone-aware."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Attendee:
    """Who the call is with."""

    name: str | None
    email: str | None
    phone: str
    """E.164 number."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Booking:
    """A booked call."""

    id: str
    """The calendar's event id (stable for one idempotency key)."""
    start: datetime
    end: datetime
    calendar: Literal["google", "local"]
    link: str | None = None
    """A meeting or event link to give the lead, when the calendar has one."""
    status: Literal["confirmed", "cancelled"] = "confirmed"


class Calendar(Protocol):
    """What the scheduling agent's tools need from a calendar."""

    async def free_slots(self, *, after: datetime, limit: int = 3) -> list[Slot]:
        """Up to `limit` free slots starting no earlier than `after` (and the minimum notice),
        inside business hours, with the configured buffer around existing events."""
        ...

    async def book(
        self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
    ) -> Booking:
        """Book `slot`; the same `key` never makes two events. Raises `SlotTaken`."""
        ...

    async def cancel(self, booking_id: str) -> None:
        """Cancel a booking (and tell the attendee where the calendar does that)."""
        ...

    async def reschedule(self, booking_id: str, slot: Slot) -> Booking:
        """Move a booking to `slot`. Raises `SlotTaken`."""
        ...
