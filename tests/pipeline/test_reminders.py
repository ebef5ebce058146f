"""A booked call's reminders, end to end with real parts (issue #17): the scheduling agent offers
slots as options, the lead taps one and exactly that slot is booked (no model call), the lead
store schedules the reminders in the booking's transaction, and the outbox worker sends them 24
hours and 1 hour before the call, in the lead's language and zone, as the clock moves (nothing
sleeps). A reschedule moves them, a cancellation drops them. Inside the 24-hour window a reminder
is free text; outside it the approved template (`TEMPLATE_REMINDER`).

The graph is the real `ConversationEngine` on the scripted LLM, the calendar the local one on this
test's schema, Meta the stand-in; the lead's messages go through the pipeline's own converter and
are recorded as the pipeline records them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from domain.booking import Booking
from domain.contact import ContactInfo, ContactMode
from domain.reply import Choice
from domain.texts import text
from graph.engine import ConversationEngine, TurnResult
from integrations.calendar.local import LocalCalendar
from integrations.calendar.slots import SlotRules, format_slot
from integrations.whatsapp.types import InboundMessage
from pipeline.convert import TextConverter
from tests.graph.fakes import agent_json, saver, tool_call
from tests.utils.scheduled import Clock, Scheduled, scheduled_parts, texts_to
from tests.utils.whatsapp_stand_ins import MetaStandIn

NUMBER = "+12125550100"
ZONE = "America/New_York"
CONTACT = ContactInfo(channel="meta", contact=NUMBER, profile_name="Ana B")
START = datetime(2030, 1, 7, 13, 0, tzinfo=UTC)
"""Monday 08:00 in New York."""
QUALIFIED = agent_json(
    "¡Gracias Ana! ¿Reservamos una llamada?", language="es", name="Ana", company="Acme",
    need="un CRM", budget="5000 USD", budget_amount=5000, budget_currency="USD",
    authority="yo decido", authority_decides=True, timeline="el mes que viene",
)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def parts(
    pool: asyncpg.Pool, send_http: aiohttp.ClientSession, meta_server: tuple[MetaStandIn, str],
    clock: Clock, tmp_path: Path,
) -> Scheduled:
    return await scheduled_parts(
        pool, send_http, meta_server[1], clock, tmp_path,
        templates={"reminder": "call_reminder"},
    )


class Lead:
    """The lead of these tests: each message recorded and answered as the pipeline does."""

    def __init__(self, engine: ConversationEngine, parts: Scheduled, clock: Clock) -> None:
        self.engine, self.parts, self.clock = engine, parts, clock
        self.ids = itertools.count(1)

    async def says(self, words: str = "", *, tap: Choice | None = None) -> TurnResult:
        message = InboundMessage(
            channel="meta", contact=NUMBER, message_id=f"wamid.IN{next(self.ids)}",
            timestamp=self.clock(), kind="interactive" if tap else "text",
            text=tap.title if tap else words, payload=tap.id if tap else None,
        )
        contacts = self.parts.store.contacts
        await contacts.record_inbound(message)
        mode = await contacts.mode("meta", NUMBER)
        if mode is ContactMode.RETURNING:  # the booked handoff went idle: back to the bot
            await self.engine.release_to_bot(CONTACT.thread_id)
            await contacts.release("meta", NUMBER)
            mode = ContactMode.BOT
        return await self.engine.run_turn(
            CONTACT, await TextConverter().convert([message]), mode=mode
        )

    async def booking(self) -> Booking:
        booking: Booking = (await self.engine.state(CONTACT.thread_id))["booking"]
        return booking


@pytest.fixture
def lead(
    pool: asyncpg.Pool, parts: Scheduled, clock: Clock, llm: Any, make_settings: Any
) -> Lead:
    settings = make_settings(
        OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=llm.base_url, LLM_MAX_RETRIES=0,
        LLM_TIMEOUT_SECONDS=5.0,
    )
    calendar = LocalCalendar(
        pool, rules=SlotRules.from_settings(settings), organizer_email="sales@example.com",
        clock=clock,
    )
    engine = ConversationEngine(
        checkpointer=saver(), settings=settings, calendar=calendar, sink=parts.store.sink,
        clock=clock,
    )
    return Lead(engine, parts, clock)


async def pending_reminders(pool: asyncpg.Pool) -> list[tuple[str, datetime]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload->>'name' AS name, next_attempt_at FROM outbox "
            "WHERE kind = 'reminder' AND status = 'pending' ORDER BY next_attempt_at"
        )
    return [(row["name"], row["next_attempt_at"]) for row in rows]


async def offer(lead: Lead, llm: Any, words: str, *, after: str) -> TurnResult:
    """A turn in which the model finds slots from `after` and offers them."""
    llm.push(tool_calls=[tool_call("find_free_slots", after=after)])
    llm.push(json=agent_json("Estos horarios están libres. ¿Cuál te viene bien?", language="es"))
    result = await lead.says(words)
    assert result.options is not None and result.options.kind == "slots"
    return result


async def book_by_tap(lead: Lead, llm: Any, *, after: str, row: int) -> Booking:
    """Qualify, get slots, tap row `row`: the tapped slot is booked, without a model call."""
    llm.push(json=QUALIFIED)
    await lead.says("Ana de Acme: un CRM, 5000 USD, yo decido, el mes que viene")
    offered = await offer(lead, llm, "sí, reservemos", after=after)
    assert offered.options is not None
    tapped = offered.options.choices[row]
    calls = len(llm.chat_requests)
    result = await lead.says(tap=tapped)
    assert len(llm.chat_requests) == calls  # the tap books; no model decides which slot
    booking = await lead.booking()
    assert tapped.id == f"slot:{booking.start.astimezone(UTC).isoformat()}"
    assert result.handoff is not None and result.handoff.reason == "booked"
    assert result.reply is not None and result.reply.startswith(
        text("slots.booked", "es", slot=format_slot(booking.slot, ZONE, "es"))
    )
    return booking


async def test_reminders_24h_and_1h_before_the_call_moved_by_a_reschedule(
    lead: Lead, parts: Scheduled, meta: MetaStandIn, clock: Clock, llm: Any, pool: asyncpg.Pool
) -> None:
    first = await book_by_tap(lead, llm, after="2030-01-09T10:00", row=1)
    day, hour = first.start - timedelta(hours=24), first.start - timedelta(hours=1)
    assert await pending_reminders(pool) == [("24h", day), ("1h", hour)]

    # The lead writes the day before (the window opens again); nothing is due yet.
    clock.at(day - timedelta(hours=2))
    await lead.says("¡Gracias, hasta entonces!")
    clock.at(day - timedelta(minutes=1))
    await parts.outbox.run_once()
    assert texts_to(meta, NUMBER) == []

    # 24 hours before: inside the window, free text, in Spanish, the time in New York's zone.
    clock.at(day)
    assert await parts.outbox.run_once() >= 1
    when = format_slot(first.slot, ZONE, "es")
    assert texts_to(meta, NUMBER) == [text("reminder.24h", "es", slot=when)]
    assert f"({ZONE})" in when

    # The lead moves the call (by tapping a new slot): the reminders follow it.
    clock.at(day + timedelta(hours=1))
    moving = await offer(
        lead, llm, "¿Podemos cambiar la llamada al jueves?", after="2030-01-10T10:00"
    )
    assert moving.options is not None
    await lead.says(tap=moving.options.choices[0])
    moved = await lead.booking()
    assert (moved.id, moved.status) == (first.id, "confirmed") and moved.start > first.start
    new_day, new_hour = moved.start - timedelta(hours=24), moved.start - timedelta(hours=1)
    assert await pending_reminders(pool) == [("24h", new_day), ("1h", new_hour)]

    # The old call's hour comes: nothing (its reminder went with the move).
    clock.at(hour)
    await parts.outbox.run_once()
    assert len(texts_to(meta, NUMBER)) == 1

    clock.at(new_day)
    await parts.outbox.run_once()
    new_when = format_slot(moved.slot, ZONE, "es")
    assert texts_to(meta, NUMBER)[1:] == [text("reminder.24h", "es", slot=new_when)]

    # An hour before: the lead last wrote more than 24 hours ago, so only the template can go.
    clock.at(new_hour)
    await parts.outbox.run_once()
    assert texts_to(meta, NUMBER)[2:] == [f"template:call_reminder:{new_when}"]
    assert await pending_reminders(pool) == []
    async with pool.acquire() as conn:
        kinds = await conn.fetch(
            "SELECT kind, text FROM transcript WHERE direction = 'out' AND kind = 'reminder' "
            "ORDER BY at, id"
        )
    assert [row["text"] for row in kinds][-1] == f"[call_reminder: {new_when}]"


async def test_a_cancelled_call_gets_no_reminder(
    lead: Lead, parts: Scheduled, meta: MetaStandIn, clock: Clock, llm: Any, pool: asyncpg.Pool
) -> None:
    booking = await book_by_tap(lead, llm, after="2030-01-09T10:00", row=0)
    assert len(await pending_reminders(pool)) == 2
    llm.push(json=agent_json("¿Cancelo tu llamada del miércoles?", language="es"))
    await lead.says("Por favor, cancela la llamada")
    llm.push(tool_calls=[tool_call("cancel_booking")])
    llm.push(json=agent_json("Hecho, está cancelada.", language="es"))
    await lead.says("sí, cancélala")
    assert (await lead.booking()).status == "cancelled"
    assert await pending_reminders(pool) == []
    for due in (booking.start - timedelta(hours=24), booking.start - timedelta(hours=1)):
        clock.at(due)
        await parts.outbox.run_once()
    assert texts_to(meta, NUMBER) == []



async def test_a_reminder_due_in_the_leads_quiet_hours_waits_for_their_morning(
    lead: Lead, parts: Scheduled, meta: MetaStandIn, clock: Clock, llm: Any, pool: asyncpg.Pool
) -> None:
    booking = await book_by_tap(lead, llm, after="2030-01-10T07:00", row=1)
    morning = datetime(2030, 1, 10, 13, 0, tzinfo=UTC)  # 08:00 in New York, the quiet hours end
    assert booking.start == morning + timedelta(minutes=30)
    clock.at(booking.start - timedelta(hours=24))
    await parts.outbox.run_once()
    when = format_slot(booking.slot, ZONE, "es")  # booked days ago: outside the window
    assert texts_to(meta, NUMBER) == [f"template:call_reminder:{when}"]

    clock.at(booking.start - timedelta(hours=1))  # 07:30 on the lead's clock: not now
    await parts.outbox.run_once()
    assert len(texts_to(meta, NUMBER)) == 1
    assert await pending_reminders(pool) == [("1h", morning)]
    clock.at(morning)
    await parts.outbox.run_once()
    assert texts_to(meta, NUMBER)[1:] == [f"template:call_reminder:{when}"]
