"""Issue #7 end to end through the graph: a scripted conversation books a call with each calendar
(the local one on this test's Postgres schema, Google through the real client against the
Calendar v3 stand-in), then moves it while the conversation is in the human mode of the `booked`
handoff, and a slot taken between offer and confirmation gives fresh options, never a false
confirmation. The engine is the real `ConversationEngine`, the model the scripted LLM behind the
real langchain-openai client.

Issue #13 at the end: with a business on UTC, leads in Los Angeles, Madrid and Tokyo are offered
only times between 08:00 and 20:00 of their own day, by the model and by the fallback policy; a
lead whose hours never meet the business's is asked for a time that suits them instead."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import redis.asyncio as aioredis
from langchain_core.messages import HumanMessage

from agents.fallback.policy import format_slot
from agents.scheduling.tools import no_fit
from core.migrate import apply_migrations
from domain.booking import Attendee, DayWindow, Slot
from domain.contact import ContactInfo, ContactMode
from domain.texts import text as fixed_text
from graph.checkpoint import AsyncRedisSaver
from graph.engine import ConversationEngine, TurnResult
from integrations.calendar.base import Calendar
from integrations.calendar.google import GoogleCalendar, booking_from_event, load_credentials
from integrations.calendar.local import LocalCalendar
from integrations.calendar.slots import SlotRules
from integrations.leads import LeadStore
from tests.graph.fakes import NOW, RecordingSink, agent_json, saver, system_text, tool_call
from tests.utils.fake_google_calendar import FakeGoogleCalendar
from tests.utils.lead_hours import LEADS, outside_lead_hours
from tests.utils.servers import ThreadedServer

# A New York number: the lead's times are shown in New York time, the business is in Madrid.
CONTACT = ContactInfo(channel="meta", contact="+12125550100", profile_name="Ana B")
THREAD = "meta:+12125550100"
LEAD_ZONE = "America/New_York"
NEW_YORK = ZoneInfo(LEAD_ZONE)
CALENDAR_ID = "sales@example.com"
OTHER = Attendee(name="Luis", email=None, phone="+34699999999")
BUSINESS = {
    "TIMEZONE": "Europe/Madrid", "MEETING_MINUTES": 30, "MEETING_BUFFER_MINUTES": 15,
    "MIN_NOTICE_MINUTES": 60,
}
UTC_BUSINESS: dict[str, Any] = {"TIMEZONE": "UTC"}
"""The defaults (09:00-17:00 UTC, Monday to Friday, LEAD_HOURS=08:00-20:00), said out loud."""
QUALIFIED = agent_json(
    "Thanks Ana! Shall we book a call?", name="Ana", company="Acme", need="a CRM",
    budget="5k USD", budget_amount=5000, budget_currency="USD", authority="I decide",
    authority_decides=True, timeline="next month",
)


def say(text: str, message_id: str) -> list[HumanMessage]:
    return [HumanMessage(text, id=message_id)]


@dataclass
class Setup:
    """A calendar under test and how to make one of its slots busy behind the bot's back."""

    name: str
    calendar: Calendar
    take: Callable[[Slot], Awaitable[None]]
    events: Callable[[], Awaitable[list[tuple[str, Slot, str]]]]
    """(id, time, status) of every event in the calendar."""


# --- The two calendars -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google_server() -> Iterator[tuple[FakeGoogleCalendar, str]]:
    server = FakeGoogleCalendar()
    with ThreadedServer(server.app) as running:
        yield server, running.url


async def _migrated(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn)


@pytest.fixture(params=["local", "google"])
async def setup(
    request: pytest.FixtureRequest,
    pool: asyncpg.Pool,
    make_settings: Any,
    google_server: tuple[FakeGoogleCalendar, str],
    tmp_path: Path,
) -> Setup:
    rules = SlotRules.from_settings(make_settings(**BUSINESS))
    return await make_setup(request.param, rules, pool, google_server, tmp_path)


