"""The `.ics` invitation parses with `icalendar` and says who, when and what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from domain.booking import Attendee, Booking
from integrations.calendar.ics import invitation_attachment, invitation_ics

START = datetime(2025, 3, 31, 9, 0, tzinfo=ZoneInfo("Europe/Madrid"))
BOOKING = Booking(id="0d5b8f6e-booking", start=START, end=START + timedelta(minutes=30),
                  calendar="local")
ANA = Attendee(name="Ana Pérez", email="ana@example.com", phone="+34612345678")


def parse(content: bytes) -> tuple[Calendar, object]:
    calendar = Calendar.from_ical(content)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_request_has_utc_times_uid_organizer_and_attendee() -> None:
    content = invitation_ics(BOOKING, ANA, "sales@example.com", "Call with Acme",
                             "Budget, timeline; next steps", sequence=2)
    calendar, event = parse(content)
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == "0d5b8f6e-booking"  # type: ignore[index]
    start = event.decoded("DTSTART")  # type: ignore[attr-defined]
    assert start == datetime(2025, 3, 31, 7, 0, tzinfo=UTC) and start.utcoffset() == timedelta(0)
    assert event.decoded("DTEND") == datetime(2025, 3, 31, 7, 30, tzinfo=UTC)  # type: ignore[attr-defined]
    assert b"DTSTART:20250331T070000Z" in content
    assert str(event["ORGANIZER"]) == "mailto:sales@example.com"  # type: ignore[index]
    attendee = event["ATTENDEE"]  # type: ignore[index]
    assert str(attendee) == "mailto:ana@example.com"
    assert attendee.params["CN"] == "Ana Pérez"
    assert attendee.params["RSVP"] == "TRUE"
    assert str(event["SUMMARY"]) == "Call with Acme"  # type: ignore[index]
    assert str(event["DESCRIPTION"]) == "Budget, timeline; next steps"  # type: ignore[index]
    assert event["SEQUENCE"] == 2  # type: ignore[index]
    assert str(event["STATUS"]) == "CONFIRMED"  # type: ignore[index]


def test_cancelled_booking_gives_a_cancel() -> None:
    cancelled = Booking(id=BOOKING.id, start=BOOKING.start, end=BOOKING.end, calendar="local",
                        status="cancelled")
    filename, mime, content = invitation_attachment(cancelled, ANA, "sales@example.com", "Call",
                                                    "", sequence=3)
    calendar, event = parse(content)
    assert (filename, mime) == ("invite.ics", "text/calendar; method=CANCEL; charset=UTF-8")
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"  # type: ignore[index]


def test_attendee_without_email_is_refused() -> None:
    with pytest.raises(ValueError, match="email"):
        invitation_ics(BOOKING, Attendee(name=None, email=None, phone="+34612345678"),
                       "sales@example.com", "Call", "")
