"""The graph state: what one conversation (one thread, `<channel>:<E.164>`) remembers between turns.

Durable fields are changed by one step only, `finish` (the end of the turn's last node), after
the lead sink has accepted the turn's events: a sink failure then leaves the stored conversation as
it was before the turn (apart from the inbound messages, which are keyed by provider id, so a retry
replaces rather than duplicates them), and the retried burst emits its events again. An agent node
that hands over writes the transient per-turn fields at the bottom (`draft`, `commit`, ...) for
`hand_over`; the next turn's input resets them.

Every type stored here is plain data (TypedDicts, pydantic models, frozen dataclasses, datetimes),
so LangGraph's serializer stores it and `SERDE_ALLOWLIST` can register it with a strict serializer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from graph.events import HandoffReason, Stage
from graph.lead import Authority, Budget, LeadProfile, Need, Timeline
from integrations.calendar.base import Booking, Slot

__all__ = [
    "SERDE_ALLOWLIST",
    "ContactState",
    "ConversationState",
    "Draft",
    "HandoffRecord",
    "HumanStretch",
    "Task",
    "TurnCommit",
    "TurnOutcome",
]

Task = Literal["turn", "summarize", "release"]
"""What a graph run is for: answer a burst, fold old history, or leave human mode."""


class ContactState(TypedDict):
    """Who the conversation is with, as the channel reported it."""

    channel: str
    """`twilio` or `meta`."""
    contact: str
    """The lead's number in E.164."""
    profile_name: str | None
    """The WhatsApp profile name, when the provider sent one (a hint, not the lead's name)."""


class HandoffRecord(TypedDict):
    """The last handoff to a human."""

    reason: HandoffReason
    """Why the conversation went to a human."""
    at: datetime
    """When (timezone-aware, UTC)."""


class HumanStretch(TypedDict):
    """A stretch of the conversation a human handled; kept after release so the bot knows."""

    started_at: datetime | None
    """When the handoff happened (None if the contact was put in human mode some other way)."""
    released_at: datetime
    """When the contact was given back to the bot."""
    notes: str | None
    """What the human settled, as the human (or the admin API) wrote it; shown to the agents."""


class Draft(TypedDict):
    """What the stage's agent (or the fallback policy) proposes for this turn; never durable."""

    agent: str
    """The agent that ran (`greeting`, `qualification`, `scheduling`, `handoff`)."""
    reply: str
    """The reply it wrote."""
    profile: LeadProfile
    """The profile with its validated extractions merged in."""
    language: str | None
    """The language it detected (ISO 639-1)."""
    confidence: float | None
    """Its confidence in the reply (0..1); None from the fallback policy."""
    resolved: bool | None
    """Whether it resolved the lead's message(s); None from the fallback policy."""
    wants_human: bool
    """Whether the lead asked for a person."""
    fallback: bool
    """The reply came from the deterministic fallback policy."""
    llm_calls: int
    """Chat completion calls made by the agent in this turn."""
    asked: str | None
    """The profile item the reply asks for (the fallback policy reads the next answer as it)."""
    offered_slots: list[Slot]
    """The slots offered to the lead, numbered from 1 (scheduling)."""
    proposed_slot: int | None
    """The offered slot (1-based) the fallback policy asked the lead to confirm."""
    booking: Booking | None
    """The call booked in this turn, if any (moved or cancelled by this turn, for a booked lead)."""
    changing_booking: NotRequired[bool]
    """Scheduling only: the lead's change of their booked call is still open after this turn
    (False once it was moved, cancelled or kept)."""


class TurnCommit(TypedDict, total=False):
    """The durable changes of a turn, applied by `finish` once the sink accepted its events."""

    stage: Stage
    profile: LeadProfile
    language: str | None
    unresolved: int
    last_confidence: float | None
    handoff: HandoffRecord | None
    human_mode: bool
    booking: Booking | None
    offered_slots: list[Slot]
    proposed_slot: int | None
    asked: str | None
    changing_booking: bool


class TurnOutcome(TypedDict):
    """What the last turn produced, for `ConversationEngine.run_turn`'s result."""

    reply: str | None
    """The message to send; None means stay silent (human mode)."""
    fallback: bool
    """The reply came from the fallback policy."""
    llm_calls: int
    """Chat completion calls the turn made (summarization excluded)."""
    handed_off: bool
    """The turn handed the conversation to a human."""
    lead_changed: bool
    """The profile or the stage changed (the sink was told)."""


class ConversationState(TypedDict, total=False):
    """One conversation. Absent keys mean "not set yet" (a new thread); read them with `.get`."""

    # --- Durable --------------------------------------------------------------------------
    messages: Annotated[list[AnyMessage], add_messages]
    """Recent history: the lead's messages (id = provider message id) and the bot's replies.
    Older ones are folded into `summary` and removed after the reply is sent."""
    summary: str
    """The running summary of the messages removed from `messages`."""
    stage: Stage
    """Where the conversation is; moved by the graph from the profile, never by the model."""
    profile: LeadProfile
    """What the bot knows about the lead (BANT and contact details, each with its evidence)."""
    unresolved: int
    """How many turns in a row the agent reported it could not resolve the lead's message."""
    last_confidence: float | None
    """The agent's confidence in its last reply (None after a fallback turn)."""
    handoff: HandoffRecord | None
    """The last handoff to a human (reason and time), kept after release."""
    booking: Booking | None
    """The booked call, once there is one (status `cancelled` once the lead cancelled it)."""
    changing_booking: bool
    """The lead asked to move or cancel their booked call and the scheduling agent is on it:
    while set, the lead's messages go to that agent, also in the human mode of a `booked`
    handoff (`graph.routing.booking_changes_allowed`). Cleared once moved, cancelled or kept."""
    human_mode: bool
    """A human has the conversation: the bot records messages and stays silent."""
    human_stretch: HumanStretch | None
    """The last stretch a human handled, set on release; tells the agents not to repeat the
    handoff message nor ask again what the human settled."""
    contact: ContactState
    """The channel, number and profile name of the lead."""
    language: str | None
    """The language the bot replies in (ISO 639-1), as last detected."""
    offered_slots: list[Slot]
    """The call slots last offered to the lead, numbered from 1; only these can be booked."""
    proposed_slot: int | None
    """The offered slot (1-based) the fallback policy asked the lead to confirm."""
    asked: str | None
    """The profile item the last reply asked for (`name`, `need`, `budget`...)."""

    # --- Transient: the current run -------------------------------------------------------
    task: Task
    """What this run is for; set by the engine's input."""
    burst: list[str]
    """Input of a turn: the ids of this burst's messages (provider ids), in order."""
    release_notes: str | None
    """Input of a `release` run: the human's notes."""
    handoff_reason: HandoffReason | None
    """The handoff this turn triggers, if any (set by the trigger rules; `hand_over` reached
    straight from the start means `requested`)."""
    draft: Draft | None
    """The agent's proposal for this turn."""
    commit: TurnCommit | None
    """The durable changes the turn will apply in `finish`."""
    reply: str | None
    """The reply the turn will send: the agent's, or the hand-over message."""
    turn: TurnOutcome
    """What the last turn produced."""
    folded: bool
    """Output of a `summarize` run: whether it folded messages into the summary."""


SERDE_ALLOWLIST: tuple[type, ...] = (LeadProfile, Need, Budget, Authority, Timeline, Booking, Slot)
"""The project types stored in the state, for a serializer that only loads registered types
(`JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)` or `LANGGRAPH_STRICT_MSGPACK`)."""