@pytest.fixture(params=["local", "google"])
async def utc_setup(
    request: pytest.FixtureRequest,
    pool: asyncpg.Pool,
    make_settings: Any,
    google_server: tuple[FakeGoogleCalendar, str],
    tmp_path: Path,
) -> Setup:
    """A calendar of a business on the defaults: TIMEZONE=UTC, 09:00-17:00 Monday to Friday."""
    rules = SlotRules.from_settings(make_settings(**UTC_BUSINESS))
    return await make_setup(request.param, rules, pool, google_server, tmp_path)


async def make_setup(
    kind: str,
    rules: SlotRules,
    pool: asyncpg.Pool,
    google_server: tuple[FakeGoogleCalendar, str],
    tmp_path: Path,
) -> Setup:
    if kind == "local":
        await _migrated(pool)
        local = LocalCalendar(
            pool, rules=rules, organizer_email="sales@example.com", clock=lambda: NOW
        )

        async def take_local(slot: Slot) -> None:
            await local.book(slot, attendee=OTHER, key="another-lead", title="Call", description="")

        async def local_events() -> list[tuple[str, Slot, str]]:
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT id::text AS id, lower(during) AS s, upper(during) AS e, status "
                    "FROM calendar_bookings ORDER BY lower(during)"
                )
            return [(r["id"], Slot(start=r["s"], end=r["e"]), r["status"]) for r in rows]

        return Setup("local", local, take_local, local_events)

    server, url = google_server
    server.reset()
    google = GoogleCalendar(
        credentials=load_credentials(server.service_account_file(tmp_path, url)),
        calendar_id=CALENDAR_ID, rules=rules, api_endpoint=url + "/", attempts=2,
        backoff_seconds=0.0, clock=lambda: NOW,
    )

    async def take_google(slot: Slot) -> None:
        server.add_busy(CALENDAR_ID, slot.start, slot.end)

    async def google_events() -> list[tuple[str, Slot, str]]:
        bookings = [booking_from_event(e) for e in server.events(CALENDAR_ID)]
        return [(b.id, Slot(start=b.start, end=b.end), b.status) for b in bookings]

    return Setup("google", google, take_google, google_events)


@pytest.fixture(params=["memory", "redis"])
def checkpointer(request: pytest.FixtureRequest, redis: aioredis.Redis) -> Any:
    if request.param == "redis":
        return AsyncRedisSaver(redis, ttl_seconds=3600)
    return saver()


def engine_for(
    llm: Any, make_settings: Any, *, calendar: Calendar, sink: Any, checkpointer: Any,
    with_llm: bool = True, business: dict[str, Any] = BUSINESS,
) -> ConversationEngine:
    values: dict[str, Any] = {"LLM_MAX_RETRIES": 0, "LLM_TIMEOUT_SECONDS": 5.0, **business}
    if with_llm:
        values |= {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.base_url}
    return ConversationEngine(
        checkpointer=checkpointer, settings=make_settings(**values), calendar=calendar,
        sink=sink, clock=lambda: NOW,
    )


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[LeadStore]:
    """The real lead store (the graph's sink), its clock a second later at every look."""
    await _migrated(pool)
    ticks = itertools.count(1)

    def clock() -> datetime:
        return NOW + timedelta(seconds=next(ticks))

    yield LeadStore.open(pool, clock=clock)


def tool_names(body: dict[str, Any]) -> list[str]:
    return [tool["function"]["name"] for tool in body.get("tools") or ()]


def last_tool_output(llm: Any) -> str:
    message = llm.chat_requests[-1]["messages"][-1]
    assert message["role"] == "tool"
    return str(message["content"])


async def qualify(engine: ConversationEngine, llm: Any) -> None:
    llm.push(json=QUALIFIED)
    result = await engine.run_turn(
        CONTACT, say("Ana from Acme: a CRM, 5k USD, I decide, next month", "q1")
    )
    assert result.stage == "scheduling"


