"""The manager's email of a moved or cancelled call: its data (`BookingChangeNotice`) and how it
is built (pure), like the quote request (`quote.py`), whose header hygiene it shares.

The manager learns of a booked call from the quote request of its handoff; when the lead moves or
cancels it through the bot, the calendar changes and this email says so, with the old and the new
time, so nobody waits for a call that moved or prepares for one that will not happen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from domain.booking import Booking, BookingChange
from integrations.mail.quote import SUBJECT_MAX, header_text, wa_me_link

__all__ = ["BookingChangeNotice", "build_booking_change_email"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BookingChangeNotice:
    """What the email says about one change of a call; stored as JSON in the outbox."""

    lead_id: int
    channel: str
    contact: str
    """The lead's E.164 number."""
    name: str | None
    """The lead's name as they gave it, else their WhatsApp profile name."""
    company: str | None
    change: BookingChange
    before: Booking
    after: Booking

    def to_json(self) -> str:
        return json.dumps(
            {
                "lead_id": self.lead_id, "channel": self.channel, "contact": self.contact,
                "name": self.name, "company": self.company, "change": self.change,
                "before": _booking_json(self.before), "after": _booking_json(self.after),
            },
            ensure_ascii=False, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> BookingChangeNotice:
        data = json.loads(text)
        change: BookingChange = "cancelled" if data["change"] == "cancelled" else "moved"
        return cls(
            lead_id=int(data["lead_id"]), channel=data["channel"], contact=data["contact"],
            name=data.get("name"), company=data.get("company"), change=change,
            before=_booking(data["before"]), after=_booking(data["after"]),
        )


def _booking_json(booking: Booking) -> dict[str, Any]:
    return {
        "id": booking.id, "start": booking.start.isoformat(), "end": booking.end.isoformat(),
        "calendar": booking.calendar, "link": booking.link, "status": booking.status,
    }


def _booking(data: dict[str, Any]) -> Booking:
    return Booking(
        id=data["id"], start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]), calendar=data["calendar"],
        link=data.get("link"), status=data.get("status", "confirmed"),
    )


def _when(booking: Booking) -> str:
    return f"{booking.start:%Y-%m-%d %H:%M} - {booking.end:%H:%M} {booking.start:%Z}".strip()


def build_booking_change_email(
    notice: BookingChangeNotice, *, to: str, mail_from: str, message_id: str | None = None
) -> EmailMessage:
    """The email (plain text): who, what changed from when to when, how to reach them."""
    name = header_text(notice.name) or notice.contact
    company = header_text(notice.company)
    who = f"{name} ({company})" if company else name
    moved = notice.change == "moved"
    message = EmailMessage()
    subject = f"Call moved: {who}" if moved else f"Call cancelled: {who}"
    message["Subject"] = header_text(subject, limit=SUBJECT_MAX)
    message["From"] = mail_from
    message["To"] = to
    if message_id:
        message["Message-ID"] = message_id
    if moved:
        lines = [
            f"{who} moved their call.",
            "",
            f"Was: {_when(notice.before)}",
            f"Now: {_when(notice.after)}",
        ]
    else:
        lines = [
            f"{who} cancelled their call of {_when(notice.before)}.",
            "Nothing is booked now; the lead is no longer marked booked.",
        ]
    lines += [
        "",
        f"Lead: {who}",
        f"Chat on WhatsApp ({notice.channel}): {wa_me_link(notice.contact)}",
        f"Calendar: {notice.after.calendar} (event {header_text(notice.after.id)})",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message
