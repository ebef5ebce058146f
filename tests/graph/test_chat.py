"""The terminal chat's in-memory calendar keeps to the lead's hours like the real ones."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

from domain.booking import DayWindow
from graph.chat import MemoryCalendar
from tests.graph.fakes import NOW
from tests.utils.lead_hours import outside_lead_hours


async def test_memory_calendar_offers_only_the_leads_hours() -> None:
    calendar = MemoryCalendar()
    lead = DayWindow(timezone="America/Los_Angeles", start=time(8), end=time(20))
    found = await calendar.free_slots(after=NOW, limit=3, within=lead)
    # 09:00-17:00 UTC is 01:00-09:00 in Los Angeles: the 16:00 UTC slot of each day fits.
    local = ZoneInfo("America/Los_Angeles")
    assert [f"{s.start.astimezone(local):%a %H:%M}" for s in found] == [
        "Mon 08:00", "Tue 08:00", "Wed 08:00"]
    assert outside_lead_hours(found, "America/Los_Angeles") == []
    assert len(await calendar.free_slots(after=NOW, limit=3)) == 3  # without: any business hour


async def test_memory_calendar_search_ends_when_nothing_fits() -> None:
    honolulu = DayWindow(timezone="Pacific/Honolulu", start=time(8), end=time(20))
    assert await MemoryCalendar().free_slots(after=NOW, limit=3, within=honolulu) == []