async def offer(engine: ConversationEngine, llm: Any, text: str, message_id: str) -> list[Slot]:
    """A turn in which the model finds slots and offers them (its reply forgets the zone)."""
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Which one suits you: 1, 2 or 3?"))
    result = await engine.run_turn(CONTACT, say(text, message_id))
    assert result.reply == f"Which one suits you: 1, 2 or 3?\n({LEAD_ZONE})"  # zone named
    listed = last_tool_output(llm)
    offered: list[Slot] = (await engine.state(THREAD))["offered_slots"]
    assert len(offered) == 3 and listed.count(f"({LEAD_ZONE})") == 3
    # In the lead's zone, not the business's, and in the lead's hours: Madrid opens at 10:00 (the
    # notice), 04:00 in New York; the first slot is 14:00 in Madrid, 08:00 in New York.
    assert "1. Mon 7 Jan, 08:00 (America/New_York)" in listed
    assert outside_lead_hours(offered, LEAD_ZONE) == []
    return offered


# --- Book, stay silent, move it ----------------------------------------------------------------


async def test_books_then_moves_the_call_in_the_booked_handoff(
    setup: Setup, checkpointer: Any, llm: Any, make_settings: Any
) -> None:
    sink = RecordingSink()
    engine = engine_for(
        llm, make_settings, calendar=setup.calendar, sink=sink, checkpointer=checkpointer
    )
    await qualify(engine, llm)
    offered = await offer(engine, llm, "Sure, when?", "s1")

    # The lead picks the second; the model asks back before booking.
    llm.push(json=agent_json(f"Shall I book Mon 7 Jan, 08:30 ({LEAD_ZONE})?"))
    result = await engine.run_turn(CONTACT, say("the second", "s2"))
    assert (result.stage, result.handoff) == ("scheduling", None)
    assert await setup.events() == []

    # Confirmed: booked, handoff `booked`, the booking in the state and with the sink.
    llm.push(tool_calls=[tool_call("book_slot", option=2)])
    llm.push(json=agent_json(f"Booked: Mon 7 Jan, 08:30 ({LEAD_ZONE})."))
    result = await engine.run_turn(CONTACT, say("yes", "s3"))
    assert result.stage == "handoff"
    assert result.handoff is not None and result.handoff.reason == "booked"
    assert tool_names(llm.chat_requests[-1]) == ["find_free_slots", "book_slot"]
    state = await engine.state(THREAD)
    booking = state["booking"]
    assert (booking.start, booking.calendar, booking.status) == (offered[1].start, setup.name,
                                                                 "confirmed")
    assert state["handoff"].reason == "booked"
    assert result.handoff.booking == booking and sink.updates[-1].booking == booking
    assert [(i, s.start, st) for i, s, st in await setup.events()] == [
        (booking.id, offered[1].start, "confirmed")
    ]

    # The mode of a booked call's handoff (the store's; played here): anything but a change of
    # the call is recorded, silently, without the model.
    mode = ContactMode.CALL_BOOKED
    calls = len(llm.chat_requests)
    result = await engine.run_turn(CONTACT, say("Thanks! See you then", "s4"), mode=mode)
    assert (result.reply, result.llm_calls) == (None, 0)
    assert len(llm.chat_requests) == calls

    # "Can we move it?": the scheduling agent answers, with the tools of a change.
    moved_from = booking
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Sure, which one: 1, 2 or 3?"))
    result = await engine.run_turn(CONTACT, say("Can we move it?", "s5"), mode=mode)
    assert result.reply == f"Sure, which one: 1, 2 or 3?\n({LEAD_ZONE})"
    assert result.handoff is None and result.stage == "handoff"
    assert tool_names(llm.chat_requests[-1]) == [
        "find_free_slots", "reschedule_booking", "cancel_booking", "keep_booking",
    ]
    system = system_text(llm.chat_requests[-1])
    assert "already booked" in system and "The lead's booked call: Mon 7 Jan" in system
    state = await engine.state(THREAD)
    new_offer: list[Slot] = state["offered_slots"]
    assert state["changing_booking"] is True
    assert moved_from.start not in [s.start for s in new_offer]

    # The third new slot goes to someone else before the lead answers: fresh options. (The
    # first two may sit right next to the lead's own call: free for a move, not for others.)
    await setup.take(new_offer[2])
    llm.push(tool_calls=[tool_call("reschedule_booking", option=3)])
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Sorry, that one just went. Which now: 1, 2 or 3?"))
    result = await engine.run_turn(CONTACT, say("the third", "s6"), mode=mode)
    refused = llm.chat_requests[-1]["messages"][-3]
    assert refused["role"] == "tool" and refused["content"].startswith("Not moved")
    assert "just taken" in refused["content"]
    state = await engine.state(THREAD)
    assert state["booking"] == moved_from  # never a false confirmation
    assert state["changing_booking"] is True
    fresh: list[Slot] = state["offered_slots"]
    assert new_offer[2].start not in [s.start for s in fresh]
    assert result.reply is not None and LEAD_ZONE in result.reply

    # Pick, confirm, moved: same event, new time, in the state and with the sink.
    llm.push(json=agent_json("Move it to the second one?"))
    await engine.run_turn(CONTACT, say("the second then", "s7"), mode=mode)
    assert (await engine.state(THREAD))["booking"] == moved_from
    llm.push(tool_calls=[tool_call("reschedule_booking", option=2)])
    llm.push(json=agent_json("Done, your call moved."))
    handoffs = len(sink.handoffs)
    result = await engine.run_turn(CONTACT, say("yes please", "s8"), mode=mode)
    assert last_tool_output(llm).startswith(f"Moved to {format_slot(fresh[1], NEW_YORK, 'en')}.")
    state = await engine.state(THREAD)
    moved = state["booking"]
    # The reply gives the link the calendar has (Google's event link; none locally).
    assert result.reply == "Done, your call moved." + (f"\n{moved.link}" if moved.link else "")
    assert (moved.id, moved.start, moved.status) == (moved_from.id, fresh[1].start, "confirmed")
    assert sink.updates[-1].booking == moved
    assert len(sink.handoffs) == handoffs and result.handoff is None  # no second email
    assert state["changing_booking"] is False
    assert [(i, s.start, st) for i, s, st in await setup.events() if i == moved.id] == [
        (moved.id, fresh[1].start, "confirmed")
    ]

    # The change is done: silent again.
    calls = len(llm.chat_requests)
    result = await engine.run_turn(CONTACT, say("Great, thanks!", "s9"), mode=mode)
    assert result.reply is None and len(llm.chat_requests) == calls


