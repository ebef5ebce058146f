"""Stage transitions and routing: pure functions of the state and the contact's mode, so every
path is tested directly.

The graph, not the model, moves stages, and only forwards, from what the lead profile holds:

    greeting --(name and need known)--> qualification --(all four BANT items, qualified)-->
        scheduling --(a call booked)--> handoff
    greeting, qualification --(disqualified; or all four known and nurture)--> closed

Other handoffs (requested, low confidence, unresolved) are `graph.triggers`' business; the
hand-over step then sets the stage to `handoff` whatever the reason, and giving the contact back to
the bot recomputes the stage from the profile (`stage_for`).

After a handoff the bot is silent (the contact's mode, `domain.contact.ContactMode`), with one
narrow exception: a `booked` handoff (mode `call_booked`). That handoff tells the sales team a
call is booked; nobody has to act on it, and the booking must stay manageable. So in that mode
the lead's requests to move or cancel the call ("can we move it?", matched by
`agents.intents.booking_change_request`, then followed until the change is done) go to the
scheduling agent; everything else is recorded silently. A later handoff of another reason, or a
person of the team writing to the lead, ends the exception (the mode changes in Postgres).
Booking changes are routed the same way while the bot has the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END

from agents.intents import booking_change_request, person_request
from domain.booking import confirmed
from domain.contact import ContactMode
from domain.events import Stage
from domain.lead import Fit, LeadProfile

__all__ = [
    "AGENT_NODES",
    "burst_texts",
    "changes_booking",
    "first_step",
    "next_stage",
    "stage_for",
]

AGENT_NODES: dict[Stage, str] = {
    "greeting": "greeting",
    "qualification": "qualification",
    "scheduling": "scheduling",
    "handoff": "follow_up",
    "closed": "follow_up",
}
"""The agent node that answers in each stage (`follow_up`: after a release, or once closed)."""


def next_stage(
    stage: Stage, profile: LeadProfile, *, booked: bool, fit: Fit | None = None
) -> Stage:
    """The stage after a turn: transitions applied until none applies (a lead who gives
    everything in one message goes from greeting to scheduling at once). Never moves back.
    `fit` is the lead's (`graph.qualification`); None counts as qualified once BANT is known."""
    while True:
        if stage in ("greeting", "qualification") and fit == "disqualified":
            stage = "closed"
        elif stage == "greeting" and profile.name and profile.need is not None:
            stage = "qualification"
        elif stage == "qualification" and profile.bant_complete:
            stage = "closed" if fit == "nurture" else "scheduling"
        elif stage == "scheduling" and booked:
            stage = "handoff"
        else:
            return stage


def stage_for(profile: LeadProfile, *, booked: bool, fit: Fit | None = None) -> Stage:
    """The stage a conversation with this profile belongs in (used when a person releases it)."""
    return next_stage("greeting", profile, booked=booked, fit=fit)


def burst_texts(state: Mapping[str, Any]) -> list[str]:
    """The text of this turn's messages (the input names them in `burst`; image parts left
    out)."""
    ids = set(state.get("burst") or ())
    return [
        message.text
        for message in state.get("messages") or ()
        if message.id in ids and message.type == "human" and message.text.strip()
    ]


def changes_booking(state: Mapping[str, Any], mode: ContactMode) -> bool:
    """The lead has a confirmed call the bot may still move or cancel (the bot has the
    conversation, or a person has it only because that call was booked), and this turn is
    about it: a change under way, or a request to move or cancel it."""
    if mode not in (ContactMode.BOT, ContactMode.CALL_BOOKED):
        return False
    if not confirmed(state.get("booking")):
        return False
    return bool(state.get("changing_booking")) or (
        booking_change_request(burst_texts(state)) is not None
    )


def first_step(state: Mapping[str, Any], mode: ContactMode) -> str:
    """Where a turn starts. While the contact is not the bot's, the turn only records the
    lead's messages (but for a booked call's change, see the module docstring); a certain request
    for a person (a command or a curated phrase, `agents.intents.person_request`) skips the model,
    while a mere hint goes to the agent, whose model decides; a booked call's change goes to the
    scheduling agent; otherwise the agent of the current stage answers."""
    if mode is not ContactMode.BOT:
        return "scheduling" if changes_booking(state, mode) else END
    if person_request(burst_texts(state)) == "certain":
        return "hand_over"
    if changes_booking(state, mode):
        return "scheduling"
    stage: Stage = state.get("stage") or "greeting"
    return AGENT_NODES[stage]
