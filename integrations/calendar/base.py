"""The calendar interface the scheduling agent uses, whatever calendar is behind it. The slots
and bookings it speaks in are domain types (`domain.booking`).

    CalendarError
     +-- SlotTaken            the slot was free when offered and is not any more
     +-- CalendarUnavailable  the calendar could not be reached after retries
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.booking import Attendee, Booking, DayWindow, Slot

__all__ = [
    "Attendee", "Booking", "Calendar", "CalendarError", "CalendarUnavailable", "DayWindow", "Slot",
    "SlotTaken",
]


class CalendarError(Exception):
    """A calendar operation failed."""


class SlotTaken(CalendarError):
    """The slot is no longer free; offer the lead fresh options."""


class CalendarUnavailable(CalendarError):
    """The calendar did not answer after retries; try again later or hand over to a human."""


class Calendar(Protocol):
    """What the scheduling agent's tools need from a calendar."""

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
        """Up to `limit` free slots starting no earlier than `after` (and the minimum notice),
        inside business hours and inside `within` (the lead's hours in their zone) when given,
        with the configured buffer around existing events. Empty when none of the search horizon
        fits (`integrations.calendar.slots`). `moving`: a booking being moved, whose own time
        counts as free but is not offered."""
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

    async def erase_attendee(self, phone: str) -> set[str]:
        """Erase every booking, past or cancelled too, of the attendee with this E.164 number
        (a data-deletion request): the call is cancelled without a notice, its slot freed, and
        nothing that names the attendee stays in the calendar. Returns the attendee's email
        addresses the bookings held (their invitation emails are erased too)."""
        ...
