"""What an agent proposes for a turn (`Draft`), and the one place a draft is built.

A draft is never durable: the graph's rules (`graph.rules`) read it, decide the stage and any
handoff, and only the turn's `record` step makes its parts the conversation's state.

A fallback draft (no model read the turn) asks for a person on a bare hint: the keyword net's
hints are the model's to judge (`agents.intents`), and without one a hint hands off only when the
burst is short and says nothing else ("is anyone there to talk to?"), never inside a longer
message ("I'd have to talk to the manager, he signs off"). It is decided in `make_draft`
because every fallback (the greeting and qualification policy, the follow-up's, the scheduling
one) builds its draft there, and none of them needs to know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from agents.intents import bare_request
from domain.booking import Booking, Slot
from domain.lead import LeadProfile

if TYPE_CHECKING:
    from agents.inputs import AgentInput

__all__ = ["Draft", "make_draft"]


class Draft(TypedDict):
    """What the stage's agent (or the fallback policy) proposes for this turn."""

    agent: str
    """The agent that ran (`greeting`, `qualification`, `scheduling`, `follow_up`)."""
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
    invented: str | None
    """A fact the reply states that the lead never gave (its field, "name", "budget"...): the
    graph does not send that reply (`graph.nodes.guarded_reply`)."""
    stuck: bool
    """The fallback policy cannot go on (questions skipped, slot offers exhausted): a person
    takes over, as an unresolved handoff rather than a request the lead never made."""
    answered: bool | None
    """Whether the lead answered what the bot's last message asked (an evasive answer is not);
    None from the fallback policy."""
    disqualified_by: str | None
    """The business's rule for leads it does not serve that the lead's own words met."""
    fallback: bool
    """The reply came from the deterministic fallback policy."""
    llm_calls: int
    """Chat completion calls made by the agent in this turn."""
    asked: str | None
    """What the reply asks for (the fallback policy reads the next answer as it): a profile
    item, or the policy's own `asking(item, times)` value ("budget/2", "slots")."""
    offered_slots: list[Slot]
    """The slots offered to the lead, numbered from 1 (scheduling)."""
    offered_now: bool
    """The reply offers `offered_slots`, found in this turn: the graph shows them as options
    the lead can tap (`graph.options`)."""
    proposed_slot: int | None
    """The offered slot (1-based) the fallback policy asked the lead to confirm."""
    booking: Booking | None
    """The call booked (moved, cancelled) in this turn, else the one the lead had."""
    changing_booking: bool
    """Scheduling only: the lead's change of their booked call is still open after this turn
    (False once it was moved, cancelled or kept)."""


def make_draft(
    view: AgentInput,
    *,
    agent: str,
    reply: str,
    profile: LeadProfile,
    language: str | None,
    fallback: bool,
    llm_calls: int,
    asked: str | None,
    confidence: float | None = None,
    resolved: bool | None = None,
    wants_human: bool = False,
    stuck: bool = False,
    invented: str | None = None,
    answered: bool | None = None,
    disqualified_by: str | None = None,
    offered_slots: list[Slot] | None = None,
    offered_now: bool = False,
    proposed_slot: int | None = None,
    booking: Booking | None = None,
    changing_booking: bool = False,
) -> Draft:
    """A draft; what the agent did not touch (offered slots, the booking) stays as `view` has
    it. A fallback draft wants a person on a bare hint (see the module docstring)."""
    if fallback and not wants_human:
        wants_human = bare_request(view.texts)
    return {
        "agent": agent,
        "reply": reply,
        "profile": profile,
        "language": language,
        "confidence": confidence,
        "resolved": resolved,
        "wants_human": wants_human,
        "stuck": stuck,
        "invented": invented,
        "answered": answered,
        "disqualified_by": disqualified_by,
        "fallback": fallback,
        "llm_calls": llm_calls,
        "asked": asked,
        "offered_slots": list(view.offered_slots if offered_slots is None else offered_slots),
        "offered_now": offered_now,
        "proposed_slot": proposed_slot,
        "booking": view.booking if booking is None else booking,
        "changing_booking": changing_booking,
    }
