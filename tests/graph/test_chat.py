"""`make chat`: its in-memory calendar keeps to the lead's hours like the real ones, and the
terminal session itself."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo

from domain.booking import DayWindow
from graph.chat import MemoryCalendar
from tests.graph.fakes import NOW
from tests.utils.lead_hours import outside_lead_hours

ROOT = Path(__file__).resolve().parents[2]


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


def test_make_chat_prompts_answers_and_shows_the_state_as_text(tmp_path: Path) -> None:
    """`python -m graph.chat` as `make chat` runs it: a prompt, the fallback policy's answers,
    the calendar it uses, and `/state` as readable lines (no model, no Redis: in memory)."""
    environment = {
        key: value for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "OPENAI_API_KEY", "BUSINESS_FILE")
    }
    environment["DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "graph.chat"],
        input="Hi, I'm Ana from Acme, we need a CRM\n/state\n/quit\n",
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=environment, check=True,
    )
    out = done.stdout
    assert out.count("you> ") == 3
    assert "calendar: in memory here (the service books in the calendar in Postgres)" in out
    assert "09:00-17:00 UTC on mon,tue,wed,thu,fri" in out and "08:00-20:00" in out
    assert "bot: Hi Ana! Thanks for writing to us." in out
    assert "name: Ana    company: Acme" in out and "stage: qualification" in out
    assert "{" not in out.split("/state")[-1]  # text, not a dump of the state
