"""Slot arithmetic: business hours, buffers, notice, daylight-saving changes, the lead's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.booking import Slot
from integrations.calendar.slots import (
    SlotRules,
    format_slot,
    free_slots,
    is_free,
    lead_timezone,
    merge_intervals,
    search_window,
    subtract_interval,
)

MADRID = ZoneInfo("Europe/Madrid")


def madrid(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def rules(**overrides: Any) -> SlotRules:
    values: dict[str, Any] = {
        "timezone": "Europe/Madrid",
        "day_start": time(9),
        "day_end": time(17),
        "days": frozenset(range(5)),
        "meeting": timedelta(minutes=30),
        "buffer": timedelta(minutes=15),
        "min_notice": timedelta(hours=2),
        **overrides,
    }
    return SlotRules(**values)


def starts(found: list[Slot]) -> list[datetime]:
    return [slot.start for slot in found]


# Thursday 27 March 2025, 08:00 in Madrid (CET, UTC+1); Madrid moves to CEST on Sunday 30 March.
NOW = madrid(2025, 3, 27, 8, 0)


def test_first_slots_respect_minimum_notice_and_grid() -> None:
    found = free_slots(rules(), busy=[], after=NOW, now=NOW, limit=3)
    assert starts(found) == [madrid(2025, 3, 27, 10, 0), madrid(2025, 3, 27, 10, 30),
                             madrid(2025, 3, 27, 11, 0)]
    assert all(slot.end - slot.start == timedelta(minutes=30) for slot in found)
    assert all(slot.start.tzinfo == MADRID for slot in found)


def test_after_in_the_past_still_respects_notice() -> None:
    found = free_slots(rules(), busy=[], after=NOW - timedelta(days=3), now=NOW, limit=1)
    assert starts(found) == [madrid(2025, 3, 27, 10, 0)]


def test_unaligned_earliest_start_rounds_up_to_the_grid() -> None:
    found = free_slots(rules(min_notice=timedelta(minutes=7)), busy=[],
                       after=madrid(2025, 3, 27, 11, 0), now=madrid(2025, 3, 27, 11, 0), limit=1)
    assert starts(found) == [madrid(2025, 3, 27, 11, 30)]


def test_buffer_keeps_slots_away_from_busy_time_on_both_sides() -> None:
    busy = [(madrid(2025, 3, 27, 10, 0), madrid(2025, 3, 27, 10, 45)),   # ends 10:45: next 11:00
            (madrid(2025, 3, 27, 12, 10), madrid(2025, 3, 27, 13, 0))]   # 11:30 ends too close
    found = free_slots(rules(), busy=busy, after=NOW, now=NOW, limit=3)
    assert starts(found) == [madrid(2025, 3, 27, 11, 0), madrid(2025, 3, 27, 13, 30),
                             madrid(2025, 3, 27, 14, 0)]


def test_without_buffer_touching_busy_time_is_free() -> None:
    busy = [(madrid(2025, 3, 27, 10, 0), madrid(2025, 3, 27, 10, 30))]
    found = free_slots(rules(buffer=timedelta(0)), busy=busy, after=NOW, now=NOW, limit=1)
    assert starts(found) == [madrid(2025, 3, 27, 10, 30)]


def test_last_slot_ends_at_closing_time_then_weekend_is_skipped() -> None:
    friday_late = madrid(2025, 3, 28, 14, 30)
    found = free_slots(rules(), busy=[], after=friday_late, now=friday_late, limit=2)
    # 16:30-17:00 fits exactly; Saturday and Sunday are not business days.
    assert starts(found) == [madrid(2025, 3, 28, 16, 30), madrid(2025, 3, 31, 9, 0)]


def test_business_hours_are_wall_clock_across_the_spring_change() -> None:
    friday_late = madrid(2025, 3, 28, 16, 0)
    found = free_slots(rules(min_notice=timedelta(0)), busy=[], after=friday_late,
                       now=friday_late, limit=3)
    # Friday 16:00 CET is 15:00 UTC; Monday 09:00 CEST is 07:00 UTC: the offset changed.
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2025, 3, 28, 15, 0), utc(2025, 3, 28, 15, 30), utc(2025, 3, 31, 7, 0)]
    assert found[2].start.utcoffset() == timedelta(hours=2)


def test_skipped_hour_is_never_offered() -> None:
    night = rules(days=frozenset(range(7)), day_start=time(1), day_end=time(4),
                  min_notice=timedelta(0), buffer=timedelta(0))
    saturday = madrid(2025, 3, 29, 23, 0)
    found = free_slots(night, busy=[], after=saturday, now=saturday, limit=4)
    # 02:00 and 02:30 do not exist on Sunday 30 March 2025 in Madrid.
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 1, 0),
        utc(2025, 3, 30, 1, 30)]
    assert [f"{s.start:%H:%M}" for s in found] == ["01:00", "01:30", "03:00", "03:30"]
    assert all(s.end.astimezone(UTC) - s.start.astimezone(UTC) == timedelta(minutes=30)
               for s in found)
    # The next slot is Monday's: 03:30-04:00 was the last one that fits before closing.
    more = free_slots(night, busy=[], after=saturday, now=saturday, limit=5)
    assert more[4].start == madrid(2025, 3, 31, 1, 0)


def test_repeated_hour_is_offered_once() -> None:
    night = rules(days=frozenset(range(7)), day_start=time(1), day_end=time(4),
                  min_notice=timedelta(0), buffer=timedelta(0))
    saturday = madrid(2025, 10, 25, 23, 0)
    found = free_slots(night, busy=[], after=saturday, now=saturday, limit=6)
    # 02:00-03:00 happens twice on Sunday 26 October 2025; its first occurrence (CEST) is used.
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2025, 10, 25, 23, 0), utc(2025, 10, 25, 23, 30), utc(2025, 10, 26, 0, 0),
        utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 2, 0), utc(2025, 10, 26, 2, 30)]
    assert len({s.start for s in found}) == 6


def test_busy_time_across_the_change_is_compared_as_instants() -> None:
    monday = madrid(2025, 3, 31, 8, 0)
    busy = [(utc(2025, 3, 31, 7, 0), utc(2025, 3, 31, 7, 30))]   # 09:00-09:30 CEST
    found = free_slots(rules(min_notice=timedelta(0)), busy=busy, after=monday, now=monday,
                       limit=1)
    assert starts(found) == [madrid(2025, 3, 31, 10, 0)]


def test_excluded_days_and_fully_busy_horizon() -> None:
    found = free_slots(rules(), busy=[], after=NOW, now=NOW, limit=1,
                       exclude_days={date(2025, 3, 27), date(2025, 3, 28)})
    assert starts(found) == [madrid(2025, 3, 31, 9, 0)]
    everything = [(NOW - timedelta(days=1), NOW + timedelta(days=60))]
    assert free_slots(rules(), busy=everything, after=NOW, now=NOW) == []
    assert free_slots(rules(), busy=[], after=NOW, now=NOW, limit=0) == []


def test_search_window_covers_horizon_and_buffer() -> None:
    start, end = search_window(rules(), after=NOW, now=NOW)
    earliest = NOW.astimezone(UTC) + timedelta(hours=2)  # UTC: the horizon spans a DST change
    assert start == earliest - timedelta(minutes=15)
    assert end == earliest + timedelta(days=14, minutes=45)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        free_slots(rules(), busy=[], after=datetime(2025, 3, 27, 9), now=NOW)


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError):
        rules(day_start=time(17), day_end=time(9))
    with pytest.raises(ValueError):
        rules(days=frozenset({7}))
    with pytest.raises(Exception):  # noqa: B017 - zoneinfo's own error
        rules(timezone="Mars/Olympus")


def test_rules_from_settings(make_settings: Any) -> None:
    settings = make_settings(TIMEZONE="America/Sao_Paulo", BUSINESS_DAYS="mon,wed,sat",
                             BUSINESS_HOURS_START="08:30", BUSINESS_HOURS_END="12:00",
                             MEETING_MINUTES=45, MEETING_BUFFER_MINUTES=10, MIN_NOTICE_MINUTES=60)
    got = SlotRules.from_settings(settings)
    assert got == SlotRules(timezone="America/Sao_Paulo", day_start=time(8, 30),
                            day_end=time(12), days=frozenset({0, 2, 5}),
                            meeting=timedelta(minutes=45), buffer=timedelta(minutes=10),
                            min_notice=timedelta(minutes=60))


def test_merge_subtract_and_is_free() -> None:
    a, b, c = utc(2025, 1, 1, 9), utc(2025, 1, 1, 10), utc(2025, 1, 1, 11)
    assert merge_intervals([(b, c), (a, b), (a, a)]) == [(a, c)]
    assert subtract_interval([(a, c)], (a + timedelta(minutes=15), b)) == [
        (a, a + timedelta(minutes=15)), (b, c)]
    assert subtract_interval([(a, b)], (a, b)) == []
    slot = Slot(start=b, end=c)
    assert is_free(slot, [(a, b)])
    assert not is_free(slot, [(a, b)], buffer=timedelta(minutes=1))
    assert not is_free(slot, [(b + timedelta(minutes=5), b + timedelta(minutes=6))])


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+5511987654321", "America/Sao_Paulo"),
        ("+34612345678", "Europe/Madrid"),          # prefix also spans the Canaries
        ("+34922123456", "Atlantic/Canary"),        # a Tenerife landline
        ("+447400123456", "Europe/London"),         # prefix also spans the Channel Islands
        ("+447911123456", "Europe/Guernsey"),       # a Guernsey mobile
        ("+442071234567", "Europe/London"),
        ("+12125551234", "America/New_York"),
        ("+13105551234", "America/Los_Angeles"),
        ("+5215512345678", "America/Mexico_City"),  # no zone for the prefix: the country's main
        ("+351912345678", "Europe/Lisbon"),
        ("+80012345678", "Europe/Paris"),           # international freephone: the default
        ("not a number", "Europe/Paris"),
        ("+999123", "Europe/Paris"),
    ],
)
def test_lead_timezone(number: str, zone: str) -> None:
    assert lead_timezone(number, "Europe/Paris") == zone


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (None, "Tue 3 Dec, 16:00 (America/Sao_Paulo)"),
        ("en", "Tue 3 Dec, 16:00 (America/Sao_Paulo)"),
        ("es", "mar 3 dic, 16:00 (America/Sao_Paulo)"),
        ("pt-BR", "ter 3 dez, 16:00 (America/Sao_Paulo)"),
        ("fr", "mar 3 déc, 16:00 (America/Sao_Paulo)"),
        ("de", "Di 3 Dez, 16:00 (America/Sao_Paulo)"),
        ("it", "mar 3 dic, 16:00 (America/Sao_Paulo)"),
        ("ja", "Tue 3 Dec, 16:00 (America/Sao_Paulo)"),  # no such language file: English
    ],
)
def test_format_slot_in_the_leads_zone(language: str | None, text: str) -> None:
    slot = Slot(start=utc(2024, 12, 3, 19, 0), end=utc(2024, 12, 3, 19, 30))
    assert format_slot(slot, "America/Sao_Paulo", language) == text


def test_offered_slot_in_the_leads_zone_across_a_change() -> None:
    # Monday 31 March 09:00 in Madrid (just moved to CEST) is 03:00 in New York (EDT since 9 March).
    monday = madrid(2025, 3, 31, 9, 0)
    slot = Slot(start=monday, end=monday + timedelta(minutes=30))
    assert format_slot(slot, lead_timezone("+12125551234", "UTC")) == (
        "Mon 31 Mar, 03:00 (America/New_York)")
    assert format_slot(slot, lead_timezone("+5511987654321", "UTC"), "pt") == (
        "seg 31 mar, 04:00 (America/Sao_Paulo)")
