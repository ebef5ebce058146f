"""What the graph tells the rest of the system about a lead, and the sink it tells it to.

The graph calls a `LeadSink` passed in (`integrations.leads` has the Postgres + email one):
`lead_updated` when the profile or the stage changed in a turn, `handed_off` when the
conversation goes to a human. Both must be idempotent: a burst that is re-run (a stale draft, a
worker that died) emits again, and the sink must still end with one lead row and one email. A
sink that raises makes the turn fail, so the burst is retried later and the lead is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from domain.booking import Booking
from domain.lead import LeadProfile, Qualification

__all__ = [
    "HandoffEvent",
    "HandoffRecord",
    "HandoffReason",
    "LeadSink",
    "LeadUpdate",
    "NullLeadSink",
    "Stage",
    "TranscriptLine",
]

Stage = Literal["greeting", "qualification", "scheduling", "handoff", "closed"]
"""Where a conversation is; moved by the graph from the lead's profile, never by the model
(`closed`: a lead to nurture for later, or one the business does not serve)."""
HandoffReason = Literal["low_confidence", "requested", "unresolved", "booked"]
"""Why a conversation went to a person (`graph.triggers` says when)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffRecord:
    """A handoff to a person: the conversation state keeps the last one, the lead store all."""

    reason: HandoffReason
    at: datetime
    """When (timezone-aware)."""
    id: int | None = None
    """The stored handoff's id (None until stored)."""
    resolved_at: datetime | None = None
    """When the person gave the contact back or closed the lead."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptLine:
    """One message of the recent conversation, for the manager."""

    role: Literal["lead", "bot", "human"]
    text: str
    message_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadUpdate:
    """The lead's profile or stage changed during a turn."""

    thread_id: str
    """`<channel>:<E.164 number>`."""
    channel: str
    contact: str
    """E.164 number."""
    profile_name: str | None
    stage: Stage
    profile: LeadProfile
    summary: str
    booking: Booking | None = None
    qualification: Qualification | None = None
    """The lead's score and fit, once judged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffEvent:
    """The conversation goes to a human."""

    thread_id: str
    channel: str
    contact: str
    profile_name: str | None
    reason: HandoffReason
    at: datetime
    profile: LeadProfile
    summary: str
    recent: list[TranscriptLine] = field(default_factory=list)
    booking: Booking | None = None
    qualification: Qualification | None = None


class LeadSink(Protocol):
    """Where lead changes and handoffs go; both calls idempotent."""

    async def lead_updated(self, update: LeadUpdate) -> None: ...

    async def handed_off(self, event: HandoffEvent) -> None: ...


class NullLeadSink:
    """A sink that keeps nothing (the terminal chat without a database, unit tests)."""

    async def lead_updated(self, update: LeadUpdate) -> None:
        return None

    async def handed_off(self, event: HandoffEvent) -> None:
        return None