async def test_moving_a_call_offers_the_slots_next_to_it(
    setup: Setup, llm: Any, make_settings: Any
) -> None:
    """Issue #15 item 9: the booked call's own time is free while it is being moved, so the
    slots its buffer blocked (just before and after it) are offered; the booked time is not."""
    engine = engine_for(
        llm, make_settings, calendar=setup.calendar, sink=RecordingSink(), checkpointer=saver()
    )
    await qualify(engine, llm)
    offered = await offer(engine, llm, "Sure, when?", "n1")
    llm.push(tool_calls=[tool_call("book_slot", option=2)])
    llm.push(json=agent_json("Booked!"))
    await engine.run_turn(CONTACT, say("the second one, yes", "n2"))
    booking = (await engine.state(THREAD))["booking"]
    assert booking.start == offered[1].start

    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Sure, which one: 1, 2 or 3?"))
    await engine.run_turn(CONTACT, say("Can we move it?", "n3"), mode=ContactMode.CALL_BOOKED)
    moving: list[Slot] = (await engine.state(THREAD))["offered_slots"]
    # 08:00 and 09:00 (New York) sit within the 15-minute buffer of the 08:30 call.
    assert [s.start for s in moving] == [offered[0].start, offered[2].start, moving[2].start]
    assert moving[2].start == offered[2].start + timedelta(minutes=30)
    assert booking.start not in [s.start for s in moving]


