"""Call slots and bookings, whatever calendar holds them (Google or the local one).

Plain frozen dataclasses: the graph state stores them as they are (see `graph.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Attendee", "Booking", "Slot", "confirmed"]


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
    language: str | None = None
    """The lead's language (ISO 639-1): what the local calendar's invitation emails are written
    in (`domain.texts`; English when unknown)."""


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

    @property
    def slot(self) -> Slot:
        return Slot(start=self.start, end=self.end)


def confirmed(booking: Booking | None) -> bool:
    """A booked call that stands (not cancelled)."""
    return booking is not None and booking.status == "confirmed"
