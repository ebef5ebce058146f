"""Stage transitions and routing: pure functions of the state, so every path is tested directly.

The graph, not the model, moves stages, and only forwards, from what the lead profile holds:

    greeting --(name and need known)--> qualification --(all four BANT items)--> scheduling
    scheduling --(a call booked)--> handoff

Other handoffs (requested, low confidence, unresolved) are `graph.triggers`' business; the hand-over
node then sets the stage to `handoff` whatever the reason, and releasing the contact to the bot
recomputes the stage from the profile (`stage_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langgraph.graph import END

from graph.events import Stage
from graph.lead import LeadProfile

__all__ = [
    "AGENT_NODES",
    "next_stage",
    "route_after_advance",
    "route_after_ingest",
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


def route_start(state: Mapping[str, Any]) -> Literal["ingest", "summarize", "release"]:
    """Which kind of run this is (the engine's input sets `task`)."""
    task = state.get("task") or "turn"
    if task == "summarize":
        return "summarize"
    if task == "release":
        return "release"
    return "ingest"


def route_after_ingest(state: Mapping[str, Any]) -> str:
    """Human mode records and ends; a request for a person skips the model; otherwise the
    agent of the current stage answers."""
    if state.get("human_mode"):
        return END
    if state.get("handoff_reason") is not None:
        return "hand_over"
    stage: Stage = state.get("stage") or "greeting"
    return AGENT_NODES[stage]


def route_after_advance(state: Mapping[str, Any]) -> Literal["hand_over", "finish"]:
    """To the hand-over node when a trigger fired, else straight to the end of the turn."""
    return "hand_over" if state.get("handoff_reason") is not None else "finish"