async def test_slot_taken_between_offer_and_confirmation_gives_fresh_options(
    setup: Setup, llm: Any, make_settings: Any
) -> None:
    engine = engine_for(
        llm, make_settings, calendar=setup.calendar, sink=RecordingSink(), checkpointer=saver()
    )
    await qualify(engine, llm)
    offered = await offer(engine, llm, "times?", "t1")
    await setup.take(offered[0])
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Sorry, that time was just taken. These are free: 1, 2 or 3?"))
    result = await engine.run_turn(CONTACT, say("the first one", "t2"))
    assert "just taken" in llm.chat_requests[-1]["messages"][-3]["content"]
    assert (result.stage, result.handoff) == ("scheduling", None)
    state = await engine.state(THREAD)
    assert state.get("booking") is None and state.get("handoff") is None
    assert offered[0].start not in [s.start for s in state["offered_slots"]]
    assert [st for _, _, st in await setup.events()] == (
        ["confirmed"] if setup.name == "local" else []  # only the other lead's booking
    )


async def test_fallback_never_confirms_a_taken_slot(
    setup: Setup, llm: Any, make_settings: Any
) -> None:
    """Without a model the policy asks back, books on yes, and a slot taken meanwhile gets an
    apology and fresh options in the lead's zone."""
    engine = engine_for(
        llm, make_settings, calendar=setup.calendar, sink=RecordingSink(), checkpointer=saver(),
        with_llm=False,
    )
    for number, text in enumerate(["Hi, I'm Ana", "a CRM", "5k USD", "I decide", "next month"]):
        await engine.run_turn(CONTACT, say(text, f"f{number}"))
    result = await engine.run_turn(CONTACT, say("yes", "f5"))
    assert result.stage == "scheduling" and result.reply is not None
    assert result.reply.count(f"({LEAD_ZONE})") == 3
    offered = (await engine.state(THREAD))["offered_slots"]
    result = await engine.run_turn(CONTACT, say("2", "f6"))
    assert result.reply is not None and result.reply.startswith("Shall I book")
    await setup.take(offered[1])
    result = await engine.run_turn(CONTACT, say("yes", "f7"))
    assert result.reply is not None and result.reply.startswith("Sorry, that time was just taken")
    assert "Done" not in result.reply and result.handoff is None
    assert (await engine.state(THREAD)).get("booking") is None


# --- Cancel, and the store's side of the exception -----------------------------------------


async def turn(
    engine: ConversationEngine, store: LeadStore, text: str, message_id: str
) -> TurnResult:
    """A turn in the contact's mode as the store says it, as the pipeline runs it."""
    mode = await store.contacts.mode("meta", CONTACT.contact)
    return await engine.run_turn(CONTACT, say(text, message_id), mode=mode)


async def booked(engine: ConversationEngine, llm: Any) -> None:
    await qualify(engine, llm)
    await offer(engine, llm, "when?", "b1")
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Booked!"))
    result = await engine.run_turn(CONTACT, say("the first, yes", "b2"))
    assert result.handoff is not None and result.handoff.reason == "booked"


async def test_cancel_in_the_booked_handoff_updates_the_lead_row(
    pool: asyncpg.Pool, store: LeadStore, llm: Any, make_settings: Any
) -> None:
    calendar = LocalCalendar(
        pool, rules=SlotRules.from_settings(make_settings(**BUSINESS)),
        organizer_email="sales@example.com", clock=lambda: NOW,
    )
    engine = engine_for(
        llm, make_settings, calendar=calendar, sink=store.sink, checkpointer=saver()
    )
    await booked(engine, llm)
    (lead,) = await store.leads.list_leads()
    assert lead.status == "booked" and lead.booking is not None
    booking_id = lead.booking.id

    llm.push(json=agent_json("Cancel your call on Monday? Or shall we find another time?"))
    result = await turn(engine, store, "Please cancel the call", "c1")
    assert result.reply is not None and (await engine.state(THREAD))["changing_booking"]
    llm.push(tool_calls=[tool_call("cancel_booking")])
    llm.push(json=agent_json("Done, it's cancelled."))
    result = await turn(engine, store, "yes, cancel it", "c2")
    assert result.reply == "Done, it's cancelled." and result.handoff is None
    state = await engine.state(THREAD)
    assert state["booking"].status == "cancelled" and state["changing_booking"] is False
    (lead,) = await store.leads.list_leads()
    assert lead.booking is not None
    assert (lead.booking.id, lead.booking.status) == (booking_id, "cancelled")
    assert lead.status == "qualified"  # issue #15: no longer `booked`
    async with pool.acquire() as conn:
        status = await conn.fetchval("SELECT status FROM calendar_bookings")
        emails = await conn.fetch("SELECT kind FROM outbox WHERE kind LIKE 'manager%' ORDER BY id")
    assert status == "cancelled"
    assert [e["kind"] for e in emails] == ["manager_email", "manager_booking_change"]
    # Nothing left to change: silent, as after any handoff.
    result = await turn(engine, store, "Can we move it?", "c3")
    assert result.reply is None


