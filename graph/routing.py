"""Stage transitions and routing: pure functions of the state, so every path is tested directly.

The graph, not the model, moves stages, and only forwards, from what the lead profile holds:

    greeting --(name and need known)--> qualification --(all four BANT items)--> scheduling
    scheduling --(a call booked)--> handoff

Other handoffs (requested, low confidence, unresolved) are `graph.triggers`' business; the hand-over
node then sets the stage to `handoff` whatever the reason, and releasing the contact to the bot
recomputes the stage from the profile (`stage_for`).

After a handoff the bot is silent (human mode), with one narrow exception: a `booked` handoff.
That handoff tells the sales team a call is booked; nobody has to act on it, and the booking
must stay manageable. So while the conversation is in human mode *only* because of a booked
call, the lead's requests to move or cancel that call ("can we move it?", matched by
`graph.triggers.booking_change_request`, then followed until the change is done) go to the
scheduling agent; everything else is recorded silently, as for every other handoff reason. A
later handoff of another reason (the lead asks for a person, the agent is unsure) ends the
exception, and so does a person of the team writing to the lead (the pipeline sees that and
does not run the graph at all). Booking changes are routed the same way once the bot has the
conversation back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END

from agents import burst_texts
from graph.events import Stage
from graph.lead import LeadProfile
from graph.triggers import asks_for_human, booking_change_request

__all__ = [
    "AGENT_NODES",
    "booking_changes_allowed",
    "changes_booking",
    "next_stage",
    "route_after_agent",
    "route_start",
    "stage_for",
]

AGENT_NODES: dict[Stage, str] = {
    "greeting": "greeting",
    "qualification": "qualification",
    "scheduling": "scheduling",
    "handoff": "handoff",
}
"""The agent node that answers in each stage (`handoff` answers after a release)."""


def next_stage(stage: Stage, profile: LeadProfile, *, booked: bool) -> Stage:
    """The stage after a turn: transitions applied until none applies (a lead who gives
    everything in one message goes from greeting to scheduling at once). Never moves back."""
    while True:
        if stage == "greeting" and profile.name and profile.need is not None:
            stage = "qualification"
        elif stage == "qualification" and profile.bant_complete:
            stage = "scheduling"
        elif stage == "scheduling" and booked:
            stage = "handoff"
        else:
            return stage


def stage_for(profile: LeadProfile, *, booked: bool) -> Stage:
    """The stage a conversation with this profile belongs in (used when a human releases it)."""
    return next_stage("greeting", profile, booked=booked)


def booking_changes_allowed(state: Mapping[str, Any]) -> bool:
    """The lead has a confirmed call the bot may still move or cancel: the bot has the
    conversation, or a human has it only because that call was booked (handoff `booked`)."""
    booking = state.get("booking")
    if booking is None or booking.status != "confirmed":
        return False
    if state.get("human_mode"):
        handoff = state.get("handoff")
        return handoff is not None and handoff["reason"] == "booked"
    return True


def changes_booking(state: Mapping[str, Any]) -> bool:
    """This turn is about changing the booked call: a change is under way, or the burst asks
    for one; and the bot may handle it (`booking_changes_allowed`)."""
    if not booking_changes_allowed(state):
        return False
    return bool(state.get("changing_booking")) or (
        booking_change_request(burst_texts(state)) is not None
    )


def route_start(state: Mapping[str, Any]) -> str:
    """Where a run starts: the summary or release task, else the turn's first node. In a turn,
    human mode records and ends (but for a booked call's change, see the module docstring); a
    plain request for a person skips the model; a booked call's change goes to the scheduling
    agent; otherwise the agent of the current stage answers."""
    task = state.get("task") or "turn"
    if task in ("summarize", "release"):
        return str(task)
    if state.get("human_mode"):
        return "scheduling" if changes_booking(state) else END
    if asks_for_human(burst_texts(state)):
        return "hand_over"
    if changes_booking(state):
        return "scheduling"
    stage: Stage = state.get("stage") or "greeting"
    return AGENT_NODES[stage]


def route_after_agent(state: Mapping[str, Any]) -> str:
    """To the hand-over node when a trigger fired; otherwise the agent's node ended the turn."""
    return "hand_over" if state.get("handoff_reason") is not None else END
