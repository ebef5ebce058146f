from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from pipeline.buffer import BufferFull, Burst, BurstBuffer
from tests.pipeline.fakes import message


def _buffer(
    redis: aioredis.Redis, *, quiet_ms: int = 150, max_wait_ms: int = 1000, lease_ms: int = 60_000
) -> BurstBuffer:
    return BurstBuffer(redis, quiet_ms=quiet_ms, max_wait_ms=max_wait_ms, lease_ms=lease_ms)


async def _claim_when_due(buffer: BurstBuffer, timeout: float = 5.0) -> Burst:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        claimed = await buffer.claim()
        if isinstance(claimed, Burst):
            return claimed
        await asyncio.sleep(0.02)
    raise AssertionError("no burst became due")


async def test_five_messages_in_the_quiet_gap_make_one_burst_in_order(
    redis: aioredis.Redis,
) -> None:
    buffer = _buffer(redis)
    sent = [message(f"part {i}") for i in range(5)]
    for m in sent:
        assert await buffer.add(m)
    waiting = await buffer.claim()
    assert isinstance(waiting, float) and 0 < waiting <= 0.15  # not due before the quiet gap
    burst = await _claim_when_due(buffer)
    assert [m.text for m in burst.messages] == [f"part {i}" for i in range(5)]
    assert burst.messages == sent
    assert burst.attempts == 1


async def test_a_repeated_delivery_is_dropped(redis: aioredis.Redis) -> None:
    buffer = _buffer(redis)
    first = message("hola", mid="wamid.same")
    assert await buffer.add(first) is True
    assert await buffer.add(message("hola", mid="wamid.same")) is False
    burst = await _claim_when_due(buffer)
    assert [m.message_id for m in burst.messages] == ["wamid.same"]
    assert await redis.ttl("wa:seen:meta:wamid.same") > 7 * 24 * 3600  # covers Meta's retry window


async def test_a_contact_holds_at_most_max_messages_pending_and_in_flight(
    redis: aioredis.Redis,
) -> None:
    # 500 messages in half a second once became one burst (and a 112,764-character summary).
    now = [1_000_000.0]
    buffer = BurstBuffer(redis, quiet_ms=1500, max_wait_ms=6000, max_messages=5,
                         clock=lambda: now[0])
    for i in range(4):
        assert await buffer.add(message(f"m{i}"))
    assert not isinstance(await buffer.claim(), Burst)  # not due yet: the quiet gap runs
    assert await buffer.add(message("m4"))  # the fifth fills the buffer: due at once
    refused = message("m5")
    with pytest.raises(BufferFull):
        await buffer.add(refused)
    burst = await buffer.claim()
    assert isinstance(burst, Burst)
    assert [m.text for m in burst.messages] == [f"m{i}" for i in range(5)]
    # While the five are in flight, the contact still holds five: the next is refused too.
    with pytest.raises(BufferFull):
        await buffer.add(message("m6"))
    assert await buffer.ack(burst)
    assert await buffer.add(message("m7"))
    # A refused message counts as seen: its redelivery is a duplicate, not a new message.
    assert await buffer.add(refused) is False


async def test_max_wait_caps_a_long_burst(redis: aioredis.Redis) -> None:
    now = [1_000_000.0]
    buffer = BurstBuffer(redis, quiet_ms=300, max_wait_ms=500, clock=lambda: now[0])
    # A message every 100 ms would postpone a pure quiet-gap rule forever.
    for i in range(5):
        await buffer.add(message(f"m{i}"))
        now[0] += 0.1
        assert not isinstance(await buffer.claim(), Burst)
    now[0] += 0.001  # 500 ms after the first message, though the last was 100 ms ago
    burst = await buffer.claim()
    assert isinstance(burst, Burst)
    assert [m.text for m in burst.messages] == [f"m{i}" for i in range(5)]


