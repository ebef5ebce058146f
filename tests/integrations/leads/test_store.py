"""The lead store against real Postgres: leads, transcript, human takeover, opt-out, deletion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.contact import ContactMode
from domain.events import Stage
from domain.lead import LeadProfile, Need
from integrations.leads import (
    ContactNotFound,
    InvalidValue,
    LeadNotFound,
    LeadStore,
    contact_mode,
    human_mode_active,
    parse_thread_id,
)
from integrations.outbox import LEAD_EMAIL_KIND, enqueue
from integrations.whatsapp.types import InboundMessage, MediaRef
from tests.integrations.leads.conftest import (
    NUMBER,
    START,
    Clock,
    booking,
    count,
    handoff_event,
    lead_update,
    profile,
)

T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)


def inbound(message_id: str, text: str = "hola", *, number: str = NUMBER) -> InboundMessage:
    return InboundMessage(
        channel="meta", contact=number, message_id=message_id, timestamp=START, kind="text",
        text=text, profile_name="Ana WA",
    )


# --- Pure rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "last", "hours_later", "active"),
    [
        (None, None, 0, False),
        (START, None, 23.9, True),
        (START, None, 24, False),
        (START, START + timedelta(hours=20), 43, True),
        (START, START + timedelta(hours=20), 44, False),
    ],
)
def test_human_mode_idle_rule(
    since: datetime | None, last: datetime | None, hours_later: float, active: bool
) -> None:
    now = START + timedelta(hours=hours_later)
    assert human_mode_active(since, last, now=now, idle=timedelta(hours=24)) is active


def test_parse_thread_id() -> None:
    assert parse_thread_id("meta:+34600111222") == ("meta", "+34600111222")
    for bad in ("+34600111222", "meta:34600111222", ":+34600111222", "meta:+0123"):
        with pytest.raises(InvalidValue):
            parse_thread_id(bad)


# --- Leads ------------------------------------------------------------------------------------


async def test_lead_updates_upsert_one_open_lead_and_never_erase_or_go_back(
    store: LeadStore, db: asyncpg.Pool
) -> None:
    await store.sink.lead_updated(lead_update("greeting", lead=LeadProfile()))
    assert [lead.status for lead in await store.leads.list_leads()] == ["new"]

    await store.sink.lead_updated(
        lead_update(lead=LeadProfile(name="Ana", need=Need(words="un CRM")))
    )
    await store.sink.lead_updated(lead_update())  # full BANT
    lead = (await store.leads.list_leads())[0]
    assert lead.status == "qualified"
    assert lead.profile.budget is not None and lead.profile.budget.amount == 5000
    assert lead.profile.need is not None and lead.profile.need.message_id == "wamid.1"

    # The graph state expired: an empty profile at the greeting keeps what is known.
    await store.sink.lead_updated(lead_update("greeting", lead=LeadProfile()))
    lead = (await store.leads.list_leads())[0]
    assert lead.status == "qualified"
    assert lead.profile == profile()
    assert await count(db, "leads") == 1
    assert await count(db, "outbox") == 0


async def test_a_booking_makes_the_lead_booked(store: LeadStore) -> None:
    await store.sink.lead_updated(replace(lead_update("scheduling"), booking=booking()))
    lead = (await store.leads.list_leads())[0]
    assert lead.status == "booked"
    assert lead.booking == booking()


async def test_each_sent_part_of_a_reply_is_stored_once_per_burst_and_part(
    store: LeadStore, db: asyncpg.Pool
) -> None:
    contacts = store.contacts
    assert await contacts.sent_parts("meta", "wamid.in1") == {}
    assert await contacts.record_reply_part(
        "meta", NUMBER, "Part one", burst="wamid.in1", part=0, message_ids=["wamid.out1"]
    )
    # A retry that lost Redis's mark records the same part again: a no-op.
    assert not await contacts.record_reply_part(
        "meta", NUMBER, "Part one", burst="wamid.in1", part=0, message_ids=["wamid.out1"]
    )
    await contacts.record_reply_part(
        "meta", NUMBER, "Part two", burst="wamid.in1", part=1, message_ids=["wamid.out2"]
    )
    assert await contacts.sent_parts("meta", "wamid.in1") == {
        0: ["wamid.out1"], 1: ["wamid.out2"],
    }
    assert await contacts.sent_parts("twilio", "wamid.in1") == {}  # per channel
    assert await count(db, "transcript") == 2


async def test_get_lead_with_transcript_and_handoffs(store: LeadStore, clock: Clock) -> None:
    assert await store.contacts.record_inbound(inbound("wamid.in1", "hola"))
    assert not await store.contacts.record_inbound(inbound("wamid.in1", "hola"))  # webhook retry
    await store.contacts.record_inbound(
        InboundMessage(
            channel="meta", contact=NUMBER, message_id="wamid.in2",
            timestamp=START + timedelta(seconds=5), kind="audio",
            media=(MediaRef(id="media-1", mime_type="audio/ogg", voice=True),),
        )
    )
    assert await store.contacts.record_outbound(
        "meta", NUMBER, "¡Hola! ¿Qué necesitas?", message_ids=["wamid.out1", "wamid.out2"],
        at=START + timedelta(seconds=10),
    )
    assert not await store.contacts.record_outbound(
        "meta", NUMBER, "again", message_ids=["wamid.out1"]
    )
    await store.sink.handed_off(handoff_event("unresolved", at=START + timedelta(minutes=1)))

    lead_id = (await store.leads.list_leads())[0].id
    detail = await store.leads.get_lead(lead_id)
    assert detail.lead.status == "handed_off"
    assert detail.lead.channel == "meta" and detail.lead.number == NUMBER
    assert [(m.direction, m.author, m.kind) for m in detail.transcript] == [
        ("in", "lead", "text"), ("in", "lead", "audio"), ("out", "bot", "text"),
    ]
    assert detail.transcript[1].media[0]["id"] == "media-1"
    assert detail.transcript[2].message_ids == ["wamid.out1", "wamid.out2"]
    assert [(h.reason, h.resolved_at) for h in detail.handoffs] == [("unresolved", None)]

    with pytest.raises(LeadNotFound):
        await store.leads.get_lead(lead_id + 1000)


async def test_set_outcome_closes_the_lead_and_the_next_conversation_opens_another(
    store: LeadStore, db: asyncpg.Pool, clock: Clock
) -> None:
    await store.sink.handed_off(handoff_event())
    lead_id = (await store.leads.list_leads())[0].id
    await store.leads.set_outcome(lead_id, "won")
    detail = await store.leads.get_lead(lead_id)
    assert detail.lead.status == "won" and detail.lead.closed_at == clock.now
    assert detail.handoffs[0].resolved_at == clock.now

    await store.sink.lead_updated(lead_update())
    assert await count(db, "leads") == 2
    assert [lead.status for lead in await store.leads.list_leads(status="won")] == ["won"]

    with pytest.raises(InvalidValue):
        await store.leads.set_outcome(lead_id, "maybe")  # type: ignore[arg-type]
    with pytest.raises(LeadNotFound):
        await store.leads.set_outcome(lead_id + 1000, "lost")


async def test_list_leads_filters_and_pages(store: LeadStore, db: asyncpg.Pool) -> None:
    numbers = [f"+3460000000{i}" for i in range(6)]
    for i, number in enumerate(numbers):
        stage: Stage = "greeting" if i % 2 else "qualification"
        await store.sink.lead_updated(
            lead_update(stage, number=number, lead=LeadProfile() if i % 2 else profile())
        )
    async with db.acquire() as conn:  # day i for the lead of numbers[i]
        await conn.execute(
            """UPDATE leads SET created_at = $1::timestamptz + (
                   (SELECT right(number, 1)::int FROM contacts WHERE id = contact_id)
                   * interval '1 day')""",
            START,
        )

    newest_first = [lead.number for lead in await store.leads.list_leads()]
    assert newest_first == numbers[::-1]
    assert [lead.number for lead in await store.leads.list_leads(status="new")] == [
        numbers[5], numbers[3], numbers[1],
    ]
    assert [lead.number for lead in await store.leads.list_leads(status="qualified")] == [
        numbers[4], numbers[2], numbers[0],
    ]
    window = await store.leads.list_leads(
        since=START + timedelta(days=1), until=START + timedelta(days=4)
    )
    assert [lead.number for lead in window] == [numbers[3], numbers[2], numbers[1]]
    assert [lead.number for lead in await store.leads.list_leads(limit=2, offset=2)] == [
        numbers[3], numbers[2],
    ]
    assert await store.leads.list_leads(limit=2, offset=6) == []
    assert await store.leads.count_leads() == 6
    assert await store.leads.count_leads(status="new", since=START + timedelta(days=2)) == 2

    with pytest.raises(InvalidValue):
        await store.leads.list_leads(status="open")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        await store.leads.list_leads(limit=0)


# --- Human takeover and opt-out ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, ContactMode.BOT),
        ({"opted_out": True, "human_since": T0}, ContactMode.OPTED_OUT),
        # A stretch without a handoff was begun by a person taking the conversation over.
        ({"human_since": T0, "human_last_activity": T0}, ContactMode.HUMAN),
        ({"human_since": T0, "human_last_activity": T0, "open_handoff": "requested"},
         ContactMode.WAITING),
        ({"human_since": T0, "human_last_activity": T0, "open_handoff": "booked"},
         ContactMode.CALL_BOOKED),
        # A person acted: a later message, or a message at the very start of the stretch.
        ({"human_since": T0, "human_last_activity": T0 + timedelta(hours=1),
          "open_handoff": "booked"}, ContactMode.HUMAN),
        ({"human_since": T0, "human_last_activity": T0, "human_wrote": True,
          "open_handoff": "booked"}, ContactMode.HUMAN),
        ({"human_since": T0 - timedelta(hours=30), "human_last_activity": T0 - timedelta(hours=25)},
         ContactMode.RETURNING),
    ],
)
def test_contact_mode(flags: dict[str, Any], expected: ContactMode) -> None:
    values: dict[str, Any] = {
        "opted_out": False, "human_since": None, "human_last_activity": None,
        "human_wrote": False, "open_handoff": None, **flags,
    }
    assert contact_mode(**values, now=T0 + timedelta(hours=2), idle=timedelta(hours=24)) is expected


async def test_handoff_silences_until_idle_and_a_human_message_resets_the_clock(
    store: LeadStore, clock: Clock
) -> None:
    assert not (await store.contacts.mode("meta", NUMBER)).silenced  # unknown contact
    await store.sink.handed_off(handoff_event())
    assert (await store.contacts.mode("meta", NUMBER)).silenced

    clock.advance(hours=23)
    assert (await store.contacts.mode("meta", NUMBER)).silenced
    await store.contacts.record_outbound("meta", NUMBER, "Hola Ana, soy Luis", author="human")
    clock.advance(hours=23)
    assert (await store.contacts.mode("meta", NUMBER)).silenced  # 23 h after the human's message
    await store.contacts.touch_human("meta", NUMBER)
    clock.advance(hours=23.5)
    assert (await store.contacts.mode("meta", NUMBER)).silenced
    clock.advance(hours=1)
    assert not (await store.contacts.mode("meta", NUMBER)).silenced  # idle past HUMAN_IDLE_HOURS
    assert (await store.contacts.mode("meta", NUMBER, now=clock.now - timedelta(hours=2))).silenced

    assert await store.contacts.mode("meta", NUMBER) is ContactMode.RETURNING

    # Inbound messages are still stored while the human has the conversation.
    assert await store.contacts.record_inbound(inbound("wamid.during"))


async def test_release_returns_the_contact_to_the_bot(store: LeadStore) -> None:
    await store.sink.handed_off(handoff_event())
    assert await store.contacts.release("meta", NUMBER) is True
    assert not (await store.contacts.mode("meta", NUMBER)).silenced
    assert await store.contacts.release("meta", NUMBER) is False
    lead_id = (await store.leads.list_leads())[0].id
    assert (await store.leads.get_lead(lead_id)).handoffs[0].resolved_at is not None
    with pytest.raises(ContactNotFound):
        await store.contacts.release("meta", "+34999999999")
    with pytest.raises(ContactNotFound):
        await store.contacts.touch_human("meta", "+34999999999")


async def test_human_notes_are_what_the_business_wrote_in_the_current_stretch(
    store: LeadStore, clock: Clock
) -> None:
    await store.contacts.record_outbound(
        "meta", NUMBER, "bot text before", author="bot", message_ids=["b1"]
    )
    assert await store.contacts.human_notes("meta", NUMBER) == ""
    await store.sink.handed_off(handoff_event())
    clock.advance(minutes=5)
    await store.contacts.record_outbound("meta", NUMBER, "Price agreed: 4,500 EUR", author="human",
                                message_ids=["h1"])
    clock.advance(minutes=5)
    await store.contacts.record_outbound("meta", NUMBER, "Contract goes out Monday", author="human",
                                message_ids=["h2"])
    assert await store.contacts.human_notes("meta", NUMBER) == (
        "Price agreed: 4,500 EUR / Contract goes out Monday"
    )
    await store.contacts.release("meta", NUMBER)
    assert await store.contacts.human_notes("meta", NUMBER) == ""  # the stretch is over


async def test_repeat_handoffs_within_a_stretch_are_one_and_after_it_are_new(
    store: LeadStore, db: asyncpg.Pool, clock: Clock
) -> None:
    await store.sink.handed_off(handoff_event("requested"))
    clock.advance(hours=1)
    await store.sink.handed_off(handoff_event("requested"))  # same stretch: absorbed
    assert await count(db, "outbox") == 1

    clock.advance(hours=30)  # the human went idle; the bot resumed; the lead asks again
    await store.sink.handed_off(handoff_event("requested", at=clock.now))
    assert await count(db, "handoffs") == 2
    assert await count(db, "outbox") == 2
    assert (await store.contacts.mode("meta", NUMBER)).silenced

    await store.contacts.release("meta", NUMBER)
    await store.sink.handed_off(handoff_event("requested", at=clock.now))
    assert await count(db, "outbox") == 3
    assert await count(db, "leads") == 1


async def test_opt_out_and_back_in(store: LeadStore) -> None:
    assert await store.contacts.set_opt_out("meta", NUMBER, True) is True  # creates the contact
    assert await store.contacts.set_opt_out("meta", NUMBER, True) is False  # confirmed once
    assert (await store.contacts.mode("meta", NUMBER)).silenced
    state = await store.contacts.get_contact("meta", NUMBER)
    assert state is not None and state.opted_out and state.opted_out_at == START
    assert await store.contacts.set_opt_out("meta", NUMBER, False) is True
    assert not (await store.contacts.mode("meta", NUMBER)).silenced
    assert await store.contacts.set_opt_out("meta", NUMBER, False) is False
    # The same number on the other channel is another contact.
    assert not (await store.contacts.mode("twilio", NUMBER)).silenced


# --- Deletion -------------------------------------------------------------------------------


async def test_delete_contact_erases_its_rows_everywhere(
    store: LeadStore, db: asyncpg.Pool
) -> None:
    other = "+34699999999"
    for number in (NUMBER, other):
        await store.contacts.record_inbound(inbound(f"wamid.{number}", number=number))
        await store.contacts.record_outbound("meta", number, "hola", message_ids=[f"out.{number}"])
        await store.sink.handed_off(handoff_event(number=number))
    # An invitation to the lead's address, queued without a contact id (the local calendar's).
    async with db.acquire() as conn:
        await enqueue(
            conn, kind=LEAD_EMAIL_KIND, dedup_key="invitation:1",
            payload={"to": "Ana@Acme.example", "subject": "Call", "text": "", "attachments": []},
        )
    tables = ("contacts", "leads", "handoffs", "transcript", "outbox")
    assert [await count(db, t) for t in tables] == [2, 2, 2, 4, 3]

    erased = await store.contacts.delete_contact("meta", NUMBER)
    assert erased.existed is True and len(erased.outbox) == 2  # the handoff's and the invitation
    assert [await count(db, t) for t in tables] == [1, 1, 1, 2, 1]
    async with db.acquire() as conn:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload::text LIKE '%' || $1 || '%'", NUMBER[1:]
        )
    assert leftovers == 0
    assert await store.contacts.get_contact("meta", NUMBER) is None
    assert (await store.contacts.delete_contact("meta", NUMBER)).existed is False


async def test_malformed_numbers_are_refused(store: LeadStore) -> None:
    with pytest.raises(InvalidValue):
        await store.sink.lead_updated(lead_update(number="600111222"))
    with pytest.raises(InvalidValue):
        await store.contacts.record_outbound("meta", NUMBER, "x", author="lead")  # type: ignore[arg-type]


async def test_timestamps_come_from_the_injected_clock(db: asyncpg.Pool) -> None:
    clock = Clock(datetime(2031, 1, 1, tzinfo=UTC))
    store = LeadStore.open(db, clock=clock, human_idle_hours=1)
    await store.sink.handed_off(handoff_event())
    state = await store.contacts.get_contact("meta", NUMBER)
    assert state is not None and state.human_since == clock.now
    clock.advance(minutes=61)
    assert not (await store.contacts.mode("meta", NUMBER)).silenced
