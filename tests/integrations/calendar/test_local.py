"""The local calendar on a real Postgres: no double booking, idempotent keys, invitations."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from icalendar import Calendar as ICalendar

from core.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations
from domain.booking import Attendee, Booking, DayWindow, Slot
from domain.texts import text
from integrations.calendar.base import CalendarError, CalendarUnavailable, SlotTaken
from integrations.calendar.local import Invitation, LocalCalendar
from integrations.calendar.slots import SlotRules
from tests.utils.lead_hours import outside_lead_hours

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=MADRID)  # a Monday
RULES = SlotRules(timezone="Europe/Madrid", day_start=time(9), day_end=time(17),
                  days=frozenset(range(5)), meeting=timedelta(minutes=30),
                  buffer=timedelta(minutes=15), min_notice=timedelta(minutes=60))
ANA = Attendee(name="Ana", email="ana@example.com", phone="+34612345678")
LUIS = Attendee(name="Luis", email=None, phone="+34699999999")


async def migrate(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """All migrations; only this one when another file is mid-edit by its owner."""
    async with pool.acquire() as conn:
        try:
            await apply_migrations(conn)
        except MigrationError:
            mine = tmp_path / "migrations"
            mine.mkdir()
            for name in ("0002_calendar.sql", "0004_calendar_attendee_language.sql"):
                shutil.copy(MIGRATIONS_DIR / name, mine)
            await apply_migrations(conn, mine)


@pytest.fixture
async def invitations() -> list[Invitation]:
    return []


@pytest.fixture
async def make_calendar(
    pool: asyncpg.Pool, tmp_path: Path, invitations: list[Invitation]
) -> Callable[..., LocalCalendar]:
    await migrate(pool, tmp_path)

    async def collect(invitation: Invitation) -> None:
        invitations.append(invitation)

    def make(**overrides: object) -> LocalCalendar:
        values: dict[str, object] = {"rules": RULES, "organizer_email": "sales@example.com",
                                     "on_invitation": collect, "clock": lambda: NOW}
        values.update(overrides)
        return LocalCalendar(pool, **values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def calendar(make_calendar: Callable[..., LocalCalendar]) -> LocalCalendar:
    return make_calendar()


async def book(calendar: LocalCalendar, slot: Slot, key: str, who: Attendee = ANA) -> Booking:
    return await calendar.book(slot, attendee=who, key=key, title="Call with Acme",
                               description="Qualified lead")


async def test_free_slots_and_booking(calendar: LocalCalendar) -> None:
    offered = await calendar.free_slots(after=NOW)
    assert [s.start for s in offered] == [datetime(2030, 1, 7, h, m, tzinfo=MADRID)
                                         for h, m in ((9, 0), (9, 30), (10, 0))]
    booking = await book(calendar, offered[0], "thread-1:1")
    assert booking.start == offered[0].start and booking.end == offered[0].end
    assert booking.calendar == "local" and booking.status == "confirmed"
    # The booked slot and the one inside its buffer are no longer offered.
    again = await calendar.free_slots(after=NOW)
    assert [s.start for s in again] == [datetime(2030, 1, 7, h, m, tzinfo=MADRID)
                                       for h, m in ((10, 0), (10, 30), (11, 0))]


@pytest.mark.parametrize(("zone", "first"), [
    ("America/Los_Angeles", "Mon 7 08:00"),   # 16:00 UTC: business 01:00-09:00 there
    ("Europe/Madrid", "Mon 7 10:00"),         # 09:00 UTC: the first business slot
    ("Asia/Tokyo", "Mon 7 18:00"),            # 09:00 UTC: business 18:00-02:00 there
])
async def test_slots_lie_in_the_leads_hours_with_a_utc_business(
    make_calendar: Callable[..., LocalCalendar], make_settings: Any, zone: str, first: str
) -> None:
    settings = make_settings()  # TIMEZONE=UTC, 09:00-17:00, LEAD_HOURS=08:00-20:00
    calendar = make_calendar(rules=SlotRules.from_settings(settings))
    start, end = settings.lead_hours
    lead = DayWindow(timezone=zone, start=start, end=end)
    offered = await calendar.free_slots(after=NOW, limit=100, within=lead)
    assert offered and outside_lead_hours(offered, zone) == []
    assert f"{offered[0].start.astimezone(ZoneInfo(zone)):%a %-d %H:%M}" == first
    # Another lead's booking in the lead's hours is skipped, not traded for a night slot.
    await book(calendar, offered[0], "another-lead", who=LUIS)
    again = await calendar.free_slots(after=NOW, limit=100, within=lead)
    assert offered[0] not in again and again and outside_lead_hours(again, zone) == []


async def test_two_concurrent_bookings_of_one_slot_give_one_booking(
    calendar: LocalCalendar, pool: asyncpg.Pool
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    results = await asyncio.gather(book(calendar, slot, "lead-a"), book(calendar, slot, "lead-b"),
                                   return_exceptions=True)
    assert sum(isinstance(r, Booking) for r in results) == 1
    assert sum(isinstance(r, SlotTaken) for r in results) == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM calendar_bookings") == 1


async def test_booking_inside_the_buffer_is_refused_by_the_database(
    calendar: LocalCalendar,
) -> None:
    first = Slot(start=datetime(2030, 1, 7, 9, 0, tzinfo=MADRID),
                 end=datetime(2030, 1, 7, 9, 30, tzinfo=MADRID))
    await book(calendar, first, "a")
    right_after = Slot(start=first.end, end=first.end + timedelta(minutes=30))
    with pytest.raises(SlotTaken):
        await book(calendar, right_after, "b")
    right_before = Slot(start=first.start - timedelta(minutes=30), end=first.start)
    with pytest.raises(SlotTaken):
        await book(calendar, right_before, "c")
    later = Slot(start=first.end + timedelta(minutes=15), end=first.end + timedelta(minutes=45))
    assert (await book(calendar, later, "d")).start == later.start


async def test_same_key_twice_gives_the_same_booking(
    calendar: LocalCalendar, invitations: list[Invitation]
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    first = await book(calendar, slot, "thread-1:1")
    second = await book(calendar, slot, "thread-1:1")
    concurrent = await asyncio.gather(*(book(calendar, slot, "thread-1:1") for _ in range(3)))
    assert {first, second, *concurrent} == {first}
    assert len(invitations) == 1  # replays do not send the invitation again


async def test_invitation_is_an_ics_attachment(
    calendar: LocalCalendar, invitations: list[Invitation]
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    booking = await book(calendar, slot, "k")
    (invitation,) = invitations
    assert invitation.to == "ana@example.com" and invitation.booking == booking
    filename, mime, content = invitation.attachment
    assert filename.endswith(".ics") and mime.startswith("text/calendar; method=REQUEST")
    ical = ICalendar.from_ical(content)
    (event,) = ical.walk("VEVENT")
    assert ical["METHOD"] == "REQUEST"
    assert str(event["UID"]) == booking.id
    assert event.decoded("DTSTART") == slot.start.astimezone(UTC)
    assert str(event["ATTENDEE"]) == "mailto:ana@example.com"
    await book(calendar, (await calendar.free_slots(after=NOW))[0], "k2", who=LUIS)
    assert len(invitations) == 1  # no email known: nothing to send


async def test_invitation_emails_speak_the_leads_language(
    calendar: LocalCalendar, invitations: list[Invitation]
) -> None:
    """Written in the attendee's language, kept with the booking: a move or a cancellation,
    which know only the booking's id, speak it too."""
    first, second = (await calendar.free_slots(after=NOW))[:2]
    booking = await book(calendar, first, "fr", who=dataclasses.replace(ANA, language="fr"))
    await calendar.reschedule(booking.id, second)
    await calendar.cancel(booking.id)
    await book(calendar, first, "unknown")  # no language: the catalogue's default
    new, moved, cancelled, english = invitations
    body = text("invitation.body", "fr", subject="Call with Acme", file="invite.ics")
    assert (new.subject, new.body) == ("Call with Acme", body) == (moved.subject, moved.body)
    assert body.startswith("Call with Acme\n\nL'invitation est en pièce jointe (invite.ics)")
    assert cancelled.subject == "Annulé : Call with Acme"
    assert cancelled.body == text(
        "invitation.cancelled_body", "fr", subject="Annulé : Call with Acme", file="invite.ics"
    )
    assert english.body == text("invitation.body", "en", subject="Call with Acme",
                                file="invite.ics")


