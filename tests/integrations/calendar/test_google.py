"""Google Calendar: the real google-api-python-client against a local Calendar v3 stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httplib2
import pytest
from googleapiclient.errors import HttpError

from core.connections import open_pool
from domain.booking import Attendee, Booking, DayWindow, Slot
from integrations.calendar.base import CalendarError, CalendarUnavailable, SlotTaken
from integrations.calendar.google import (
    GoogleCalendar,
    api_base_url,
    booking_from_event,
    busy_from_freebusy,
    event_id_for_key,
    is_retryable,
    load_credentials,
    to_calendar_error,
)
from integrations.calendar.lock import BookingLock
from integrations.calendar.slots import SlotRules
from tests.utils.fake_google_calendar import FakeGoogleCalendar
from tests.utils.lead_hours import outside_lead_hours
from tests.utils.servers import ThreadedServer

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=MADRID)  # a Monday
CALENDAR_ID = "sales@example.com"
RULES = SlotRules(timezone="Europe/Madrid", day_start=time(9), day_end=time(17),
                  days=frozenset(range(5)), meeting=timedelta(minutes=30),
                  buffer=timedelta(minutes=15), min_notice=timedelta(minutes=60))
ANA = Attendee(name="Ana", email="ana@example.com", phone="+34612345678")
ATTEMPTS = 4


def at(hour: int, minute: int = 0, day: int = 7) -> datetime:
    return datetime(2030, 1, day, hour, minute, tzinfo=MADRID)


# --- pure helpers --------------------------------------------------------------------------


def test_api_base_url_replaces_the_discovery_root() -> None:
    assert api_base_url("https://www.googleapis.com/") == "https://www.googleapis.com/calendar/v3/"
    assert api_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/calendar/v3/"


def test_event_id_for_key_is_a_valid_stable_google_id() -> None:
    first = event_id_for_key("whatsapp:+34612345678:2030-01-07T09:00")
    assert first == event_id_for_key("whatsapp:+34612345678:2030-01-07T09:00")
    assert first != event_id_for_key("whatsapp:+34612345678:2030-01-07T09:30")
    assert 5 <= len(first) <= 1024 and set(first) <= set("0123456789abcdefghijklmnopqrstuv")
    with pytest.raises(ValueError):
        event_id_for_key("")


def http_error(status: int, reason: str | None = None) -> HttpError:
    body: dict[str, Any] = {"error": {"code": status, "message": reason or "error"}}
    if reason:
        body["error"]["errors"] = [{"domain": "global", "reason": reason, "message": reason}]
    return HttpError(httplib2.Response({"status": status}), json.dumps(body).encode())


@pytest.mark.parametrize(
    ("status", "reason", "retryable", "mapped"),
    [
        (500, "backendError", True, CalendarUnavailable),
        (503, None, True, CalendarUnavailable),
        (429, "rateLimitExceeded", True, CalendarUnavailable),
        (403, "rateLimitExceeded", True, CalendarUnavailable),
        (403, "userRateLimitExceeded", True, CalendarUnavailable),
        (403, "quotaExceeded", False, CalendarUnavailable),
        (403, "forbidden", False, CalendarError),
        (403, "forbiddenForServiceAccounts", False, CalendarError),
        (401, "authError", False, CalendarError),
        (404, "notFound", False, CalendarError),
        (400, "timeRangeEmpty", False, CalendarError),
    ],
)
def test_error_mapping(status: int, reason: str | None, retryable: bool, mapped: type) -> None:
    error = http_error(status, reason)
    assert is_retryable(error) is retryable
    assert type(to_calendar_error(error)) is mapped


def test_error_messages_say_what_to_fix() -> None:
    assert "GOOGLE_DELEGATED_USER" in str(to_calendar_error(
        http_error(403, "forbiddenForServiceAccounts")))
    assert "share GOOGLE_CALENDAR_ID" in str(to_calendar_error(http_error(403, "forbidden")))
    assert is_retryable(ConnectionRefusedError()) and is_retryable(TimeoutError())
    assert isinstance(to_calendar_error(ConnectionRefusedError()), CalendarUnavailable)
    assert type(to_calendar_error(KeyError("x"))) is CalendarError


def test_freebusy_parsing_refuses_calendars_with_errors() -> None:
    response = {"calendars": {
        "a": {"busy": [{"start": "2030-01-07T09:00:00Z", "end": "2030-01-07T10:00:00Z"},
                       {"start": "2030-01-07T09:30:00+01:00", "end": "2030-01-07T11:00:00+01:00"}]},
        "b": {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []},
    }}
    assert busy_from_freebusy(response, ["a"]) == [
        (datetime(2030, 1, 7, 8, 30, tzinfo=UTC), datetime(2030, 1, 7, 10, tzinfo=UTC))]
    with pytest.raises(CalendarError, match="notFound"):
        busy_from_freebusy(response, ["a", "b"])
    with pytest.raises(CalendarError, match="missing"):
        busy_from_freebusy(response, ["c"])


def test_booking_from_event() -> None:
    event = {"id": "abcde", "status": "confirmed", "htmlLink": "https://calendar/e",
             "start": {"dateTime": "2030-01-07T09:00:00+01:00", "timeZone": "Europe/Madrid"},
             "end": {"dateTime": "2030-01-07T09:30:00+01:00"}}
    booking = booking_from_event(event)
    assert booking == Booking(id="abcde", start=at(9), end=at(9, 30), calendar="google",
                              link="https://calendar/e")
    assert booking_from_event(dict(event, hangoutLink="https://meet/x")).link == "https://meet/x"
    assert booking_from_event(dict(event, status="cancelled")).status == "cancelled"
    with pytest.raises(CalendarError, match="date-time"):
        booking_from_event(dict(event, start={"date": "2030-01-07"}))


# --- against the fake server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeGoogleCalendar, str]]:
    server = FakeGoogleCalendar()
    with ThreadedServer(server.app) as running:
        yield server, running.url


@pytest.fixture
def google(fake: tuple[FakeGoogleCalendar, str]) -> FakeGoogleCalendar:
    server, _ = fake
    server.reset()
    return server


@pytest.fixture
def key_file(fake: tuple[FakeGoogleCalendar, str], tmp_path: Path) -> Path:
    server, url = fake
    return server.service_account_file(tmp_path, url)


@pytest.fixture
def make_calendar(
    fake: tuple[FakeGoogleCalendar, str], google: FakeGoogleCalendar, key_file: Path
) -> Callable[..., GoogleCalendar]:
    _, url = fake

    def make(*, subject: str | None = None, **overrides: Any) -> GoogleCalendar:
        values: dict[str, Any] = {
            "credentials": load_credentials(key_file, subject=subject),
            "calendar_id": CALENDAR_ID, "rules": RULES, "api_endpoint": url + "/",
            "attempts": ATTEMPTS, "backoff_seconds": 0.0, "clock": lambda: NOW,
            **overrides,
        }
        return GoogleCalendar(**values)

    return make


@pytest.fixture
def calendar(make_calendar: Callable[..., GoogleCalendar]) -> GoogleCalendar:
    return make_calendar()


async def book(calendar: GoogleCalendar, slot: Slot, key: str = "thread-1:1") -> Booking:
    return await calendar.book(slot, attendee=ANA, key=key, title="Call with Acme",
                               description="Qualified: budget 10k, Q1")


async def test_free_slots_read_busy_time_of_every_calendar(
    make_calendar: Callable[..., GoogleCalendar], google: FakeGoogleCalendar
) -> None:
    calendar = make_calendar(busy_calendar_ids=["rep@example.com"])
    google.add_busy(CALENDAR_ID, at(9), at(9, 30))
    google.add_busy("rep@example.com", at(10, 15), at(11))
    offered = await calendar.free_slots(after=NOW)
    assert [s.start for s in offered] == [at(11, 15 + 15), at(12), at(12, 30)]
    (request,) = google.requests_of("POST", "/freeBusy")
    assert request.path == "/calendar/v3/freeBusy"
    assert [item["id"] for item in request.body["items"]] == [CALENDAR_ID, "rep@example.com"]
    (claims,) = google.token_claims  # the service-account JWT grant, signed with the key
    assert claims["iss"] == "sales-agent@test-project.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/calendar"
    assert "sub" not in claims


@pytest.mark.parametrize(("zone", "first"), [
    ("America/Los_Angeles", "Mon 7 08:00"),   # 16:00 UTC: business 01:00-09:00 there
    ("Europe/Madrid", "Mon 7 10:00"),         # 09:00 UTC: the first business slot
    ("Asia/Tokyo", "Mon 7 18:00"),            # 09:00 UTC: business 18:00-02:00 there
])
async def test_slots_lie_in_the_leads_hours_with_a_utc_business(
    make_calendar: Callable[..., GoogleCalendar], google: FakeGoogleCalendar, make_settings: Any,
    zone: str, first: str,
) -> None:
    settings = make_settings()  # TIMEZONE=UTC, 09:00-17:00, LEAD_HOURS=08:00-20:00
    calendar = make_calendar(rules=SlotRules.from_settings(settings))
    start, end = settings.lead_hours
    lead = DayWindow(timezone=zone, start=start, end=end)
    offered = await calendar.free_slots(after=NOW, limit=100, within=lead)
    assert offered and outside_lead_hours(offered, zone) == []
    assert f"{offered[0].start.astimezone(ZoneInfo(zone)):%a %-d %H:%M}" == first
    # Busy time in the lead's hours is skipped, not traded for a night slot.
    google.add_busy(CALENDAR_ID, offered[0].start, offered[0].end)
    again = await calendar.free_slots(after=NOW, limit=100, within=lead)
    assert offered[0] not in again and again and outside_lead_hours(again, zone) == []


async def test_delegated_user_is_the_token_subject(
    make_calendar: Callable[..., GoogleCalendar], google: FakeGoogleCalendar
) -> None:
    await make_calendar(subject="boss@example.com").free_slots(after=NOW)
    assert google.token_claims[0]["sub"] == "boss@example.com"


async def test_booking_invites_the_lead_with_a_meet_link(
    make_calendar: Callable[..., GoogleCalendar], google: FakeGoogleCalendar
) -> None:
    calendar = make_calendar(meet_links=True)
    slot = (await calendar.free_slots(after=NOW))[0]
    booking = await book(calendar, slot)
    assert booking.id == event_id_for_key("thread-1:1")
    assert (booking.start, booking.end, booking.calendar) == (slot.start, slot.end, "google")
    assert booking.link is not None and booking.link.startswith("https://meet.google.com/")
    (insert,) = google.requests_of("POST", f"/calendars/{CALENDAR_ID}/events")
    assert insert.query["sendUpdates"] == "all" and insert.query["conferenceDataVersion"] == "1"
    assert insert.body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {
        "type": "hangoutsMeet"}
    (event,) = google.events(CALENDAR_ID)
    assert event["attendees"][0]["email"] == "ana@example.com"
    assert event["summary"] == "Call with Acme"
    assert "WhatsApp: +34612345678" in event["description"]
    assert event["start"] == {"dateTime": "2030-01-07T08:00:00Z", "timeZone": "Europe/Madrid"}
    assert slot not in await calendar.free_slots(after=NOW)


async def test_retried_booking_makes_one_event(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    first = await book(calendar, slot)
    second = await book(calendar, slot)
    assert first == second
    assert len(google.events(CALENDAR_ID)) == 1
    assert len(google.requests_of("POST", "/events")) == 1  # the retry found the event


async def test_lost_insert_response_is_retried_into_one_event(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    google.fail_after_insert()  # stored, but the client sees a 503
    booking = await book(calendar, slot)
    assert booking.start == slot.start
    assert len(google.events(CALENDAR_ID)) == 1
    assert len(google.requests_of("POST", "/events")) == 2  # the second got 409 "duplicate"


async def test_two_processes_booking_one_slot_give_one_booking(
    make_calendar: Callable[..., GoogleCalendar], google: FakeGoogleCalendar,
    pool: asyncpg.Pool, database_url: str, db_settings: dict[str, str],
) -> None:
    """Issue #15 item 9: free/busy then insert is not atomic in Google. Two processes (each its
    own client and Postgres pool) book one slot for two leads at once, their free/busy checks
    overlapping: the calendar's advisory lock lets exactly one through."""
    other_pool = await open_pool(database_url, server_settings=db_settings)
    try:
        first = make_calendar(lock=BookingLock(pool, CALENDAR_ID))
        second = make_calendar(lock=BookingLock(other_pool, CALENDAR_ID))
        slot = (await first.free_slots(after=NOW))[0]
        google.slow_freebusy(0.3)  # both checks read the calendar before either insert
        results = await asyncio.gather(
            book(first, slot, key="lead-a:1"), book(second, slot, key="lead-b:1"),
            return_exceptions=True,
        )
    finally:
        await other_pool.close()
    assert sorted(type(r).__name__ for r in results) == ["Booking", "SlotTaken"]
    assert [e["status"] for e in google.events(CALENDAR_ID)] == ["confirmed"]


