"""Call slots and bookings, whatever calendar holds them (Google or the local one), and the hours
of the lead's day a call may be offered in.

Plain frozen dataclasses: the graph state stores them as they are (see `graph.state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "Attendee", "Booking", "BookingChange", "DayWindow", "Slot", "booking_change", "confirmed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Slot:
    """A bookable time range; both ends timezone-aware."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class DayWindow:
    """The hours of the lead's own day a call may be offered in (`LEAD_HOURS`, in their zone).

    A domain type rather than a calendar one: it is a fact about the lead (where they live, when
    they are awake), worked out by the agents from the lead's profile and number and honoured by
    every calendar, as the `Attendee` is; no calendar owns it. The hours are wall-clock times of
    the zone, so 08:00-20:00 stays 08:00-20:00 on the lead's clock on a daylight-saving day."""

    timezone: str
    """IANA name of the lead's zone."""
    start: time
    end: time
    """A call starts no earlier than `start` and ends no later than `end`, on one day."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first search
        if self.end <= self.start:
            raise ValueError("a day window's end must be later than its start")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


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


BookingChange = Literal["moved", "cancelled"]
"""What happened to a confirmed call: the manager hears of either."""


def booking_change(before: Booking | None, after: Booking | None) -> BookingChange | None:
    """How `after` changed the call `before` stood for: moved (same event, another time) or
    cancelled; None when nothing changed, or `before` did not stand (a first booking is a
    handoff, not a change)."""
    if not confirmed(before) or after is None or before is None or after.id != before.id:
        return None
    if after.status == "cancelled":
        return "cancelled"
    if (after.start, after.end) != (before.start, before.end):
        return "moved"
    return None