async def test_the_quiet_gap_restarts_with_each_message(redis: aioredis.Redis) -> None:
    now = [1_000_000.0]
    buffer = BurstBuffer(redis, quiet_ms=300, max_wait_ms=5000, clock=lambda: now[0])
    await buffer.add(message("a"))
    now[0] += 0.25
    await buffer.add(message("b"))
    now[0] += 0.25  # 500 ms after "a", 250 ms after "b": not quiet yet
    waiting = await buffer.claim()
    assert isinstance(waiting, float) and abs(waiting - 0.05) < 0.002
    now[0] += 0.07
    burst = await buffer.claim()
    assert isinstance(burst, Burst) and [m.text for m in burst.messages] == ["a", "b"]
    assert burst.due_at == 1_000_000.55  # 300 ms after "b": the queue lag counts from here


async def test_two_workers_never_hold_one_contact(redis: aioredis.Redis) -> None:
    buffer = _buffer(redis, quiet_ms=0, max_wait_ms=0)
    await buffer.add(message("a"))
    first, second = await asyncio.gather(buffer.claim(), buffer.claim())
    bursts = [c for c in (first, second) if isinstance(c, Burst)]
    assert len(bursts) == 1
    # A message arriving while it is held waits for the holder, not for a second worker.
    await buffer.add(message("b"))
    assert not isinstance(await buffer.claim(), Burst)
    assert await buffer.ack(bursts[0])
    nxt = await _claim_when_due(buffer)
    assert [m.text for m in nxt.messages] == ["b"]


async def test_contacts_are_independent(redis: aioredis.Redis) -> None:
    buffer = _buffer(redis, quiet_ms=0, max_wait_ms=0)
    await buffer.add(message("a", contact="+34600000001"))
    await buffer.add(message("b", contact="+34600000002"))
    one, two = await buffer.claim(), await buffer.claim()
    assert isinstance(one, Burst) and isinstance(two, Burst)
    assert {one.thread_id, two.thread_id} == {"meta:+34600000001", "meta:+34600000002"}


async def test_an_expired_lease_gives_the_burst_to_another_worker(redis: aioredis.Redis) -> None:
    buffer = _buffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=200)
    await buffer.add(message("a"))
    dead = await _claim_when_due(buffer)
    await buffer.add(message("b"))
    retaken = await _claim_when_due(buffer)
    assert retaken.attempts == 2
    assert [m.text for m in retaken.messages] == ["a", "b"]
    assert await buffer.ack(dead) is False  # the dead worker's token no longer counts
    assert await buffer.ack(retaken) is True
    assert await buffer.claim() is None


async def test_merge_takes_new_messages_unless_the_reply_is_going_out(
    redis: aioredis.Redis,
) -> None:
    buffer = _buffer(redis, quiet_ms=0, max_wait_ms=0)
    await buffer.add(message("a"))
    burst = await _claim_when_due(buffer)
    await buffer.add(message("b"))
    assert await buffer.has_new(burst)
    assert [m.text for m in await buffer.merge_new(burst)] == ["b"]
    assert [m.text for m in burst.messages] == ["a", "b"]
    await buffer.set_state(burst, "reply", "answer to a and b")
    await buffer.add(message("c"))
    assert await buffer.merge_new(burst) == []
    await buffer.ack(burst)
    nxt = await _claim_when_due(buffer)
    assert [m.text for m in nxt.messages] == ["c"]


async def test_release_retries_later_with_the_same_messages(redis: aioredis.Redis) -> None:
    buffer = _buffer(redis, quiet_ms=0, max_wait_ms=0)
    await buffer.add(message("a"))
    burst = await _claim_when_due(buffer)
    await buffer.set_state(burst, "base", "cp-1")
    assert await buffer.release(burst, retry_in_seconds=0.2)
    assert not isinstance(await buffer.claim(), Burst)
    again = await _claim_when_due(buffer)
    assert again.attempts == 2 and [m.text for m in again.messages] == ["a"]
    assert (await buffer.get_state(again))["base"] == "cp-1"
