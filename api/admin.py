"""The manager's API: leads, their transcripts, replying as the business, releasing a contact
back to the bot, closing a lead, and erasing a contact. Every route needs the admin token."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, BeforeValidator, Field

from api.deps import AdminDep, PipelineDep
from core.logs import mask_phone
from core.text import without_lone_surrogates
from integrations.calendar.base import CalendarError
from integrations.leads import ContactNotFound, LeadNotFound, LeadStatus
from integrations.whatsapp.errors import ChannelError
from integrations.whatsapp.types import Channel
from pipeline import actions

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])

# A contact's number as the store keeps it: E.164. Anything else is a 422, not a store error.
Number = Annotated[str, Path(pattern=r"^\+[1-9]\d{5,14}$", description="E.164 number")]
# Ids and offsets are Postgres bigints: a larger number is a 422, not an asyncpg error (500).
MAX_BIGINT = 2**63 - 1
LeadId = Annotated[int, Path(le=MAX_BIGINT)]


class ReplyIn(BaseModel):
    # No NUL: Postgres refuses it, which would fail recording a message already sent. A lone
    # surrogate (which neither WhatsApp nor Postgres takes) becomes U+FFFD.
    text: Annotated[
        str,
        Field(min_length=1, max_length=4096, pattern=r"^[^\x00]*$"),
        BeforeValidator(without_lone_surrogates),
    ]


def _db_time(name: str, value: datetime | None) -> datetime | None:
    """A filter time Postgres can take: an aware time at the edge of Python's range (year 1 or
    9999) overflows when converted to UTC, which is a 422 here instead of a 500."""
    if value is None or value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise HTTPException(
            422, f"{name} is out of range; use a real date."
        ) from None


class OutcomeIn(BaseModel):
    outcome: Literal["won", "lost"]


@router.get("/leads")
async def list_leads(
    *,
    pipeline: PipelineDep,
    status_: Annotated[LeadStatus | None, Query(alias="status")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_BIGINT)] = 0,
) -> dict[str, Any]:
    """Leads, newest first, filtered by status and creation date, paginated."""
    store = pipeline.store.leads
    since, until = _db_time("since", since), _db_time("until", until)
    items = await store.list_leads(
        status=status_, since=since, until=until, limit=limit, offset=offset
    )
    total = await store.count_leads(status=status_, since=since, until=until)
    return {"total": total, "limit": limit, "offset": offset, "items": jsonable_encoder(items)}


@router.get("/leads/{lead_id}")
async def get_lead(*, pipeline: PipelineDep, lead_id: LeadId) -> dict[str, Any]:
    """One lead with its transcript and handoffs."""
    try:
        detail = await pipeline.store.leads.get_lead(lead_id)
    except LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No lead {lead_id}.") from None
    return jsonable_encoder(detail)  # type: ignore[no-any-return]


@router.post("/leads/{lead_id}/outcome")
async def set_outcome(
    *, pipeline: PipelineDep, lead_id: LeadId, body: OutcomeIn
) -> dict[str, str]:
    """Close the lead as won or lost."""
    try:
        await actions.close_lead(pipeline, lead_id, body.outcome)
    except LeadNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No lead {lead_id}.") from None
    return {"status": body.outcome}


@router.post("/contacts/{channel}/{number}/reply")
async def reply(
    *, pipeline: PipelineDep, channel: Channel, number: Number, body: ReplyIn
) -> dict[str, Any]:
    """Send a message to the contact as the business; the bot stays silent while a human talks."""
    try:
        ids = await actions.reply_as_business(
            pipeline, channel, number, body.text, sent_by="admin API"
        )
    except ContactNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such contact on that channel.") from None
    except ChannelError as exc:
        log.warning("admin reply to %s failed: %s", mask_phone(number), exc)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"WhatsApp refused: {exc}") from exc
    return {"message_ids": ids}


@router.post("/contacts/{channel}/{number}/release")
async def release(*, pipeline: PipelineDep, channel: Channel, number: Number) -> dict[str, bool]:
    """Give the contact back to the bot (it knows a human spoke with them)."""
    try:
        was_human = await actions.release_to_bot(pipeline, channel, number)
    except ContactNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such contact on that channel.") from None
    return {"released": was_human}


@router.delete("/contacts/{channel}/{number}")
async def delete_contact(
    *, pipeline: PipelineDep, channel: Channel, number: Number
) -> dict[str, bool]:
    """Erase the contact everywhere: rows, bookings, emails, conversation state, caches."""
    try:
        existed = await actions.erase_contact(pipeline, channel, number)
    except CalendarError as exc:
        log.warning("erasing %s stopped at the calendar: %s", mask_phone(number), exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"The calendar refused or could not be reached ({exc}); nothing else was erased "
            "but the buffered messages. Repeat the request.",
        ) from exc
    return {"deleted": existed}