async def test_failing_invitation_hook_does_not_undo_the_booking(
    make_calendar: Callable[..., LocalCalendar],
) -> None:
    async def broken(invitation: Invitation) -> None:
        raise RuntimeError("mail outbox down")

    calendar = make_calendar(on_invitation=broken)
    slot = (await calendar.free_slots(after=NOW))[0]
    booking = await book(calendar, slot, "k")
    assert booking.status == "confirmed"
    assert slot not in await calendar.free_slots(after=NOW)


async def test_reschedule(calendar: LocalCalendar, invitations: list[Invitation]) -> None:
    offered = await calendar.free_slots(after=NOW, limit=5)
    booking = await book(calendar, offered[0], "a")
    other = await book(calendar, offered[4], "b")
    # Moving by 15 minutes overlaps the booking's own time: allowed.
    shifted = Slot(start=offered[0].start + timedelta(minutes=15),
                   end=offered[0].end + timedelta(minutes=15))
    moved = await calendar.reschedule(booking.id, shifted)
    assert (moved.id, moved.start, moved.end) == (booking.id, shifted.start, shifted.end)
    with pytest.raises(SlotTaken):
        await calendar.reschedule(booking.id, offered[4])
    assert (await calendar.reschedule(booking.id, offered[2])).start == offered[2].start
    sequences = [ICalendar.from_ical(i.attachment[2]).walk("VEVENT")[0]["SEQUENCE"]
                 for i in invitations]
    assert sequences == [0, 0, 1, 2]  # a, b, then two updates of a
    assert other.status == "confirmed"