async def test_pipeline_lets_the_graph_answer_only_an_untouched_booked_handoff(
    pool: asyncpg.Pool, store: LeadStore, llm: Any, make_settings: Any
) -> None:
    """The store says whether a person has acted since the handoff and whether the handoff is a
    booked call's. Another reason, or a person's message, keeps the bot silent."""
    calendar = LocalCalendar(
        pool, rules=SlotRules.from_settings(make_settings(**BUSINESS)),
        organizer_email="sales@example.com", clock=lambda: NOW,
    )
    engine = engine_for(
        llm, make_settings, calendar=calendar, sink=store.sink, checkpointer=saver()
    )
    await booked(engine, llm)
    assert await store.contacts.mode("meta", CONTACT.contact) is ContactMode.CALL_BOOKED

    # During the change the lead asks for a person: a `requested` handoff ends the exception.
    llm.push(json=agent_json("Let me get a person.", wants_human=True))
    result = await turn(engine, store, "I need to reschedule", "p1")
    assert result.handoff is not None and result.handoff.reason == "requested"
    state = await engine.state(THREAD)
    assert state["changing_booking"] is False and state["booking"].status == "confirmed"
    assert await store.contacts.mode("meta", CONTACT.contact) is ContactMode.HUMAN
    calls = len(llm.chat_requests)
    result = await turn(engine, store, "Can we move it?", "p2")
    assert result.reply is None and len(llm.chat_requests) == calls


async def test_a_persons_message_ends_the_exception(
    pool: asyncpg.Pool, store: LeadStore, llm: Any, make_settings: Any
) -> None:
    calendar = LocalCalendar(
        pool, rules=SlotRules.from_settings(make_settings(**BUSINESS)),
        organizer_email="sales@example.com", clock=lambda: NOW,
    )
    engine = engine_for(
        llm, make_settings, calendar=calendar, sink=store.sink, checkpointer=saver()
    )
    await booked(engine, llm)
    await store.contacts.record_outbound(
        "meta", CONTACT.contact, "Hi Ana, see you Monday!", author="human", message_ids=["h1"]
    )
    assert await store.contacts.mode("meta", CONTACT.contact) is ContactMode.HUMAN


# --- The lead's hours (issue #13): a business on UTC, leads around the world ------------------


def lead_contact(number: str) -> ContactInfo:
    return ContactInfo(channel="meta", contact=number, profile_name="Ana B")


@pytest.mark.parametrize("zone", list(LEADS))
async def test_the_model_offers_only_slots_in_the_leads_hours(
    utc_setup: Setup, llm: Any, make_settings: Any, zone: str
) -> None:
    contact = lead_contact(LEADS[zone])
    engine = engine_for(
        llm, make_settings, calendar=utc_setup.calendar, sink=RecordingSink(),
        checkpointer=saver(), business=UTC_BUSINESS,
    )
    llm.push(json=QUALIFIED)
    result = await engine.run_turn(contact, say("Ana: a CRM, 5k USD, I decide, next month", "q1"))
    assert result.stage == "scheduling"
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Which one suits you: 1, 2 or 3?"))
    result = await engine.run_turn(contact, say("Sure, when?", "s1"))
    assert result.reply == f"Which one suits you: 1, 2 or 3?\n({zone})"
    offered: list[Slot] = (await engine.state(contact.thread_id))["offered_slots"]
    assert len(offered) == 3 and outside_lead_hours(offered, zone) == []
    listed = last_tool_output(llm)
    local = ZoneInfo(zone)
    for number, slot in enumerate(offered, 1):
        assert f"{number}. {format_slot(slot, local, 'en')}" in listed


