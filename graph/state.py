"""The graph state: what one conversation (one thread, `<channel>:<E.164>`) remembers between turns.

Durable fields are changed by one step only, `record` (the turn's last node), after the lead sink
has accepted the turn's events: a sink failure then leaves the stored conversation as it was before
the turn (apart from the inbound messages, which are keyed by provider id, so a retry replaces
rather than duplicates them), and the retried burst emits its events again. The steps before it
write the transient per-turn fields at the bottom (`draft`, `commit`, ...); the next turn's input
resets them.

What the conversation does not own is not here: who has the conversation (the contact's mode) is
Postgres's and reaches a turn through its context (`graph.context.TurnContext`), as does the
contact itself.

Every type stored here is plain data (TypedDicts, pydantic models, frozen dataclasses, datetimes),
so LangGraph's serializer stores it and `SERDE_ALLOWLIST` registers it with a strict serializer.
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from agents.draft import Draft
from domain.booking import Booking, Slot
from domain.contact import HumanStretch
from domain.events import HandoffReason, HandoffRecord, Stage
from domain.lead import Authority, Budget, LeadProfile, Need, Qualification, Timeline
from domain.reply import Choice, Options

__all__ = [
    "CHECKPOINT_PREFIX",
    "SERDE_ALLOWLIST",
    "ConversationState",
    "TurnCommit",
    "TurnOutcome",
]

CHECKPOINT_PREFIX = "conversation:v2"
"""The Redis key prefix of the conversations. Bumped when the state's shape changes so that a
release never loads a checkpoint it cannot read; the old keys expire after their TTL."""


class TurnCommit(TypedDict, total=False):
    """The durable changes of a turn, applied by `record` once the sink accepted its events."""

    stage: Stage
    profile: LeadProfile
    qualification: Qualification
    language: str | None
    unresolved: int
    last_confidence: float | None
    handoff: HandoffRecord | None
    booking: Booking | None
    offered_slots: list[Slot]
    proposed_slot: int | None
    asked: str | None
    changing_booking: bool


class TurnOutcome(TypedDict):
    """What the last turn produced, for `ConversationEngine.run_turn`'s result."""

    reply: str | None
    """The message to send; None means stay silent."""
    options: Options | None
    """What the lead can tap under the reply (`graph.options`); None: words alone."""
    fallback: bool
    """The reply came from the fallback policy."""
    llm_calls: int
    """Chat completion calls the turn made (summarization excluded)."""
    handed_off: bool
    """The turn handed the conversation to a person."""
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
    """Where the conversation is; moved by the graph from the profile and the lead's fit, never
    by the model."""
    profile: LeadProfile
    """What the bot knows about the lead (BANT and contact details, each with its evidence)."""
    qualification: Qualification | None
    """The lead's score and fit against the business's rules (`graph.qualification`)."""
    unresolved: int
    """How many turns in a row the agent reported it could not resolve the lead's message."""
    last_confidence: float | None
    """The agent's confidence in its last reply (None after a fallback turn)."""
    handoff: HandoffRecord | None
    """The last handoff to a person (reason and time), kept after release."""
    booking: Booking | None
    """The booked call, once there is one (status `cancelled` once the lead cancelled it)."""
    changing_booking: bool
    """The lead asked to move or cancel their booked call and the scheduling agent is on it:
    while set, the lead's messages go to that agent, also in the `call_booked` mode of a
    booked call's handoff (`graph.routing`). Cleared once moved, cancelled or kept."""
    human_stretch: HumanStretch | None
    """The last stretch a person handled, set on release; tells the agents not to repeat the
    handoff message nor ask again what the person settled."""
    language: str | None
    """The language the bot replies in (ISO 639-1), as last detected."""
    offered_slots: list[Slot]
    """The call slots last offered to the lead, numbered from 1; only these can be booked."""
    proposed_slot: int | None
    """The offered slot (1-based) the fallback policy asked the lead to confirm."""
    asked: str | None
    """What the last reply asked for (`name`, `need`, `budget`...; the fallback policy adds a
    repeat count, "budget/2", and "slots" for its slot offers)."""

    # --- Transient: the current turn ------------------------------------------------------
    burst: list[str]
    """Input of a turn: the ids of this burst's messages (provider ids), in order."""
    draft: Draft | None
    """The agent's proposal for this turn."""
    handoff_reason: HandoffReason | None
    """The handoff this turn makes, if any (set by `apply_rules`; `hand_over` reached straight
    from the start means `requested`)."""
    commit: TurnCommit | None
    """The durable changes the turn will apply in `record`."""
    reply: str | None
    """The reply the turn will send: the agent's, or the hand-over message."""
    options: Options | None
    """The options shown under `reply` (set by `apply_rules`, cleared by `hand_over`)."""
    turn: TurnOutcome
    """What the last turn produced."""


SERDE_ALLOWLIST: tuple[type, ...] = (
    LeadProfile, Need, Budget, Authority, Timeline, Qualification, Booking, Slot, HandoffRecord,
    HumanStretch, Options, Choice,
)
"""The project types stored in the state, for a serializer that only loads registered types
(`JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)` or `LANGGRAPH_STRICT_MSGPACK`)."""
