"""Slot arithmetic: business hours, buffers, notice, daylight-saving changes, the lead's zone and
the lead's own hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.booking import DayWindow, Slot
from integrations.calendar.slots import (
    SlotRules,
    format_slot,
    free_slots,
    in_window,
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


def test_a_call_being_moved_frees_its_neighbours_but_is_not_offered() -> None:
    call = Slot(start=madrid(2025, 3, 27, 10, 30), end=madrid(2025, 3, 27, 11, 0))
    other = (madrid(2025, 3, 27, 12, 30), madrid(2025, 3, 27, 13, 0))
    busy = [(call.start, call.end), other]
    assert starts(free_slots(rules(), busy=busy, after=NOW, now=NOW, limit=3)) == [
        madrid(2025, 3, 27, 11, 30), madrid(2025, 3, 27, 13, 30), madrid(2025, 3, 27, 14, 0),
    ]
    moving = free_slots(rules(), busy=busy, after=NOW, now=NOW, limit=3, moving=call)
    assert starts(moving) == [
        madrid(2025, 3, 27, 10, 0), madrid(2025, 3, 27, 11, 0), madrid(2025, 3, 27, 11, 30),
    ]


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
        ("fr", "mar. 3 déc., 16:00 (America/Sao_Paulo)"),
        ("de", "Di. 3 Dez., 16:00 (America/Sao_Paulo)"),
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


# --- The lead's hours ------------------------------------------------------------------------


def window(zone: str, start: int = 8, end: int = 20) -> DayWindow:
    return DayWindow(timezone=zone, start=time(start), end=time(end))


def slot_at(start: datetime, minutes: int = 30) -> Slot:
    return Slot(start=start, end=start + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("start", "minutes", "inside"),
    [
        (madrid(2030, 1, 7, 8, 0), 30, True),       # starts as the lead's day starts
        (madrid(2030, 1, 7, 19, 30), 30, True),     # ends as it ends
        (madrid(2030, 1, 7, 7, 30), 30, False),
        (madrid(2030, 1, 7, 7, 45), 30, False),     # starts before, ends inside
        (madrid(2030, 1, 7, 19, 45), 30, False),    # starts inside, ends after
        (madrid(2030, 1, 7, 12, 0), 12 * 60, False),  # longer than the window
        (madrid(2030, 1, 7, 23, 45), 30, False),    # across midnight
        (utc(2030, 1, 7, 7, 0), 30, True),          # 08:00 in Madrid: read in the lead's zone
        (utc(2030, 1, 7, 19, 0), 30, False),        # 20:00 in Madrid
    ],
)
def test_in_window_reads_the_leads_wall_clock(start: datetime, minutes: int, inside: bool) -> None:
    assert in_window(slot_at(start, minutes), window("Europe/Madrid")) is inside


def test_day_window_is_validated() -> None:
    with pytest.raises(ValueError, match="later than"):
        window("Europe/Madrid", 20, 8)
    with pytest.raises(ValueError, match="later than"):
        window("Europe/Madrid", 8, 8)
    with pytest.raises(Exception):  # noqa: B017 - zoneinfo's own error
        window("Mars/Olympus")


def utc_business(make_settings: Any) -> tuple[SlotRules, tuple[time, time]]:
    """The defaults: TIMEZONE=UTC, 09:00-17:00 Monday to Friday, LEAD_HOURS 08:00-20:00."""
    settings = make_settings()
    return SlotRules.from_settings(settings), settings.lead_hours


# Monday 7 January 2030, 08:00 UTC: no daylight saving in any of these zones then but Auckland's.
MONDAY = utc(2030, 1, 7, 8, 0)


@pytest.mark.parametrize(
    ("zone", "utc_starts", "local_starts"),
    [
        # Los Angeles (PST, UTC-8): business 01:00-09:00 there, so only 08:00-09:00 fits.
        ("America/Los_Angeles", ["16:00", "16:30"], ["08:00", "08:30"]),
        # Madrid (CET, UTC+1): business 10:00-18:00 there, all of it inside the lead's day.
        ("Europe/Madrid", [f"{h:02}:{m:02}" for h in range(9, 17) for m in (0, 30)],
         [f"{h:02}:{m:02}" for h in range(10, 18) for m in (0, 30)]),
        # Tokyo (JST, UTC+9): business 18:00-02:00 there; its lead's 08:00-20:00 is 23:00-11:00
        # UTC, so the overlap is 09:00-11:00 UTC, 18:00-20:00 in Tokyo.
        ("Asia/Tokyo", ["09:00", "09:30", "10:00", "10:30"], ["18:00", "18:30", "19:00", "19:30"]),
        # Honolulu (HST, UTC-10): business 23:00-07:00 there; no overlap on any day.
        ("Pacific/Honolulu", [], []),
        # Auckland (NZDT, UTC+13): business 22:00-06:00 there; no overlap either.
        ("Pacific/Auckland", [], []),
    ],
)
def test_only_the_overlap_of_business_and_lead_hours_is_offered(
    make_settings: Any, zone: str, utc_starts: list[str], local_starts: list[str]
) -> None:
    rules, (start, end) = utc_business(make_settings)
    lead = DayWindow(timezone=zone, start=start, end=end)
    everything = free_slots(rules, busy=[], after=MONDAY, now=MONDAY, limit=10_000, within=lead)
    assert all(in_window(slot, lead) for slot in everything)
    assert sorted({f"{s.start.astimezone(UTC):%H:%M}" for s in everything}) == utc_starts
    assert sorted({f"{s.start.astimezone(ZoneInfo(zone)):%H:%M}" for s in everything}) == (
        local_starts)
    # The window only takes away: the same search without it has every slot, nights included.
    unfiltered = free_slots(rules, busy=[], after=MONDAY, now=MONDAY, limit=10_000)
    assert [slot for slot in unfiltered if in_window(slot, lead)] == everything


def test_the_overlap_grows_when_the_leads_clock_springs_forward(make_settings: Any) -> None:
    # Los Angeles moves to PDT (UTC-7) on Sunday 10 March 2030: 08:00 there is 16:00 UTC on the
    # Friday and 15:00 UTC on the Monday; business closes at 17:00 UTC both days.
    rules, (start, end) = utc_business(make_settings)
    lead = DayWindow(timezone="America/Los_Angeles", start=start, end=end)
    friday = utc(2030, 3, 8, 0, 0)
    found = free_slots(rules, busy=[], after=friday, now=friday, limit=6, within=lead)
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2030, 3, 8, 16, 0), utc(2030, 3, 8, 16, 30),
        utc(2030, 3, 11, 15, 0), utc(2030, 3, 11, 15, 30), utc(2030, 3, 11, 16, 0),
        utc(2030, 3, 11, 16, 30)]
    los_angeles = ZoneInfo("America/Los_Angeles")
    assert [f"{s.start.astimezone(los_angeles):%a %H:%M}" for s in found] == [
        "Fri 08:00", "Fri 08:30", "Mon 08:00", "Mon 08:30", "Mon 09:00", "Mon 09:30"]


def test_the_overlap_shrinks_when_the_leads_clock_springs_forward() -> None:
    # Business 07:00-19:00 UTC; Madrid's 08:00-20:00 is 07:00-19:00 UTC in CET, 06:00-18:00 UTC
    # in CEST (from Sunday 31 March 2030): Friday's last slot ends 20:00 in Madrid, so does
    # Monday's, an hour earlier in UTC.
    business = rules(timezone="UTC", day_start=time(7), day_end=time(19), buffer=timedelta(0),
                     min_notice=timedelta(0))
    lead = window("Europe/Madrid")
    friday = utc(2030, 3, 29, 18, 0)
    found = free_slots(business, busy=[], after=friday, now=friday, limit=3, within=lead)
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2030, 3, 29, 18, 0), utc(2030, 3, 29, 18, 30), utc(2030, 4, 1, 7, 0)]
    monday_evening = utc(2030, 4, 1, 17, 0)
    found = free_slots(business, busy=[], after=monday_evening, now=monday_evening, limit=2,
                       within=lead)
    assert [s.start.astimezone(UTC) for s in found] == [
        utc(2030, 4, 1, 17, 0), utc(2030, 4, 1, 17, 30)]  # 18:00 UTC would be 20:00 CEST
    assert found[-1].end.astimezone(MADRID).time() == time(20)


def test_lead_hours_across_their_skipped_and_repeated_hours() -> None:
    # The lead's window 01:00-04:00 (Madrid wall clock); the business answers 00:00-03:00 UTC.
    business = rules(timezone="UTC", day_start=time(0), day_end=time(3),
                     days=frozenset(range(7)), buffer=timedelta(0), min_notice=timedelta(0))
    lead = window("Europe/Madrid", 1, 4)
    # Sunday 31 March 2030: 02:00-03:00 does not exist; 01:00 CET .. 04:00 CEST is two hours.
    spring = utc(2030, 3, 31, 0, 0)
    found = free_slots(business, busy=[], after=spring, now=spring, limit=10, within=lead)
    on_the_day = [s for s in found if s.start.astimezone(UTC).date() == spring.date()]
    assert [f"{s.start.astimezone(MADRID):%H:%M}" for s in on_the_day] == [
        "01:00", "01:30", "03:00", "03:30"]
    # Sunday 27 October 2030: 02:00-03:00 happens twice; 01:00 CEST .. 04:00 CET is four hours,
    # of which the business's 00:00-03:00 UTC (02:00 CEST .. 04:00 CET) all fits.
    autumn = utc(2030, 10, 27, 0, 0)
    found = free_slots(business, busy=[], after=autumn, now=autumn, limit=10, within=lead)
    on_the_day = [s for s in found if s.start.astimezone(UTC).date() == autumn.date()]
    assert [f"{s.start.astimezone(MADRID):%H:%M %Z}" for s in on_the_day] == [
        "02:00 CEST", "02:30 CEST", "02:00 CET", "02:30 CET", "03:00 CET", "03:30 CET"]


def test_busy_overlap_leaves_nothing_rather_than_the_night(make_settings: Any) -> None:
    # Los Angeles: only 16:00-17:00 UTC fits; with that hour busy every day of the horizon the
    # search finds nothing, although business hours are free all night long for the lead.
    rules, (start, end) = utc_business(make_settings)
    lead = DayWindow(timezone="America/Los_Angeles", start=start, end=end)
    busy = [(utc(2030, 1, d, 16, 0), utc(2030, 1, d, 17, 0)) for d in range(1, 32)]
    assert free_slots(rules, busy=busy, after=MONDAY, now=MONDAY, limit=3, within=lead) == []
    assert len(free_slots(rules, busy=busy, after=MONDAY, now=MONDAY, limit=3)) == 3