async def test_erasing_an_attendee_scrubs_and_deletes_every_event_of_theirs(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    offered = await calendar.free_slots(after=NOW, limit=5)
    luis = Attendee(name="Luis", email="luis@example.com", phone="+34699999999")
    kept = await calendar.book(offered[4], attendee=luis, key="luis:1", title="Call with Luis",
                               description="")
    old = await book(calendar, offered[0], key="ana:old")
    await calendar.cancel(old.id)  # Google keeps cancelled events, with their data
    current = await book(calendar, offered[2], key="ana:now")
    before = len(google.requests)

    assert await calendar.erase_attendee(ANA.phone) == {"ana@example.com"}
    events = {event["id"]: event for event in google.events(CALENDAR_ID)}
    for erased in (old.id, current.id):
        event = json.dumps(events[erased])
        assert events[erased]["status"] == "cancelled"
        for trace in ("Ana", "ana@example.com", ANA.phone, "Acme", "Qualified"):
            assert trace not in event, trace
    assert events[kept.id]["status"] == "confirmed"
    assert events[kept.id]["attendees"][0]["email"] == "luis@example.com"
    writes = [r for r in google.requests[before:] if r.method in ("PUT", "DELETE")]
    assert len(writes) == 3  # two scrubbed, the one still standing deleted
    assert {r.query["sendUpdates"] for r in writes} == {"none"}  # nobody is notified
    assert offered[2] in await calendar.free_slots(after=NOW, limit=5)  # the slot is free


async def test_slot_taken_between_offer_and_booking(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    offered = await calendar.free_slots(after=NOW)
    google.add_busy(CALENDAR_ID, offered[0].start + timedelta(minutes=10),
                    offered[0].end + timedelta(minutes=10))
    with pytest.raises(SlotTaken):
        await book(calendar, offered[0])
    assert google.requests_of("POST", "/events") == []
    assert google.events(CALENDAR_ID) == []
    fresh = await calendar.free_slots(after=NOW)
    assert offered[0] not in fresh


async def test_reschedule_moves_the_event(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    offered = await calendar.free_slots(after=NOW, limit=5)
    booking = await book(calendar, offered[0])
    # 15 minutes later overlaps the event's own time, which does not count as busy.
    shifted = Slot(start=offered[0].start + timedelta(minutes=15),
                   end=offered[0].end + timedelta(minutes=15))
    moved = await calendar.reschedule(booking.id, shifted)
    assert (moved.id, moved.start, moved.end) == (booking.id, shifted.start, shifted.end)
    (patch,) = google.requests_of("PATCH")
    assert patch.query["sendUpdates"] == "all"
    assert set(patch.body) == {"start", "end"}
    (event,) = google.events(CALENDAR_ID)
    assert event["start"]["dateTime"] == "2030-01-07T08:15:00Z" and event["sequence"] == 1
    assert await calendar.reschedule(booking.id, shifted) == moved  # no-op, no second patch
    assert len(google.requests_of("PATCH")) == 1


async def test_reschedule_to_a_busy_slot_leaves_the_event(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    offered = await calendar.free_slots(after=NOW, limit=5)
    booking = await book(calendar, offered[0])
    google.add_busy(CALENDAR_ID, offered[4].start, offered[4].end)
    with pytest.raises(SlotTaken):
        await calendar.reschedule(booking.id, offered[4])
    assert google.requests_of("PATCH") == []
    with pytest.raises(CalendarError, match="no event"):
        await calendar.reschedule(event_id_for_key("unknown"), offered[2])


async def test_cancel_tells_the_attendee_and_frees_the_slot(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    booking = await book(calendar, slot)
    await calendar.cancel(booking.id)
    await calendar.cancel(booking.id)  # Google answers 410 "deleted": already done
    deletes = google.requests_of("DELETE")
    assert len(deletes) == 2 and deletes[0].query["sendUpdates"] == "all"
    assert google.events(CALENDAR_ID)[0]["status"] == "cancelled"
    assert (await calendar.free_slots(after=NOW))[0] == slot
    with pytest.raises(CalendarError, match="cancelled"):
        await calendar.reschedule(booking.id, slot)
    # Booking the same key again revives the event Google kept, instead of a 409 dead end.
    revived = await book(calendar, slot)
    assert (revived.id, revived.status) == (booking.id, "confirmed")
    assert len(google.events(CALENDAR_ID)) == 1
    with pytest.raises(CalendarError, match="no such"):
        await calendar.cancel(event_id_for_key("unknown"))


@pytest.mark.parametrize(("status", "reason"), [(500, "backendError"), (503, "backendError"),
                                                (429, "rateLimitExceeded")])
async def test_server_errors_are_retried_then_succeed(
    calendar: GoogleCalendar, google: FakeGoogleCalendar, status: int, reason: str
) -> None:
    google.fail(status, reason, times=2, operation="freebusy")
    assert len(await calendar.free_slots(after=NOW)) == 3
    assert len(google.requests_of("POST", "/freeBusy")) == 3


async def test_server_errors_that_persist_make_the_calendar_unavailable(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    google.fail(503, "backendError", times=100)
    with pytest.raises(CalendarUnavailable) as caught:
        await calendar.free_slots(after=NOW)
    assert isinstance(caught.value.__cause__, HttpError)
    assert len(google.requests_of("POST", "/freeBusy")) == ATTEMPTS


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
async def test_quota_403_is_retried(
    calendar: GoogleCalendar, google: FakeGoogleCalendar, reason: str
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    google.fail(403, reason, times=1, operation="insert")
    booking = await book(calendar, slot)
    assert booking.start == slot.start
    assert len(google.requests_of("POST", "/events")) == 2
    assert len(google.events(CALENDAR_ID)) == 1


async def test_forbidden_403_is_not_retried(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    google.fail(403, "forbidden", times=100, operation="insert")
    with pytest.raises(CalendarError) as caught:
        await book(calendar, slot)
    assert not isinstance(caught.value, CalendarUnavailable)
    assert "share GOOGLE_CALENDAR_ID" in str(caught.value)
    assert len(google.requests_of("POST", "/events")) == 1


async def test_service_account_without_delegation_cannot_invite(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    google.fail(403, "forbiddenForServiceAccounts", operation="insert")
    with pytest.raises(CalendarError, match="GOOGLE_DELEGATED_USER"):
        await book(calendar, slot)


async def test_rejected_credentials_are_not_retried(
    calendar: GoogleCalendar, google: FakeGoogleCalendar
) -> None:
    google.fail(401, "authError", times=100)
    with pytest.raises(CalendarError, match="credentials") as caught:
        await calendar.free_slots(after=NOW)
    assert not isinstance(caught.value, CalendarUnavailable)
    # google-auth refreshes the token and repeats a 401 itself (twice at most); we add nothing.
    assert len(google.requests_of("POST", "/freeBusy")) <= 3


def test_unreadable_key_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="GOOGLE_SERVICE_ACCOUNT_FILE"):
        load_credentials(tmp_path / "missing.json")