async def test_cancel_frees_the_slot_and_rebooking_the_key_revives(
    calendar: LocalCalendar, invitations: list[Invitation]
) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    booking = await book(calendar, slot, "a")
    await calendar.cancel(booking.id)
    await calendar.cancel(booking.id)  # cancelling twice is fine
    assert invitations[-1].attachment[1].startswith("text/calendar; method=CANCEL")
    assert len(invitations) == 2
    assert (await calendar.free_slots(after=NOW))[0] == slot
    with pytest.raises(CalendarError, match="cancelled"):
        await calendar.reschedule(booking.id, slot)
    revived = await book(calendar, slot, "a")
    assert (revived.id, revived.status) == (booking.id, "confirmed")


async def test_unknown_booking_ids(calendar: LocalCalendar) -> None:
    slot = (await calendar.free_slots(after=NOW))[0]
    for booking_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(CalendarError, match="no booking"):
            await calendar.cancel(booking_id)
        with pytest.raises(CalendarError, match="no booking"):
            await calendar.reschedule(booking_id, slot)


async def test_database_errors_are_mapped(pool: asyncpg.Pool) -> None:
    calendar = LocalCalendar(pool, rules=RULES, organizer_email="x@example.com")
    with pytest.raises(CalendarError, match="migrations") as caught:
        await calendar.free_slots(after=NOW)  # table missing: migrations not applied
    assert not isinstance(caught.value, CalendarUnavailable)
    assert isinstance(caught.value.__cause__, asyncpg.UndefinedTableError)


async def test_erasing_an_attendee_deletes_their_bookings_and_frees_the_slot(
    calendar: LocalCalendar, pool: asyncpg.Pool
) -> None:
    offered = await calendar.free_slots(after=NOW, limit=5)
    cancelled = await book(calendar, offered[0], "ana:old")
    await calendar.cancel(cancelled.id)
    await book(calendar, offered[2], "ana:now")
    await book(calendar, offered[4], "luis", who=LUIS)
    assert await calendar.erase_attendee(ANA.phone) == {"ana@example.com"}
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT attendee_phone FROM calendar_bookings")
    assert [r["attendee_phone"] for r in rows] == [LUIS.phone]
    assert offered[2] in await calendar.free_slots(after=NOW, limit=5)
    assert await calendar.erase_attendee(ANA.phone) == set()
