"""A fallback draft (no model read the turn) asks for a person on a bare hint, whichever agent's
fallback wrote it; a hint inside a longer message is left alone (`agents.draft`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from agents import follow_up, qualification
from agents.inputs import AgentInput
from agents.scheduling import agent as scheduling
from domain.business import load_business
from domain.contact import ContactInfo
from domain.lead import Authority, Budget, LeadProfile, Need, Timeline
from tests.graph.fakes import FakeCalendar

PROFILE = LeadProfile(
    name="Ana", need=Need(words="a CRM"), budget=Budget(words="5k"),
    authority=Authority(words="me"), timeline=Timeline(words="soon"),
)


def view(text: str, stage: Any) -> AgentInput:
    return AgentInput(
        contact=ContactInfo(channel="meta", contact="+34600000001"),
        now=dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC), business=load_business(),
        burst=[HumanMessage(text, id="m1")], stage=stage, profile=PROFILE, language="es",
    )


@pytest.mark.parametrize(
    ("text", "wants_human"),
    [
        ("un asesor por favor", True),
        ("¿hay alguien ahí para hablar?", True),
        ("Primero tengo que hablar con el asesor financiero de la empresa", False),
        ("Tenemos 15 asesores que atienden por teléfono", False),
        ("el martes a las 10", False),
    ],
)
@pytest.mark.parametrize("stage", ["qualification", "scheduling", "handoff"])
async def test_a_fallback_hands_off_a_bare_hint_only(
    settings: Any, stage: str, text: str, wants_human: bool
) -> None:
    turn = view(text, stage)
    if stage == "qualification":
        draft = await qualification.AGENT.run(turn, model=None, settings=settings)
    elif stage == "scheduling":
        draft = await scheduling.run(turn, model=None, settings=settings, calendar=FakeCalendar())
    else:
        draft = await follow_up.AGENT.run(turn, model=None, settings=settings)
    assert draft["fallback"] is True
    assert draft["wants_human"] is wants_human
