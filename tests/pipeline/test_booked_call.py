"""The burst processor in the `call_booked` mode of a booked call's handoff: it runs the graph
(which answers only a change of the call), without a typing indicator; commands stay silenced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

from domain.contact import ContactMode
from graph.engine import TurnResult
from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore, message


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
