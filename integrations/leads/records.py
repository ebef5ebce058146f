"""The lead store's records and the pure mapping between them and rows: what is read back for
the pipeline and the manager, and the values a lead upsert writes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

import asyncpg

from domain.booking import Booking
from domain.events import HandoffRecord, LeadUpdate, Stage
from domain.lead import Authority, Budget, LeadProfile, Need, Qualification, Timeline
from integrations.leads.errors import InvalidValue
from integrations.leads.sql import LEAD_PROFILE_COLUMNS
from integrations.whatsapp.types import InboundMessage

__all__ = [
    "LEAD_STATUSES",
    "Author",
    "ContactRecord",
    "LeadDetail",
    "LeadRecord",
    "LeadStatus",
    "Outcome",
    "TranscriptEntry",
    "booking_from_row",
    "checked_number",
    "contact_from_row",
    "inbound_details",
    "lead_from_row",
    "lead_values",
    "parse_thread_id",
    "status_for_update",
]

LeadStatus = Literal[
    "new", "qualifying", "qualified", "nurture", "disqualified", "booked", "handed_off", "won",
    "lost",
]
Outcome = Literal["won", "lost"]
Author = Literal["lead", "bot", "human"]
LEAD_STATUSES: tuple[str, ...] = get_args(LeadStatus)

_E164 = re.compile(r"^\+[1-9]\d{5,14}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactRecord:
    """A stored contact: its channel and number, opt-out and human takeover."""

    id: int
    channel: str
    number: str
    address: str | None
    """Where messages the service writes first go when the provider writes the number otherwise
    (a Mexican mobile's `+521...` form, as its latest message had it); None: `number`."""
    profile_name: str | None
    language: str | None
    opted_out: bool
    opted_out_at: datetime | None
    human_since: datetime | None
    """Start of the current human stretch; None when the bot has the conversation."""
    human_last_activity: datetime | None
    """The last human message (or the handoff); the idle clock starts here."""
    last_inbound_at: datetime | None
    """When the contact last wrote: WhatsApp's 24-hour window to write freely runs from it."""
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadRecord:
    """One lead with its contact's channel and number."""

    id: int
    contact_id: int
    channel: str
    number: str
    contact_profile_name: str | None
    status: LeadStatus
    stage: Stage | None
    profile: LeadProfile
    summary: str | None
    booking: Booking | None
    qualification: Qualification | None
    """The lead's score, its reasons and the fit its status says (None until scored)."""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptEntry:
    """One stored message."""

    id: int
    direction: Literal["in", "out"]
    author: Author
    kind: str
    text: str | None
    media: list[dict[str, Any]]
    details: dict[str, Any]
    provider_message_id: str | None
    message_ids: list[str]
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadDetail:
    """A lead with its contact's latest transcript (chronological) and its handoffs."""

    lead: LeadRecord
    transcript: list[TranscriptEntry]
    handoffs: list[HandoffRecord]


def status_for_update(update: LeadUpdate) -> LeadStatus:
    """The status a lead update implies (the store never moves an open lead backwards)."""
    if update.booking is not None and update.booking.status == "confirmed":
        return "booked"
    fit = update.qualification.fit if update.qualification else None
    if fit is not None:
        return fit
    profile = update.profile
    if profile.bant_complete:
        return "qualified"
    if update.stage == "greeting" and len(profile.missing_bant()) == 4:
        return "new"
    return "qualifying"


def parse_thread_id(thread_id: str) -> tuple[str, str]:
    """`"<channel>:<E.164 number>"` as `(channel, number)`."""
    channel, sep, number = thread_id.partition(":")
    if not sep or not channel:
        raise InvalidValue(f"thread id {thread_id!r} is not '<channel>:<E.164 number>'")
    return channel, checked_number(number)


def checked_number(number: str) -> str:
    if not _E164.match(number):
        raise InvalidValue("the contact number must be E.164 (+ and 6 to 15 digits)")
    return number


def lead_values(
    *,
    stage: Stage | None,
    profile: LeadProfile,
    summary: str | None,
    booking: Booking | None,
    qualification: Qualification | None = None,
) -> list[Any]:
    """The `LEAD_PROFILE_COLUMNS` values of a profile, in order; None keeps the stored value."""
    need, budget, authority = profile.need, profile.budget, profile.authority
    timeline = profile.timeline
    values: dict[str, Any] = {
        "stage": stage,
        "name": profile.name,
        "company": profile.company,
        "email": profile.email,
        "language": profile.language,
        "timezone": profile.timezone,
        "need_words": need.words if need else None,
        "need_summary": need.summary if need else None,
        "need_message_id": need.message_id if need else None,
        "budget_amount": Decimal(str(budget.amount)) if budget and budget.amount else None,
        "budget_currency": budget.currency if budget else None,
        "budget_words": budget.words if budget else None,
        "budget_message_id": budget.message_id if budget else None,
        "authority_role": authority.role if authority else None,
        "authority_decides": authority.decides if authority else None,
        "authority_words": authority.words if authority else None,
        "authority_message_id": authority.message_id if authority else None,
        "timeline_words": timeline.words if timeline else None,
        "timeline_date": timeline.date if timeline else None,
        "timeline_message_id": timeline.message_id if timeline else None,
        "summary": summary or None,
        "booking_event_id": booking.id if booking else None,
        "booking_calendar": booking.calendar if booking else None,
        "booking_start": booking.start if booking else None,
        "booking_end": booking.end if booking else None,
        "booking_link": booking.link if booking else None,
        "booking_status": booking.status if booking else None,
        "score": qualification.score if qualification else None,
        "score_reasons": list(qualification.reasons) if qualification else None,
        "disqualified_by": qualification.disqualified_by if qualification else None,
    }
    return [values[column] for column in LEAD_PROFILE_COLUMNS]


def profile_from_row(row: asyncpg.Record) -> LeadProfile:
    def item(prefix: str) -> dict[str, Any] | None:
        words = row[f"{prefix}_words"]
        if words is None:
            return None
        return {"words": words, "message_id": row[f"{prefix}_message_id"]}

    need, budget, authority = item("need"), item("budget"), item("authority")
    timeline = item("timeline")
    amount: Decimal | None = row["budget_amount"]
    timeline_date: date | None = row["timeline_date"]
    return LeadProfile(
        name=row["name"],
        company=row["company"],
        email=row["email"],
        language=row["language"],
        timezone=row["timezone"],
        need=Need(**need, summary=row["need_summary"]) if need else None,
        budget=Budget(
            **budget, amount=float(amount) if amount is not None else None,
            currency=row["budget_currency"],
        ) if budget else None,
        authority=Authority(
            **authority, role=row["authority_role"], decides=row["authority_decides"]
        ) if authority else None,
        timeline=Timeline(**timeline, date=timeline_date) if timeline else None,
    )


def booking_from_row(row: asyncpg.Record) -> Booking | None:
    """The booking columns of a lead row as a `Booking` (None when nothing was booked)."""
    if row["booking_event_id"] is None:
        return None
    return Booking(
        id=row["booking_event_id"],
        start=row["booking_start"],
        end=row["booking_end"],
        calendar=row["booking_calendar"],
        link=row["booking_link"],
        status=row["booking_status"] or "confirmed",
    )


def lead_from_row(row: asyncpg.Record) -> LeadRecord:
    booking = booking_from_row(row)
    return LeadRecord(
        id=row["id"],
        contact_id=row["contact_id"],
        channel=row["channel"],
        number=row["number"],
        contact_profile_name=row["contact_profile_name"],
        status=row["status"],
        stage=row["stage"],
        profile=profile_from_row(row),
        summary=row["summary"],
        booking=booking,
        qualification=_qualification_from_row(row),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
    )


def _qualification_from_row(row: asyncpg.Record) -> Qualification | None:
    if row["score"] is None:
        return None
    status = row["status"]
    return Qualification(
        score=row["score"],
        fit=status if status in ("qualified", "nurture", "disqualified") else None,
        reasons=tuple(row["score_reasons"] or ()),
        disqualified_by=row["disqualified_by"],
    )


def contact_from_row(row: asyncpg.Record) -> ContactRecord:
    return ContactRecord(**{f.name: row[f.name] for f in fields(ContactRecord)})


def inbound_details(message: InboundMessage) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if message.location is not None:
        details["location"] = asdict(message.location)
    if message.reply_to:
        details["reply_to"] = message.reply_to
    if message.payload:
        details["payload"] = message.payload
    return details
