"""Lead events for the team's CRM: what happened to a lead, written to the outbox in the
transaction of the change that caused it, so an event exists exactly when its change does.

The lead store calls `LeadEvents` from its own transactions: the sink's lead updates and handoffs
(created, updated, handed off, a call booked, moved or cancelled), the manager's won or lost, and
erasure. What changed is read from the stored lead, before and after the write, under the row
locks the write takes anyway, so a re-run burst that changes nothing emits nothing and two
workers of one contact never emit one change twice.

Every event goes to every destination (each webhook receiver, HubSpot) as an outbox row of its
own: one failing receiver never holds up another. The rows of one destination and one lead share
an ordering key, so the outbox delivers them in order (`integrations.outbox`). The body is the
public format documented in the README (`EventBody`); the HubSpot client reads the same body,
one receiver among others.

Erasure: the pending rows of the contact go with it (their `contact_id` cascades), and the
`contact.erased` row keeps no personal data (ids only), since it outlives the contact until it is
delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NotRequired, TypedDict

import asyncpg
from pydantic import BaseModel

from domain.booking import Booking, confirmed
from domain.events import HandoffReason
from integrations.leads.records import LeadRecord, Outcome, lead_from_row
from integrations.leads.sql import SELECT_LEAD, SELECT_OPEN_LEAD_FOR_UPDATE
from integrations.outbox import enqueue

__all__ = [
    "TRACKED_FIELDS",
    "CallData",
    "EventBody",
    "EventDestination",
    "EventType",
    "LeadData",
    "LeadEvents",
    "call_data",
    "event_body",
    "lead_data",
    "lead_events",
]

EventType = Literal[
    "lead.created", "lead.updated", "lead.handed_off", "call.booked", "call.rescheduled",
    "call.cancelled", "lead.won", "lead.lost", "contact.erased",
]
TRACKED_FIELDS: tuple[str, ...] = (
    "status", "name", "company", "email", "need", "budget", "authority", "timeline", "score",
)
"""A change of one of these makes a `lead.updated` (the summary and the stage change nearly every
turn and would make an event of every message; they ride along in the next event's data)."""
_OUTCOME_EVENTS: dict[Outcome, EventType] = {"won": "lead.won", "lost": "lead.lost"}


class CallData(TypedDict):
    id: str
    start: str
    end: str
    calendar: str
    link: str | None
    status: str


class LeadData(TypedDict):
    """The lead as stored when the event was written (absent items are null, never guessed)."""

    id: int
    status: str
    stage: str | None
    channel: str
    number: str
    """E.164."""
    profile_name: str | None
    name: str | None
    company: str | None
    email: str | None
    language: str | None
    timezone: str | None
    need: dict[str, object] | None
    budget: dict[str, object] | None
    authority: dict[str, object] | None
    timeline: dict[str, object] | None
    score: int | None
    fit: str | None
    score_reasons: list[str]
    summary: str | None
    call: CallData | None
    created_at: str
    updated_at: str
    closed_at: str | None


class EventBody(TypedDict):
    """One event as JSON: the same body for every destination and every retry."""

    id: str
    """Stable across retries: receivers deduplicate on it."""
    type: EventType
    time: str
    """When the change happened (ISO 8601)."""
    lead_id: int | None
    contact_id: int
    lead: LeadData | None
    """None only for `contact.erased`."""
    changes: NotRequired[list[str]]
    """`lead.updated`: which of `TRACKED_FIELDS` changed."""
    reason: NotRequired[HandoffReason]
    """`lead.handed_off`: why."""
    previous_call: NotRequired[CallData]
    """`call.rescheduled`: the call as it was."""
    lead_ids: NotRequired[list[int]]
    """`contact.erased`: the erased contact's leads."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDestination:
    """Where events go: an outbox `kind` (whose handler delivers) and a stable `name` (one per
    receiver, part of each row's dedup and ordering keys; never a secret)."""

    kind: str
    name: str


def call_data(booking: Booking) -> CallData:
    return {
        "id": booking.id, "start": booking.start.isoformat(), "end": booking.end.isoformat(),
        "calendar": booking.calendar, "link": booking.link, "status": booking.status,
    }


def lead_data(lead: LeadRecord) -> LeadData:
    """The stored lead as the events carry it (the lead's words, not the message ids)."""
    profile, qualification = lead.profile, lead.qualification

    def item(value: BaseModel | None) -> dict[str, object] | None:
        return None if value is None else value.model_dump(mode="json", exclude={"message_id"})

    return {
        "id": lead.id,
        "status": lead.status,
        "stage": lead.stage,
        "channel": lead.channel,
        "number": lead.number,
        "profile_name": lead.contact_profile_name,
        "name": profile.name,
        "company": profile.company,
        "email": profile.email,
        "language": profile.language,
        "timezone": profile.timezone,
        "need": item(profile.need),
        "budget": item(profile.budget),
        "authority": item(profile.authority),
        "timeline": item(profile.timeline),
        "score": qualification.score if qualification else None,
        "fit": qualification.fit if qualification else None,
        "score_reasons": list(qualification.reasons) if qualification else [],
        "summary": lead.summary,
        "call": call_data(lead.booking) if lead.booking else None,
        "created_at": lead.created_at.isoformat(),
        "updated_at": lead.updated_at.isoformat(),
        "closed_at": lead.closed_at.isoformat() if lead.closed_at else None,
    }


def _call_change(before: Booking | None, after: Booking | None) -> EventType | None:
    if confirmed(after) and not confirmed(before):
        return "call.booked"
    if before is None or after is None or not confirmed(before):
        return None
    if after.status == "cancelled":
        return "call.cancelled"
    if (before.id, before.start, before.end) != (after.id, after.start, after.end):
        return "call.rescheduled"
    return None


def lead_events(
    before: LeadRecord | None, after: LeadRecord, *, handoff: HandoffReason | None = None
) -> list[tuple[EventType, dict[str, object]]]:
    """The events of one change, in order, with their type-specific fields: `lead.created` (a
    new lead) or `lead.updated` (a tracked field changed), then the call's event, then
    `lead.handed_off` when a handoff was recorded. A status change that a call or handoff event
    explains (booked, set back by a cancellation, handed_off) makes no `lead.updated` of its
    own."""
    events: list[tuple[EventType, dict[str, object]]] = []
    # Another id: the lead `before` was closed (won or lost) meanwhile and this is a new one.
    new = before is None or before.id != after.id
    previous = None if new or before is None else before.booking
    call = _call_change(previous, after.booking)
    if new:
        events.append(("lead.created", {}))
    else:
        assert before is not None
        old: dict[str, object] = dict(lead_data(before))
        now: dict[str, object] = dict(lead_data(after))
        changes = [name for name in TRACKED_FIELDS if old[name] != now[name]]
        explained = (
            (call == "call.booked" and after.status == "booked")
            # A cancelled call sets a booked lead's status back (`integrations.leads.sink`).
            or (call == "call.cancelled" and before.status == "booked")
            or (handoff is not None and after.status in ("booked", "handed_off"))
        )
        if explained and "status" in changes:
            changes.remove("status")
        if changes:
            events.append(("lead.updated", {"changes": changes}))
    if call == "call.rescheduled":
        assert previous is not None
        events.append((call, {"previous_call": call_data(previous)}))
    elif call is not None:
        events.append((call, {}))
    if handoff is not None:
        events.append(("lead.handed_off", {"reason": handoff}))
    return events


def event_body(
    type_: EventType,
    *,
    at: datetime,
    lead: LeadRecord | None,
    contact_id: int,
    extra: dict[str, object] | None = None,
) -> EventBody:
    """A new event (a new id) about `lead` as stored now."""
    body: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "type": type_,
        "time": at.isoformat(),
        "lead_id": lead.id if lead else None,
        "contact_id": contact_id,
        "lead": lead_data(lead) if lead else None,
        **(extra or {}),
    }
    return body  # type: ignore[return-value]


class LeadEvents:
    """Writes lead events to the outbox from the lead store's transactions (see the module
    docstring). With no destination configured it reads and writes nothing."""

    def __init__(
        self, destinations: Sequence[EventDestination], *, clock: Callable[[], datetime]
    ) -> None:
        self.destinations = tuple(destinations)
        self._clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.destinations)

    async def open_lead(self, conn: asyncpg.Connection, contact_id: int) -> LeadRecord | None:
        """The contact's open lead before a write, locked until the transaction ends (callers
        hold the contact's row lock already: the same order as the lead upsert's)."""
        if not self.enabled:
            return None
        row = await conn.fetchrow(SELECT_OPEN_LEAD_FOR_UPDATE, contact_id)
        return None if row is None else lead_from_row(row)

    async def changed(
        self,
        conn: asyncpg.Connection,
        before: LeadRecord | None,
        lead_id: int,
        *,
        handoff: HandoffReason | None = None,
    ) -> None:
        """Write the events of a lead write (`before` from `open_lead`)."""
        if not self.enabled:
            return
        after = lead_from_row(await conn.fetchrow(SELECT_LEAD, lead_id))
        await self._write(conn, after, lead_events(before, after, handoff=handoff))

    async def closed(self, conn: asyncpg.Connection, lead_id: int, outcome: Outcome) -> None:
        """Write `lead.won` or `lead.lost`."""
        if not self.enabled:
            return
        after = lead_from_row(await conn.fetchrow(SELECT_LEAD, lead_id))
        await self._write(conn, after, [(_OUTCOME_EVENTS[outcome], {})])

    async def erased(
        self, conn: asyncpg.Connection, contact_id: int, lead_ids: Sequence[int]
    ) -> None:
        """Write `contact.erased` (ids only, no personal data; kept apart from the contact's
        rows, which the erasure deletes)."""
        body = event_body(
            "contact.erased", at=self._clock(), lead=None, contact_id=contact_id,
            extra={"lead_ids": list(lead_ids)},
        )
        for destination in self.destinations:
            await enqueue(
                conn, kind=destination.kind, dedup_key=f"event:{body['id']}:{destination.name}",
                payload={"destination": destination.name, "event": body},
            )

    async def _write(
        self,
        conn: asyncpg.Connection,
        lead: LeadRecord,
        events: Sequence[tuple[EventType, dict[str, object]]],
    ) -> None:
        at = self._clock()
        for type_, extra in events:
            body = event_body(type_, at=at, lead=lead, contact_id=lead.contact_id, extra=extra)
            for destination in self.destinations:
                await enqueue(
                    conn,
                    kind=destination.kind,
                    dedup_key=f"event:{body['id']}:{destination.name}",
                    payload={"destination": destination.name, "event": body},
                    contact_id=lead.contact_id,
                    ordering_key=f"{destination.name}|lead:{lead.id}",
                )
