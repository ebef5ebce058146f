"""Calendars the scheduling agent books calls in: Google Calendar, or a local one in Postgres."""

from domain.booking import Attendee, Booking, DayWindow, Slot
from integrations.calendar.base import Calendar, CalendarError, CalendarUnavailable, SlotTaken

__all__ = [
    "Attendee", "Booking", "Calendar", "CalendarError", "CalendarUnavailable", "DayWindow", "Slot",
    "SlotTaken",
]
