"""The booked-call exception to silence after a handoff, piece by piece: the keyword net that
spots "can we move it?", the routing rule, and the burst processor asking the engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from langchain_core.messages import HumanMessage
from langgraph.graph import END

from agents.scheduling import lead_zone
from graph.routing import booking_changes_allowed, changes_booking, route_start
from graph.triggers import booking_change_request
from integrations.calendar.base import Booking
from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore, message

START = datetime(2030, 1, 8, 10, tzinfo=UTC)
BOOKING = Booking(id="evt1", start=START, end=START + timedelta(minutes=30), calendar="local")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can we move it?", "reschedule"),
        ("I need to reschedule", "reschedule"),
        ("can we push the call to Thursday?", "reschedule"),
        ("I can't make it tomorrow", "reschedule"),
        ("another day would be better", "reschedule"),
        ("¿Podemos cambiar la hora?", "reschedule"),
        ("No voy a poder ir", "reschedule"),
        ("Dá pra remarcar?", "reschedule"),
        ("Podemos mudar o horário?", "reschedule"),
        ("Please cancel the call", "cancel"),
        ("cancel", "cancel"),
        ("Quiero cancelar la reunión", "cancel"),
        ("Preciso desmarcar", "cancel"),
        ("Thanks, see you!", None),
        ("can I cancel the subscription anytime?", None),
        ("What time is it in Madrid?", None),
        ("We need to change our CRM", None),
    ],
)
def test_booking_change_request(text: str, expected: str | None) -> None:
    assert booking_change_request([text]) == expected


def state(**values: Any) -> dict[str, Any]:
    return {
        "stage": "handoff", "booking": BOOKING, "human_mode": True,
        "handoff": {"reason": "booked", "at": START},
        "messages": [HumanMessage(values.pop("text", "Can we move it?"), id="m1")],
        "burst": ["m1"], **values,
    }


@pytest.mark.parametrize(
    ("values", "allowed", "route"),
    [
        ({}, True, "scheduling"),
        ({"text": "Thanks!"}, True, END),
        ({"text": "the second", "changing_booking": True}, True, "scheduling"),
        ({"handoff": {"reason": "requested", "at": START}}, False, END),
        ({"handoff": {"reason": "low_confidence", "at": START}}, False, END),
        ({"booking": None}, False, END),
        ({"booking": Booking(id="e", start=START, end=START, calendar="local",
                             status="cancelled")}, False, END),
        # The bot has the conversation back (released): a change still goes to scheduling.
        ({"human_mode": False, "handoff": {"reason": "requested", "at": START}}, True,
         "scheduling"),
        ({"human_mode": False, "text": "Thanks!"}, True, "handoff"),
    ],
)
def test_routing_of_a_booked_lead(values: dict[str, Any], allowed: bool, route: str) -> None:
    current = state(**values)
    assert booking_changes_allowed(current) is allowed
    assert route_start(current) == route
    assert changes_booking(current) is (route == "scheduling")


def test_lead_zone_uses_the_countrys_main_zone() -> None:
    # A Spanish mobile prefix spans Madrid and the Canaries: Madrid, not the business's zone.
    assert lead_zone(None, "+34612345678", "America/New_York").key == "Europe/Madrid"
    assert lead_zone("Atlantic/Canary", "+34612345678", "UTC").key == "Atlantic/Canary"


# --- The processor -----------------------------------------------------------------------------


@dataclass
class BookedEngine(FakeEngine):
    """A fake engine that says whether it still answers a booked call's changes."""

    answers: bool = True
    asked: int = 0

    async def answers_booking_changes(self, thread_id: str) -> bool:
        self.asked += 1
        return self.answers


@dataclass
class HandoffStore(FakeStore):
    """Human mode from a handoff nobody of the team has acted on."""

    async def silenced(self, channel: str, contact: str) -> str | None:
        return "handoff"


async def _process(
    redis: aioredis.Redis, text: str, *, answers: bool
) -> tuple[BookedEngine, FakeSender]:
    buffer = BurstBuffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=60_000)
    engine, sender = BookedEngine(answers=answers), FakeSender()
    processor = BurstProcessor(
        buffer=buffer, engine=engine, sender=sender, store=HandoffStore()
    )
    await buffer.add(message(text))
    for _ in range(250):
        claimed = await buffer.claim()
        if isinstance(claimed, Burst):
            await processor.process(claimed)
            return engine, sender
        await asyncio.sleep(0.02)
    raise AssertionError("no burst became due")


async def test_an_untouched_booked_handoff_runs_the_graph_without_typing(
    redis: aioredis.Redis,
) -> None:
    engine, sender = await _process(redis, "Can we move it?", answers=True)
    assert [run["texts"] for run in engine.runs] == [["Can we move it?"]]
    assert sender.texts == ["got: Can we move it?"] and sender.typing_calls == 0


async def test_another_handoff_stays_silent(redis: aioredis.Redis) -> None:
    engine, sender = await _process(redis, "Can we move it?", answers=False)
    assert engine.asked == 1 and engine.runs == [] and sender.texts == []


async def test_commands_stay_silenced_in_a_booked_handoff(redis: aioredis.Redis) -> None:
    engine, sender = await _process(redis, "/reset", answers=True)
    assert engine.asked == 0 and engine.runs == [] and engine.resets == []
    assert sender.texts == []
