"""The `.ics` invitation the local calendar emails to the lead (iTIP, RFC 5546).

Google sends its own invitations (`sendUpdates`); the local calendar has nobody to do that, so it
builds the same thing a calendar server would: a METHOD:REQUEST (or CANCEL) calendar whose UID is
the booking id, so that a reschedule (a higher SEQUENCE) or a cancellation updates the event the
lead already has instead of adding a second one. Times are written in UTC, which every client
reads without a VTIMEZONE block. Building the bytes is separate from sending them: the mailer
takes `(filename, mime, bytes)` attachments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from icalendar import Calendar, Event, vCalAddress, vText

from domain.booking import Attendee, Booking

__all__ = ["ICS_FILENAME", "invitation_attachment", "invitation_ics"]

ICS_FILENAME = "invite.ics"
PRODID = "-//wa-sales-agent//local calendar//EN"


def invitation_ics(
    booking: Booking,
    attendee: Attendee,
    organizer_email: str,
    title: str,
    description: str,
    *,
    sequence: int = 0,
    organizer_name: str | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """An iCalendar invitation for `booking` to `attendee` (who must have an email); a cancelled
    booking gives a METHOD:CANCEL. `sequence` must grow with every change of one booking."""
    if not attendee.email:
        raise ValueError("an invitation needs the attendee's email address")
    cancelled = booking.status == "cancelled"
    method: Literal["REQUEST", "CANCEL"] = "CANCEL" if cancelled else "REQUEST"

    organizer = vCalAddress(f"mailto:{organizer_email}")
    if organizer_name:
        organizer.params["CN"] = vText(organizer_name)
    guest = vCalAddress(f"mailto:{attendee.email}")
    if attendee.name:
        guest.params["CN"] = vText(attendee.name)
    guest.params["ROLE"] = vText("REQ-PARTICIPANT")
    guest.params["PARTSTAT"] = vText("NEEDS-ACTION")
    guest.params["RSVP"] = vText("TRUE")

    event = Event()
    event.add("uid", booking.id)
    event.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", booking.start.astimezone(UTC))
    event.add("dtend", booking.end.astimezone(UTC))
    event.add("summary", title)
    event.add("description", description)
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    if booking.link:
        event.add("url", booking.link)
    event.add("organizer", organizer)
    event.add("attendee", guest)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    calendar.add_component(event)
    content: bytes = calendar.to_ical()
    return content


def invitation_attachment(
    booking: Booking,
    attendee: Attendee,
    organizer_email: str,
    title: str,
    description: str,
    *,
    sequence: int = 0,
) -> tuple[str, str, bytes]:
    """The invitation as the mailer's `(filename, mime, bytes)` attachment."""
    method = "CANCEL" if booking.status == "cancelled" else "REQUEST"
    content = invitation_ics(
        booking, attendee, organizer_email, title, description, sequence=sequence
    )
    return ICS_FILENAME, f"text/calendar; method={method}; charset=UTF-8", content
