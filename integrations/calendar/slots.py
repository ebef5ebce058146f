"""Slot arithmetic: which times can be offered, in whose time zone, and how they read.

Pure functions only (no clock, no I/O): both calendars fetch their busy intervals and the current
time, then ask this module what is free, so Google and the local calendar offer exactly the same
slots and the tricky parts (daylight-saving changes, buffers, minimum notice) are tested once.

Why the choices:
- Slots sit on a wall-clock grid of the business zone (09:00, 09:30, ...), the way people expect
  them, but every comparison is on absolute instants: Python subtracts aware datetimes of the same
  `ZoneInfo` as wall-clock times, which is wrong across a daylight-saving change.
- A wall-clock time that does not exist (skipped by a spring change) is never offered; a time that
  exists twice (autumn) is offered once, at its first occurrence.
- A buffer of B minutes keeps every slot at least B minutes away from every busy interval, on both
  sides.
- Slots are offered inside the lead's own waking hours too (`DayWindow`, `LEAD_HOURS` in their
  zone), read on the lead's wall clock: a slot must start and end on one day of the lead's,
  between the window's hours. Where those hours and business hours do not overlap within the
  horizon, nothing is offered (the agent asks the lead for a time instead of offering the night).
- The lead's zone comes from their number's prefix (`phonenumbers`); where a prefix spans several
  zones, the country's main zone wins (a Spanish mobile is Madrid, not the Canaries).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from domain.booking import DayWindow, Slot
from domain.texts import words

if TYPE_CHECKING:
    from core.config import Settings

__all__ = [
    "Interval", "SlotRules", "WEEKDAYS", "format_slot", "free_slots", "in_window", "is_free",
    "lead_timezone", "merge_intervals", "search_window", "subtract_interval",
]

Interval = tuple[datetime, datetime]
"""A half-open busy range [start, end), both ends timezone-aware."""

WEEKDAYS: dict[str, int] = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}

# Where a prefix spans several zones or none, the zone most of the country lives in. zone.tab's
# own order is not that (it lists Brazil's Noronha first), hence this short table.
_MAIN_ZONE: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney", "BR": "America/Sao_Paulo",
    "CA": "America/Toronto", "CL": "America/Santiago", "CN": "Asia/Shanghai",
    "EC": "America/Guayaquil", "ES": "Europe/Madrid", "GB": "Europe/London",
    "ID": "Asia/Jakarta", "MX": "America/Mexico_City", "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow", "US": "America/New_York",
}
_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotRules:
    """When calls can be booked: the business's zone, hours, days and meeting shape."""

    timezone: str
    """IANA name of the business's zone; hours and days are read in it."""
    day_start: time
    day_end: time
    days: frozenset[int]
    """Business weekdays, Monday = 0."""
    meeting: timedelta
    buffer: timedelta = timedelta(0)
    """Minimum gap between a slot and any busy interval, on both sides."""
    min_notice: timedelta = timedelta(0)
    """How far after now the earliest slot may start."""
    step: timedelta | None = None
    """Spacing of the wall-clock grid of slot starts; the meeting length when unset."""
    horizon: timedelta = timedelta(days=14)
    """How far ahead of the earliest possible start to look for free slots."""

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first booking
        if self.day_end <= self.day_start:
            raise ValueError("day_end must be later than day_start")
        if self.meeting <= timedelta(0) or (self.step is not None and self.step <= timedelta(0)):
            raise ValueError("meeting and step must be positive")
        if not self.days <= set(range(7)):
            raise ValueError("days are weekday numbers 0 (Monday) to 6 (Sunday)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def grid(self) -> timedelta:
        return self.step or self.meeting

    @classmethod
    def from_settings(cls, settings: Settings) -> SlotRules:
        """The rules of `TIMEZONE`, `BUSINESS_*`, `MEETING_*` and `MIN_NOTICE_MINUTES`."""
        return cls(
            timezone=settings.TIMEZONE,
            day_start=settings.BUSINESS_HOURS_START,
            day_end=settings.BUSINESS_HOURS_END,
            days=frozenset(WEEKDAYS[day] for day in settings.BUSINESS_DAYS),
            meeting=timedelta(minutes=settings.MEETING_MINUTES),
            buffer=timedelta(minutes=settings.MEETING_BUFFER_MINUTES),
            min_notice=timedelta(minutes=settings.MIN_NOTICE_MINUTES),
        )


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def earliest_start(rules: SlotRules, *, after: datetime, now: datetime) -> datetime:
    """The first instant a slot may start: `after`, but never inside the minimum notice."""
    return max(_aware(after, "after"), _aware(now, "now") + rules.min_notice)


def search_window(rules: SlotRules, *, after: datetime, now: datetime) -> Interval:
    """The range whose busy intervals `free_slots` needs (buffer included), in UTC."""
    start = earliest_start(rules, after=after, now=now)
    return start - rules.buffer, start + rules.horizon + rules.meeting + rules.buffer


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same instants (touching ones joined)."""
    merged: list[Interval] = []
    for start, end in sorted((_aware(s, "start"), _aware(e, "end")) for s, e in intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def subtract_interval(intervals: Iterable[Interval], hole: Interval) -> list[Interval]:
    """`intervals` without the instants of `hole` (an event's own time when it is moved)."""
    hole_start, hole_end = _aware(hole[0], "start"), _aware(hole[1], "end")
    result: list[Interval] = []
    for start, end in merge_intervals(intervals):
        if end <= hole_start or start >= hole_end:
            result.append((start, end))
            continue
        if start < hole_start:
            result.append((start, hole_start))
        if end > hole_end:
            result.append((hole_end, end))
    return result


def is_free(slot: Slot, busy: Iterable[Interval], *, buffer: timedelta = timedelta(0)) -> bool:
    """Whether `slot` keeps at least `buffer` away from every busy interval."""
    start, end = _aware(slot.start, "slot.start") - buffer, _aware(slot.end, "slot.end") + buffer
    return all(b_end <= start or b_start >= end for b_start, b_end in merge_intervals(busy))


def in_window(slot: Slot, window: DayWindow) -> bool:
    """Whether `slot` starts and ends on one day of the window's zone, inside its hours."""
    zone = window.zone
    start = _aware(slot.start, "slot.start").astimezone(zone)
    end = _aware(slot.end, "slot.end").astimezone(zone)
    return (
        start.date() == end.date() and window.start <= start.time() and end.time() <= window.end
    )


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The instant of a wall-clock time in `zone`, or None when that time does not exist there."""
    naive = datetime.combine(day, wall)
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != naive:
        return None  # skipped by a daylight-saving change
    return instant


def candidate_slots(rules: SlotRules, *, start: datetime, end: datetime) -> Iterator[Slot]:
    """Every grid slot inside business hours that starts in [start, end), in time order."""
    start, end = _aware(start, "start"), _aware(end, "end")
    zone = rules.zone
    day = start.astimezone(zone).date()
    last_day = end.astimezone(zone).date()
    while day <= last_day:
        if day.weekday() in rules.days:
            yield from _day_slots(rules, day, zone, start=start, end=end)
        day += timedelta(days=1)


def _day_slots(
    rules: SlotRules, day: date, zone: ZoneInfo, *, start: datetime, end: datetime
) -> Iterator[Slot]:
    day_open = datetime.combine(day, rules.day_start)
    day_close = datetime.combine(day, rules.day_end)
    close = day_close.replace(tzinfo=zone).astimezone(UTC)
    wall = day_open
    while wall < day_close:
        instant = _instant(day, wall.time(), zone)
        wall += rules.grid
        if instant is None or instant < start:
            continue
        if instant >= end or instant + rules.meeting > close:
            return
        yield Slot(start=instant.astimezone(zone), end=(instant + rules.meeting).astimezone(zone))


def free_slots(
    rules: SlotRules,
    *,
    busy: Iterable[Interval],
    after: datetime,
    now: datetime,
    limit: int = 3,
    exclude_days: Collection[date] = (),
    within: DayWindow | None = None,
    moving: Slot | None = None,
) -> list[Slot]:
    """Up to `limit` free slots from `after` (and the minimum notice after `now`) within the
    horizon, inside business hours and `buffer` away from `busy`; times in the business zone.

    `within` (the lead's hours in their zone) keeps only the slots inside it; an empty list then
    means that no free slot of the horizon suits the lead. `exclude_days` (business-zone dates)
    lets a caller skip days the lead already turned down. `moving` is a booked call being moved:
    its own time counts as free (so the slots its buffer blocked, right before and after it, are
    offered) but is not offered itself."""
    if limit <= 0:
        return []
    first = earliest_start(rules, after=after, now=now)
    if moving is not None:
        busy = subtract_interval(busy, (moving.start, moving.end))
    merged = merge_intervals(busy)
    found: list[Slot] = []
    for slot in candidate_slots(rules, start=first, end=first + rules.horizon):
        if slot.start.date() in exclude_days:
            continue
        if moving is not None and slot.start == moving.start:
            continue
        if within is not None and not in_window(slot, within):
            continue
        if is_free(slot, merged, buffer=rules.buffer):
            found.append(slot)
            if len(found) == limit:
                break
    return found


@functools.cache
def _zones_of_region() -> dict[str, tuple[str, ...]]:
    """Country code -> its zones, in tzdata's zone.tab order."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            zones.setdefault(fields[0], []).append(fields[2])
    return {region: tuple(names) for region, names in zones.items()}


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def lead_timezone(number: str, default: str) -> str:
    """The IANA zone a phone number (E.164, with `+`) most likely lives in, else `default`."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return default
    zones = [
        zone for zone in phone_timezone.time_zones_for_number(parsed)
        if zone != _UNKNOWN_ZONE and _valid_zone(zone)
    ]
    region = phonenumbers.region_code_for_number(parsed) or ""
    if len(zones) == 1:
        return zones[0]
    main = _MAIN_ZONE.get(region)
    if main is not None and (main in zones or not zones):
        return main
    for zone in _zones_of_region().get(region, ()):
        if zone in zones:
            return zone
    if zones:
        return zones[0]
    region_zones = _zones_of_region().get(region, ())
    return region_zones[0] if len(region_zones) == 1 else default


def format_slot(slot: Slot, zone: str, language: str | None = None) -> str:
    """`Tue 3 Dec, 16:00 (America/Sao_Paulo)`: the start in `zone`, with the zone named; day and
    month names in `language` (the catalogue's, `domain.texts`; English otherwise)."""
    local = _aware(slot.start, "slot.start").astimezone(ZoneInfo(zone))
    day = words("slots.days", language)[local.weekday()]
    month = words("slots.months", language)[local.month - 1]
    return f"{day} {local.day} {month}, {local:%H:%M} ({zone})"
