"""Calendars the scheduling agent books calls in: Google Calendar, or a local one in Postgres."""

from integrations.calendar.base import (
    Attendee,
    Booking,
    Calendar,
    CalendarError,
    CalendarUnavailable,
    Slot,
    SlotTaken,
)

__all__ = [
    "Attendee", "Booking", "Calendar", "CalendarError", "CalendarUnavailable", "Slot", "SlotTaken",
]
