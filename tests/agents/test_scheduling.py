"""The scheduling agent's own helpers and tools; its turns run in
tests/graph/test_scheduling_e2e.py."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from agents.scheduling.tools import CalendarTools, lead_zone
from domain.booking import Attendee, Booking, Slot
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
