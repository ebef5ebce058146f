"""Leads in three zones and the check that a slot lies in their waking hours, shared by the
calendar tests and the scheduling tests end to end (issue #13).

The check reads the lead's wall clock by hand rather than through `slots.in_window`, so the tests
do not take the code under test as their own measure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time
from zoneinfo import ZoneInfo

from domain.booking import Slot

__all__ = ["LEADS", "outside_lead_hours"]

_START, _END = time(8), time(20)  # LEAD_HOURS' default

LEADS: dict[str, str] = {
    "America/Los_Angeles": "+13105551234",
    "Europe/Madrid": "+34612345678",
    "Asia/Tokyo": "+81312345678",
}
"""A lead's zone -> a number of theirs (whose prefix says that zone)."""


def outside_lead_hours(slots: Iterable[Slot], zone: str) -> list[str]:
    """The slots that do not start and end between 08:00 and 20:00 of one day in `zone`, as
    `YYYY-MM-DD HH:MM-HH:MM` there (empty when every slot lies in the lead's day)."""
    wall = ZoneInfo(zone)
    bad: list[str] = []
    for slot in slots:
        start, end = slot.start.astimezone(wall), slot.end.astimezone(wall)
        if start.date() != end.date() or start.time() < _START or end.time() > _END:
            bad.append(f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}")
    return bad