@pytest.mark.parametrize("zone", list(LEADS))
async def test_the_fallback_offers_only_slots_in_the_leads_hours(
    utc_setup: Setup, llm: Any, make_settings: Any, zone: str
) -> None:
    contact = lead_contact(LEADS[zone])
    engine = engine_for(
        llm, make_settings, calendar=utc_setup.calendar, sink=RecordingSink(),
        checkpointer=saver(), with_llm=False, business=UTC_BUSINESS,
    )
    for number, line in enumerate(["Hi, I'm Ana", "a CRM", "5k USD", "I decide", "next month"]):
        await engine.run_turn(contact, say(line, f"f{number}"))
    result = await engine.run_turn(contact, say("yes", "f5"))
    assert result.stage == "scheduling" and result.fallback and result.reply is not None
    offered: list[Slot] = (await engine.state(contact.thread_id))["offered_slots"]
    assert len(offered) == 3 and outside_lead_hours(offered, zone) == []
    assert result.reply.count(f"({zone})") == 3


HONOLULU = lead_contact("+18085551234")
"""Business 09:00-17:00 UTC is 23:00-07:00 in Honolulu: no slot of any day is in the lead's."""


async def test_no_slot_in_the_leads_hours_makes_the_model_ask_for_a_time(
    utc_setup: Setup, llm: Any, make_settings: Any
) -> None:
    assert await utc_setup.calendar.free_slots(after=NOW)  # free time: the lead's night only
    engine = engine_for(
        llm, make_settings, calendar=utc_setup.calendar, sink=RecordingSink(),
        checkpointer=saver(), business=UTC_BUSINESS,
    )
    llm.push(json=QUALIFIED)
    await engine.run_turn(HONOLULU, say("Ana: a CRM, 5k USD, I decide, next month", "q1"))
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("Which day and time would suit you?"))
    result = await engine.run_turn(HONOLULU, say("Sure, when?", "s1"))
    output = last_tool_output(llm)
    assert output == no_fit(DayWindow(timezone="Pacific/Honolulu", start=time(8), end=time(20)))
    assert "08:00-20:00 in Pacific/Honolulu" in output
    assert "Offer no time" in output and "ask the lead which day and time" in output
    assert result.reply == "Which day and time would suit you?"  # no zone: no times offered
    assert (await engine.state(HONOLULU.thread_id))["offered_slots"] == []


@pytest.mark.parametrize("language", ["es", "pt"])
async def test_no_slot_in_the_leads_hours_makes_the_fallback_ask_for_a_time(
    utc_setup: Setup, llm: Any, make_settings: Any, language: str
) -> None:
    """Without a model: the lead is asked for a time, in their language, never offered a night."""
    assert await utc_setup.calendar.free_slots(after=NOW)  # free time: the lead's night only
    engine = engine_for(
        llm, make_settings, calendar=utc_setup.calendar, sink=RecordingSink(),
        checkpointer=saver(), with_llm=False, business=UTC_BUSINESS,
    )
    lines = {
        "es": ["Hola, soy Ana", "necesito un CRM", "5000 dólares", "yo decido",
               "el mes que viene", "sí, por favor"],
        "pt": ["Olá, sou a Ana", "preciso de um CRM", "5000 reais", "eu decido",
               "no próximo mês", "sim, por favor"],
    }[language]
    for number, line in enumerate(lines):
        result = await engine.run_turn(HONOLULU, say(line, f"f{number}"))
    assert result.stage == "scheduling" and result.fallback
    assert result.reply == fixed_text("slots.ask_time", language, start="08:00", end="20:00")
    assert (await engine.state(HONOLULU.thread_id))["offered_slots"] == []
