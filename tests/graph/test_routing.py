"""Stage transitions and routing, every case."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph import END

from graph.lead import Authority, Budget, LeadProfile, Need, Timeline
from graph.routing import (
    next_stage,
    route_after_agent,
    route_start,
    stage_for,
)

NEED = Need(words="a CRM")
BANT: dict[str, Any] = {
    "need": NEED,
    "budget": Budget(words="5k"),
    "authority": Authority(words="me"),
    "timeline": Timeline(words="soon"),
}


def profile(**values: Any) -> LeadProfile:
    return LeadProfile(**values)


@pytest.mark.parametrize(
    ("stage", "values", "booked", "expected"),
    [
        ("greeting", {}, False, "greeting"),
        ("greeting", {"name": "Ana"}, False, "greeting"),
        ("greeting", {"need": NEED}, False, "greeting"),
        ("greeting", {"name": "Ana", "need": NEED}, False, "qualification"),
        ("greeting", {"name": "Ana", **BANT}, False, "scheduling"),
        ("greeting", BANT, False, "greeting"),  # no name yet
        ("greeting", {"name": "Ana", **BANT}, True, "handoff"),
        ("qualification", {"name": "Ana", "need": NEED}, False, "qualification"),
        ("qualification", {"name": "Ana", **BANT}, False, "scheduling"),
        ("qualification", {**BANT}, False, "scheduling"),
        ("qualification", {"need": NEED, "budget": BANT["budget"]}, True, "qualification"),
        ("scheduling", {**BANT}, False, "scheduling"),
        ("scheduling", {**BANT}, True, "handoff"),
        ("scheduling", {}, False, "scheduling"),  # never moves back
        ("handoff", {}, False, "handoff"),
        ("handoff", {**BANT}, True, "handoff"),
    ],
)
def test_next_stage(stage: Any, values: dict[str, Any], booked: bool, expected: str) -> None:
    assert next_stage(stage, profile(**values), booked=booked) == expected


@pytest.mark.parametrize(
    ("values", "booked", "expected"),
    [
        ({}, False, "greeting"),
        ({"name": "Ana", "need": NEED}, False, "qualification"),
        ({"name": "Ana", **BANT}, False, "scheduling"),
        ({"name": "Ana", **BANT}, True, "handoff"),
    ],
)
def test_stage_for(values: dict[str, Any], booked: bool, expected: str) -> None:
    assert stage_for(profile(**values), booked=booked) == expected


def said(text: str) -> dict[str, Any]:
    """A turn whose burst is one message."""
    return {"messages": [HumanMessage(text, id="m1")], "burst": ["m1"]}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"task": "summarize"}, "summarize"),
        ({"task": "release"}, "release"),
        ({}, "greeting"),
        ({"task": "turn"}, "greeting"),
        ({"stage": "greeting"}, "greeting"),
        ({"stage": "qualification"}, "qualification"),
        ({"stage": "scheduling"}, "scheduling"),
        ({"stage": "handoff"}, "handoff"),
        ({"stage": "qualification", **said("/human")}, "hand_over"),
        ({"stage": "qualification", **said("how much is it?")}, "qualification"),
        ({"stage": "handoff", "human_mode": True}, END),
        ({"stage": "handoff", "human_mode": True, **said("/human")}, END),
        ({"stage": "scheduling", "human_mode": False}, "scheduling"),
    ],
)
def test_route_start(state: dict[str, Any], expected: str) -> None:
    assert route_start(state) == expected


@pytest.mark.parametrize(
    ("reason", "expected"),
    [(None, END), ("booked", "hand_over"), ("requested", "hand_over"),
     ("unresolved", "hand_over"), ("low_confidence", "hand_over")],
)
def test_route_after_agent(reason: str | None, expected: str) -> None:
    assert route_after_agent({"handoff_reason": reason}) == expected
