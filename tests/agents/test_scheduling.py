"""The booked-call exception to silence after a handoff, piece by piece: the keyword net that
spots "can we move it?", the routing rule, and the burst processor running the graph in the
contact's `call_booked` mode."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from langchain_core.messages import HumanMessage
from langgraph.graph import END

from agents.intents import booking_change_request
from agents.scheduling.tools import lead_zone
from domain.booking import Booking
from domain.contact import ContactMode
from graph.engine import TurnResult
from graph.routing import changes_booking, first_step
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
        "stage": "handoff", "booking": BOOKING,
        "messages": [HumanMessage(values.pop("text", "Can we move it?"), id="m1")],
        "burst": ["m1"], **values,
    }


@pytest.mark.parametrize(
    ("values", "mode", "route"),
    [
        ({}, ContactMode.CALL_BOOKED, "scheduling"),
        ({"text": "Thanks!"}, ContactMode.CALL_BOOKED, END),
        ({"text": "the second", "changing_booking": True}, ContactMode.CALL_BOOKED, "scheduling"),
        # Another handoff, or a person on it: silent.
        ({}, ContactMode.WAITING, END),
        ({}, ContactMode.HUMAN, END),
        ({"booking": None}, ContactMode.CALL_BOOKED, END),
        ({"booking": Booking(id="e", start=START, end=START, calendar="local",
                             status="cancelled")}, ContactMode.CALL_BOOKED, END),
        # The bot has the conversation back (released): a change still goes to scheduling.
        ({}, ContactMode.BOT, "scheduling"),
        ({"text": "Thanks!"}, ContactMode.BOT, "follow_up"),
    ],
)
def test_routing_of_a_booked_lead(values: dict[str, Any], mode: ContactMode, route: str) -> None:
    current = state(**values)
    assert first_step(current, mode) == route
    assert changes_booking(current, mode) is (route == "scheduling")


def test_lead_zone_uses_the_countrys_main_zone() -> None:
    # A Spanish mobile prefix spans Madrid and the Canaries: Madrid, not the business's zone.
    assert lead_zone(None, "+34612345678", "America/New_York").key == "Europe/Madrid"
    assert lead_zone("Atlantic/Canary", "+34612345678", "UTC").key == "Atlantic/Canary"


# --- The processor -----------------------------------------------------------------------------


@dataclass
class BookedEngine(FakeEngine):
    """A fake engine whose turns in `call_booked` answer only when `answers` (a change)."""

    answers: bool = True

    def result(self, reply: str | None, *, mode: ContactMode) -> TurnResult:
        if mode is ContactMode.CALL_BOOKED and not self.answers:
            reply = None
        return super().result(reply, mode=mode)


@dataclass
class HandoffStore(FakeStore):
    """A handoff nobody of the team has acted on: `call_booked` for a booked call's."""

    handoff_mode: ContactMode = ContactMode.CALL_BOOKED

    async def mode(self, channel: str, number: str) -> ContactMode:
        return self.handoff_mode


async def _process(
    redis: aioredis.Redis, text: str, *, answers: bool = True,
    mode: ContactMode = ContactMode.CALL_BOOKED,
) -> tuple[BookedEngine, FakeSender]:
    buffer = BurstBuffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=60_000)
    engine, sender = BookedEngine(answers=answers), FakeSender()
    processor = BurstProcessor(
        buffer=buffer, engine=engine, sender=sender, store=HandoffStore(handoff_mode=mode)
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
    engine, sender = await _process(redis, "Can we move it?")
    assert [(run["texts"], run["mode"]) for run in engine.runs] == [
        (["Can we move it?"], ContactMode.CALL_BOOKED)
    ]
    assert sender.texts == ["got: Can we move it?"] and sender.typing_calls == 0


async def test_a_booked_handoff_records_the_rest_silently(redis: aioredis.Redis) -> None:
    engine, sender = await _process(redis, "Thanks, see you!", answers=False)
    assert len(engine.runs) == 1 and sender.texts == []


async def test_another_handoff_stays_silent(redis: aioredis.Redis) -> None:
    engine, sender = await _process(redis, "Can we move it?", mode=ContactMode.WAITING)
    assert engine.runs == [] and sender.texts == []


async def test_commands_stay_silenced_in_a_booked_handoff(redis: aioredis.Redis) -> None:
    engine, sender = await _process(redis, "/reset")
    assert engine.runs == [] and engine.resets == []
    assert sender.texts == []
