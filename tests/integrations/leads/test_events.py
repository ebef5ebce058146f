"""Lead events in the outbox: which changes make which events, once, in the transaction of the
change; erasure; nothing without a destination."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from domain.booking import Booking
from integrations.leads import LeadStore
from integrations.leads.events import EventDestination
from tests.integrations.leads.conftest import (
    NUMBER,
    Clock,
    booking,
    count,
    handoff_event,
    lead_update,
)
from tests.utils.lead_journey import JOURNEY_EVENTS, first_message_to_won

DESTINATIONS = (
    EventDestination(kind="test_events", name="one"),
    EventDestination(kind="test_events", name="two"),
)


@pytest.fixture
def crm_store(db: asyncpg.Pool, clock: Clock) -> LeadStore:
    return LeadStore.open(db, clock=clock, event_destinations=DESTINATIONS)


async def events(db: asyncpg.Pool, destination: str = "one") -> list[dict[str, Any]]:
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload::text AS payload, ordering_key, contact_id FROM outbox"
            " WHERE kind = 'test_events' AND payload->>'destination' = $1 ORDER BY id",
            destination,
        )
    return [
        {**json.loads(r["payload"])["event"], "_ordering_key": r["ordering_key"]} for r in rows
    ]


async def test_a_lead_from_first_message_to_won_makes_each_event_once(
    crm_store: LeadStore, db: asyncpg.Pool
) -> None:
    lead_id = await first_message_to_won(crm_store)

    one, two = await events(db, "one"), await events(db, "two")
    assert [e["type"] for e in one] == JOURNEY_EVENTS
    assert [e["id"] for e in one] == [e["id"] for e in two]  # the same event to each receiver
    assert len({e["id"] for e in one}) == len(one)
    assert {e["_ordering_key"] for e in one} == {f"one|lead:{lead_id}"}
    created, named, qualified, booked, handed_off, won = one
    assert created["lead"]["status"] == "new" and created["lead"]["number"] == NUMBER
    assert named["changes"] == ["status", "name", "need"]
    assert qualified["changes"] == [
        "status", "name", "company", "email", "need", "budget", "authority", "timeline", "score",
    ]
    assert qualified["lead"]["score"] == 85 and qualified["lead"]["fit"] == "qualified"
    assert qualified["lead"]["budget"] == {
        "words": "unos 5000 euros", "amount": 5000.0, "currency": "EUR"
    }
    assert booked["lead"]["status"] == "booked" and "changes" not in booked
    assert booked["lead"]["call"]["id"] == "evt-123"
    assert handed_off["reason"] == "booked" and handed_off["lead"]["status"] == "booked"
    assert won["lead"]["status"] == "won" and won["lead_id"] == lead_id


async def test_a_moved_and_a_cancelled_call(
    crm_store: LeadStore, db: asyncpg.Pool, clock: Clock
) -> None:
    first = replace(lead_update("scheduling"), booking=booking())
    await crm_store.sink.lead_updated(first)
    moved: Booking = replace(booking(), start=booking().start + timedelta(days=1),
                             end=booking().end + timedelta(days=1))
    await crm_store.sink.lead_updated(replace(first, booking=moved))
    await crm_store.sink.lead_updated(replace(first, booking=replace(moved, status="cancelled")))
    await crm_store.sink.lead_updated(replace(first, booking=replace(moved, status="cancelled")))
    rebooked = replace(booking(), id="evt-456")
    await crm_store.sink.lead_updated(replace(first, booking=rebooked))

    kinds = [e["type"] for e in await events(db)]
    assert kinds == [
        "lead.created", "call.booked", "call.rescheduled", "call.cancelled", "call.booked",
    ]
    rescheduled = (await events(db))[2]
    assert rescheduled["previous_call"]["start"] == booking().start.isoformat()
    assert rescheduled["lead"]["call"]["start"] == moved.start.isoformat()


async def test_a_handoff_on_a_known_lead_and_its_repeat(
    crm_store: LeadStore, db: asyncpg.Pool
) -> None:
    await crm_store.sink.lead_updated(lead_update())
    await crm_store.sink.handed_off(handoff_event("requested"))
    await crm_store.sink.handed_off(handoff_event("requested"))
    got = await events(db)
    assert [e["type"] for e in got] == ["lead.created", "lead.handed_off"]
    assert got[1]["reason"] == "requested" and got[1]["lead"]["status"] == "handed_off"
    assert got[1]["time"] == "2030-03-04T09:00:00+00:00"  # the store's clock


async def test_erasure_drops_pending_events_and_writes_contact_erased_without_personal_data(
    crm_store: LeadStore, db: asyncpg.Pool
) -> None:
    other = "+34699999999"
    await crm_store.sink.lead_updated(lead_update())
    await crm_store.sink.lead_updated(lead_update(number=other))
    lead_ids = [lead.id for lead in await crm_store.leads.list_leads() if lead.number == NUMBER]

    assert (await crm_store.contacts.delete_contact("meta", NUMBER)).existed is True
    got = await events(db)
    assert [(e["type"], e["lead"] and e["lead"]["number"]) for e in got] == [
        ("lead.created", other), ("contact.erased", None),
    ]
    erased = got[1]
    assert erased["lead_ids"] == lead_ids and erased["lead"] is None
    async with db.acquire() as conn:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload::text LIKE '%' || $1 || '%'", NUMBER[1:]
        )
    assert leftovers == 0
    assert (await crm_store.contacts.delete_contact("meta", NUMBER)).existed is False
    assert len(await events(db)) == 2  # a second erase of nothing sends nothing


async def test_without_destinations_no_event_is_written(store: LeadStore, db: asyncpg.Pool) -> None:
    await first_message_to_won(store)
    await store.contacts.delete_contact("meta", NUMBER)
    assert await count(db, "outbox") == 0  # the booked handoff's email went with the contact
