"""The scheduling agent's own helpers, tools and its fallback's offers; its turns with a model
run in tests/graph/test_scheduling_e2e.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from langchain_core.messages import HumanMessage

from agents.inputs import AgentInput
from agents.scheduling.agent import run
from agents.scheduling.tools import CalendarTools, lead_zone
from domain.booking import Attendee, Booking, Slot
from domain.business import load_business
from domain.contact import ContactInfo
from domain.lead import LeadProfile
from tests.graph.fakes import NOW, FakeCalendar


def test_lead_zone_uses_the_countrys_main_zone() -> None:
    # A Spanish mobile prefix spans Madrid and the Canaries: Madrid, not the business's zone.
    assert lead_zone(None, "+34612345678", "America/New_York").key == "Europe/Madrid"
    assert lead_zone("Atlantic/Canary", "+34612345678", "UTC").key == "Atlantic/Canary"


async def test_the_booking_carries_the_leads_language() -> None:
    """The local calendar writes the lead's invitation emails in it (`Attendee.language`)."""
    attendees: list[Attendee] = []

    class Recording(FakeCalendar):
        async def book(
            self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
        ) -> Booking:
            attendees.append(attendee)
            return await super().book(
                slot, attendee=attendee, key=key, title=title, description=description
            )

    slot = (await FakeCalendar().free_slots(after=NOW))[0]
    for profile_language, conversation_language, expected in [
        ("de", "en", "de"), (None, "it", "it"), (None, None, None),
    ]:
        tools = CalendarTools(
            calendar=Recording(), thread_id="meta:+4915100000", contact="+4915100000",
            profile=LeadProfile(name="Jonas", language=profile_language),
            zone=ZoneInfo("Europe/Berlin"), language=conversation_language, now=NOW,
            seen=[slot], offered=[slot], booking=None, hours=(time(8), time(20)),
        )
        assert (await tools.book_slot({"option": 1})).startswith("Booked")
        assert attendees[-1].language == expected


async def test_the_fallback_offers_slots_twice_then_hands_over(settings: Any) -> None:
    """Without a model: a first list, a second one with later times after a non-pick (a
    non-answer), then a person; a pick to confirm keeps the count."""
    calendar = FakeCalendar()
    view = AgentInput(
        contact=ContactInfo(channel="meta", contact="+34600111222"), now=NOW,
        business=load_business(), burst=[HumanMessage("yes", id="m1")], stage="scheduling",
    )
    first = await run(view, model=None, settings=settings, calendar=calendar)
    assert (first["asked"], first["resolved"], first["wants_human"]) == ("slots", True, False)

    view = replace(view, burst=[HumanMessage("2", id="m2")], asked=first["asked"],
                   offered_slots=first["offered_slots"])
    confirm = await run(view, model=None, settings=settings, calendar=calendar)
    assert (confirm["asked"], confirm["proposed_slot"]) == ("slots", 2)

    view = replace(view, burst=[HumanMessage("no, none of those", id="m3")],
                   asked=confirm["asked"], proposed_slot=2)
    second = await run(view, model=None, settings=settings, calendar=calendar)
    assert (second["asked"], second["resolved"], second["wants_human"]) == ("slots/2", False, False)
    assert second["offered_slots"][0].start > first["offered_slots"][-1].start

    view = replace(view, burst=[HumanMessage("hmm", id="m4")], asked=second["asked"],
                   offered_slots=second["offered_slots"], proposed_slot=None)
    third = await run(view, model=None, settings=settings, calendar=calendar)
    assert (third["reply"], third["stuck"], third["resolved"]) == ("", True, False)
    assert not third["wants_human"]  # the lead never asked for a person
    assert len(calendar.free_calls) == 2
