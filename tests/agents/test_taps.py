"""A tap on an offered slot is the lead's pick, confirmed by the tap (issue #17): the scheduling
fallback books exactly that slot at once, with no "shall I book it?"; a tap on a slot of an
older list books nothing and reads as the lead's words."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.messages import HumanMessage

from agents.inputs import TAP_KEY, AgentInput
from agents.scheduling.agent import run
from agents.scheduling.tools import tapped_option
from domain.business import load_business
from domain.contact import ContactInfo
from domain.reply import slot_choice_id
from tests.graph.fakes import NOW, FakeCalendar


def tap(payload: str, message_id: str, title: str = "Tue 8 Jan, 11:00") -> HumanMessage:
    return HumanMessage(title, id=message_id, additional_kwargs={TAP_KEY: payload})


async def test_the_fallback_books_the_tapped_slot_without_asking_back(settings: Any) -> None:
    calendar = FakeCalendar()
    view = AgentInput(
        contact=ContactInfo(channel="meta", contact="+34600111222"), now=NOW,
        business=load_business(), burst=[HumanMessage("yes", id="m1")], stage="scheduling",
    )
    offered = (await run(view, model=None, settings=settings, calendar=calendar))["offered_slots"]
    view = replace(view, burst=[tap(slot_choice_id(offered[2]), "m2")], offered_slots=offered,
                   asked="slots")
    assert view.taps == [slot_choice_id(offered[2])]
    booked = await run(view, model=None, settings=settings, calendar=calendar)
    assert booked["booking"] is not None and booked["booking"].start == offered[2].start
    assert booked["reply"].startswith("Done! Your call is booked")


async def test_a_tap_from_an_older_list_books_nothing(settings: Any) -> None:
    calendar = FakeCalendar()
    view = AgentInput(
        contact=ContactInfo(channel="meta", contact="+34600111222"), now=NOW,
        business=load_business(), burst=[HumanMessage("yes", id="m1")], stage="scheduling",
    )
    offered = (await run(view, model=None, settings=settings, calendar=calendar))["offered_slots"]
    old = replace(offered[0], start=offered[0].start.replace(year=2029))
    assert tapped_option([slot_choice_id(old)], offered) is None
    view = replace(view, burst=[tap(slot_choice_id(old), "m2", "Mon 7 Jan, 10:00")],
                   offered_slots=offered, asked="slots")
    draft = await run(view, model=None, settings=settings, calendar=calendar)
    assert draft["booking"] is None and calendar.bookings == {}


async def test_the_last_slot_tap_counts_and_other_payloads_do_not() -> None:
    offered = await FakeCalendar().free_slots(after=NOW)
    ids = [slot_choice_id(slot) for slot in offered]
    assert tapped_option([ids[0], "yes", ids[1]], offered) == 2
    assert tapped_option(["yes", "budget:2", "slot:not-a-time"], offered) is None
