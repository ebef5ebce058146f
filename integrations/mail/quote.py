"""The manager's quote-request email: its data (`QuoteRequest`) and how it is built (pure).

Building is separate from sending (see `mailer.py`) so the outbox can store the data of an email in
the transaction that decides it, build it at send time, and tests can read the message without a
server. Everything the lead wrote is untrusted: it is escaped in the HTML part, and anything that
reaches a header goes through `header_text` (control characters, CR/LF and Unicode line breaks
removed) and `email.headerregistry.Address`, so a name such as "Bob\\r\\nBcc: evil@x.com" stays a
display name and never becomes a header or a recipient. In the plain-text part every lead field
and transcript line is one line too (`one_line`): a line break in a company name would otherwise
print a field of its own ("Email: ..." or "Bcc: ...") that the manager takes for ours.

The message is a function of the request and its Message-ID only (the Date is the handoff time), so
a resend of one outbox row is byte-for-byte the same message: a duplicate is recognisable.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from core.text import one_line
from domain.booking import Booking
from domain.events import HandoffEvent, HandoffReason, TranscriptLine
from domain.lead import LeadProfile, Qualification

__all__ = [
    "Attachment",
    "QuoteRequest",
    "REASON_LABELS",
    "build_quote_request",
    "header_text",
    "wa_me_link",
]

Attachment = tuple[str, str, bytes]
"""`(filename, mime type such as "text/calendar", content)`."""

REASON_LABELS: dict[str, str] = {
    "low_confidence": "The bot was not confident enough to answer",
    "requested": "The lead asked to talk to a person",
    "unresolved": "Several messages in a row stayed unresolved",
    "booked": "The lead booked a call",
}
ROLE_LABELS: dict[str, str] = {"lead": "Lead", "bot": "Bot", "human": "Sales team"}

SUBJECT_MAX = 180
FIELD_MAX = 1000
"""Characters of one field or transcript line in the plain-text part."""
_NOT_DIGIT = re.compile(r"\D")


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteRequest:
    """What the manager's email says about one handoff; stored as JSON in the outbox."""

    lead_id: int
    channel: str
    contact: str
    """The lead's E.164 number."""
    profile_name: str | None
    reason: HandoffReason
    at: datetime
    profile: LeadProfile
    summary: str
    recent: tuple[TranscriptLine, ...] = ()
    booking: Booking | None = None
    qualification: Qualification | None = None
    attachments: tuple[Attachment, ...] = field(default=(), repr=False)

    @classmethod
    def from_event(
        cls, event: HandoffEvent, *, lead_id: int, attachments: Sequence[Attachment] = ()
    ) -> QuoteRequest:
        return cls(
            lead_id=lead_id,
            channel=event.channel,
            contact=event.contact,
            profile_name=event.profile_name,
            reason=event.reason,
            at=event.at,
            profile=event.profile,
            summary=event.summary,
            recent=tuple(event.recent),
            booking=event.booking,
            qualification=event.qualification,
            attachments=tuple(attachments),
        )

    def to_json(self) -> str:
        booking = self.booking
        data: dict[str, Any] = {
            "lead_id": self.lead_id,
            "channel": self.channel,
            "contact": self.contact,
            "profile_name": self.profile_name,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "profile": self.profile.model_dump(mode="json"),
            "summary": self.summary,
            "recent": [
                {"role": line.role, "text": line.text, "message_id": line.message_id}
                for line in self.recent
            ],
            "booking": None if booking is None else {
                "id": booking.id,
                "start": booking.start.isoformat(),
                "end": booking.end.isoformat(),
                "calendar": booking.calendar,
                "link": booking.link,
                "status": booking.status,
            },
            "qualification": (
                None if self.qualification is None else self.qualification.model_dump(mode="json")
            ),
            "attachments": [
                {"filename": name, "mime": mime, "data": base64.b64encode(content).decode()}
                for name, mime, content in self.attachments
            ],
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> QuoteRequest:
        data = json.loads(text)
        booking = data.get("booking")
        return cls(
            lead_id=int(data["lead_id"]),
            channel=data["channel"],
            contact=data["contact"],
            profile_name=data.get("profile_name"),
            reason=data["reason"],
            at=datetime.fromisoformat(data["at"]),
            profile=LeadProfile.model_validate(data.get("profile") or {}),
            summary=data.get("summary") or "",
            recent=tuple(TranscriptLine(**line) for line in data.get("recent") or ()),
            booking=None if booking is None else Booking(
                id=booking["id"],
                start=datetime.fromisoformat(booking["start"]),
                end=datetime.fromisoformat(booking["end"]),
                calendar=booking["calendar"],
                link=booking.get("link"),
                status=booking.get("status", "confirmed"),
            ),
            qualification=(
                Qualification.model_validate(data["qualification"])
                if data.get("qualification") else None
            ),
            attachments=tuple(
                (item["filename"], item["mime"], base64.b64decode(item["data"]))
                for item in data.get("attachments") or ()
            ),
        )


def header_text(value: str | None, *, limit: int = 120) -> str:
    """`value` made safe for a header: control and line-break characters become spaces,
    whitespace collapses, and the result is cut at `limit` characters."""
    return one_line(value, limit=limit)


def wa_me_link(number: str) -> str:
    """The click-to-chat link of an E.164 number (`https://wa.me/<digits>`)."""
    return f"https://wa.me/{_NOT_DIGIT.sub('', number)}"


def _display_name(request: QuoteRequest) -> str:
    return header_text(request.profile.name) or header_text(request.profile_name) or request.contact


def _subject(request: QuoteRequest) -> str:
    name = _display_name(request)
    company = header_text(request.profile.company)
    subject = f"Quote request: {name} ({company})" if company else f"Quote request: {name}"
    return header_text(subject, limit=SUBJECT_MAX)


def _reply_to(request: QuoteRequest) -> Address | None:
    if not request.profile.email:
        return None
    try:
        return Address(
            display_name=header_text(request.profile.name),
            addr_spec=header_text(request.profile.email),
        )
    except (ValueError, IndexError, TypeError):
        # Not a single plain address after all: the manager still sees it in the body.
        return None


def _money(amount: float | None, currency: str | None) -> str:
    if amount is None:
        return ""
    figure = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    return f"{figure} {currency}" if currency else figure


def _facts(request: QuoteRequest) -> list[tuple[str, str, str | None]]:
    """(label, value, the lead's own words) rows shared by both parts; values are untrusted text."""
    profile = request.profile
    rows: list[tuple[str, str, str | None]] = [
        ("Name", profile.name or request.profile_name or "", None),
        ("Company", profile.company or "", None),
        ("Email", profile.email or "", None),
        ("WhatsApp", request.contact, None),
        ("Language", profile.language or "", None),
        ("Time zone", profile.timezone or "", None),
    ]
    need = profile.need
    rows.append(("Need", (need.summary or "") if need else "", need.words if need else None))
    budget = profile.budget
    rows.append((
        "Budget",
        _money(budget.amount, budget.currency) if budget else "",
        budget.words if budget else None,
    ))
    authority = profile.authority
    decides = ""
    if authority is not None and authority.decides is not None:
        decides = "decides" if authority.decides else "does not decide alone"
    role = authority.role if authority else None
    authority_value = ", ".join(part for part in (role, decides) if part)
    rows.append(("Authority", authority_value, authority.words if authority else None))
    timeline = profile.timeline
    rows.append((
        "Timeline",
        timeline.date.isoformat() if timeline and timeline.date else "",
        timeline.words if timeline else None,
    ))
    return rows


def _score_lines(request: QuoteRequest) -> list[str]:
    """The lead's score, fit and the reasons, as plain lines (the reasons are the code's)."""
    qualification = request.qualification
    if qualification is None:
        return ["Score: (not scored yet)"]
    fit = f" ({qualification.fit})" if qualification.fit else " (still qualifying)"
    lines = [f"Score: {qualification.score}/100{fit}"]
    if qualification.reasons:
        lines.append("Why: " + "; ".join(header_text(r) for r in qualification.reasons))
    return lines


def _booking_text(booking: Booking) -> str:
    when = f"{booking.start:%Y-%m-%d %H:%M} - {booking.end:%H:%M} {booking.start:%Z}".strip()
    return f"{when} ({booking.calendar} calendar, {booking.status})"


def _safe_link(url: str | None) -> str | None:
    if url and url.startswith(("https://", "http://")) and header_text(url) == url:
        return url
    return None


def _plain(request: QuoteRequest) -> str:
    lines = [
        f"Quote request from WhatsApp ({request.channel})",
        "",
        f"Reason for the handoff: {REASON_LABELS.get(request.reason, request.reason)} "
        f"({request.reason}), {request.at.isoformat(timespec='minutes')}",
        f"Chat on WhatsApp: {wa_me_link(request.contact)}",
        *_score_lines(request),
        "",
    ]
    for label, raw_value, raw_words in _facts(request):
        value, words = one_line(raw_value, limit=FIELD_MAX), one_line(raw_words, limit=FIELD_MAX)
        if not value and not words:
            lines.append(f"{label}: (unknown)")
            continue
        text = f"{label}: {value}" if value else f"{label}:"
        if words:
            text += f' "{words}"' if value else f' "{words}" (in the lead\'s words)'
        lines.append(text)
    if request.booking is not None:
        lines += ["", f"Booked call: {_booking_text(request.booking)}"]
        if link := _safe_link(request.booking.link):
            lines.append(f"Event: {link}")
    lines += ["", "Summary:", request.summary or "(none)"]
    if request.recent:
        lines += ["", "Last messages:"]
        lines += [
            f"  {ROLE_LABELS.get(line.role, line.role)}: {one_line(line.text, limit=FIELD_MAX)}"
            for line in request.recent
        ]
    return "\n".join(lines) + "\n"


def _html(request: QuoteRequest) -> str:
    e = html.escape
    wa = wa_me_link(request.contact)  # digits only: safe in an attribute
    rows = []
    for label, value, words in _facts(request):
        cell = e(value) if value else ("" if words else "<em>unknown</em>")
        if words:
            cell += f"{'<br>' if value else ''}<q>{e(words)}</q>"
        rows.append(f"<tr><th align=\"left\">{e(label)}</th><td>{cell}</td></tr>")
    parts = [
        "<!DOCTYPE html>",
        "<html><body>",
        f"<h2>Quote request from WhatsApp ({e(request.channel)})</h2>",
        f"<p><strong>Reason for the handoff:</strong> "
        f"{e(REASON_LABELS.get(request.reason, request.reason))} ({e(request.reason)}), "
        f"{e(request.at.isoformat(timespec='minutes'))}</p>",
        f'<p><a href="{wa}">Chat on WhatsApp: {e(request.contact)}</a></p>',
        *(f"<p>{e(line)}</p>" for line in _score_lines(request)),
        "<table>",
        *rows,
        "</table>",
    ]
    if request.booking is not None:
        booked = e(_booking_text(request.booking))
        if link := _safe_link(request.booking.link):
            booked += f' <a href="{e(link, quote=True)}">event</a>'
        parts.append(f"<h3>Booked call</h3><p>{booked}</p>")
    parts.append(f"<h3>Summary</h3><p>{e(request.summary or '(none)')}</p>")
    if request.recent:
        parts.append("<h3>Last messages</h3><ul>")
        parts += [
            f"<li><strong>{e(ROLE_LABELS.get(line.role, line.role))}:</strong> {e(line.text)}</li>"
            for line in request.recent
        ]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_quote_request(
    request: QuoteRequest,
    *,
    to: str,
    mail_from: str,
    message_id: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The manager's email for `request`: plain text and HTML alternatives, Reply-To the lead's
    email when known, plus `request.attachments` and `attachments` (an `.ics` invitation...)."""
    message = EmailMessage()
    message["Subject"] = _subject(request)
    message["From"] = mail_from
    message["To"] = to
    if (reply_to := _reply_to(request)) is not None:
        message["Reply-To"] = reply_to
    message["Date"] = format_datetime(request.at)
    if message_id:
        message["Message-ID"] = message_id
    message.set_content(_plain(request))
    message.add_alternative(_html(request), subtype="html")
    for filename, mime, content in (*request.attachments, *attachments):
        maintype, subtype, params = _content_type(mime)
        message.add_attachment(
            content,
            maintype=maintype,
            subtype=subtype,
            filename=header_text(filename) or "attachment",
            params=params,
        )
    # Fixed MIME boundaries (the library draws random ones), so a resend is the same bytes.
    digest = hashlib.sha256((message_id or request.to_json()).encode()).hexdigest()[:24]
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_quote_{digest}_{index}")
    return message


def _content_type(mime: str) -> tuple[str, str, dict[str, str]]:
    """`"text/calendar; method=REQUEST; charset=UTF-8"` as its type, subtype and parameters."""
    kind, *rest = (part.strip() for part in header_text(mime, limit=200).split(";"))
    maintype, _, subtype = kind.lower().partition("/")
    params = {}
    for part in rest:
        name, sep, value = part.partition("=")
        if sep and name.strip():
            params[name.strip().lower()] = value.strip().strip('"')
    return maintype or "application", subtype or "octet-stream", params
