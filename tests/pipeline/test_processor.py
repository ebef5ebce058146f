from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from domain.language import load_detector
from domain.texts import text as fixed_text
from pipeline.buffer import Burst, BurstBuffer
from pipeline.processor import BurstProcessor
from pipeline.workers import WorkerPool
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore, message


def _setup(
    redis: aioredis.Redis,
    *,
    lease_ms: int = 60_000,
    clock: Callable[[], float] = time.time,
    **kwargs: object,
) -> tuple[BurstBuffer, FakeEngine, FakeSender, FakeStore, BurstProcessor]:
    buffer = BurstBuffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=lease_ms, clock=clock)
    engine, sender, store = FakeEngine(), FakeSender(), FakeStore()
    processor = BurstProcessor(buffer=buffer, engine=engine, sender=sender, store=store, **kwargs)  # type: ignore[arg-type]
    return buffer, engine, sender, store, processor


async def _claim(buffer: BurstBuffer) -> Burst:
    for _ in range(250):
        claimed = await buffer.claim()
        if isinstance(claimed, Burst):
            return claimed
        await asyncio.sleep(0.02)
    raise AssertionError("no burst became due")


async def test_a_burst_gets_one_reply_then_summary(redis: aioredis.Redis) -> None:
    buffer, engine, sender, store, processor = _setup(redis)
    await buffer.add(message("hola"))
    await buffer.add(message("quiero precios"))
    await processor.process(await _claim(buffer))
    assert sender.texts == ["got: hola | quiero precios"]
    assert len(engine.runs) == 1 and engine.summaries == 1
    assert engine.summary_hints == [2]  # the turn's history size: no state read to decide
    assert len(store.inbound) == 2 and store.outbound == ["got: hola | quiero precios"]
    assert sender.typing_calls == 1
    assert await buffer.claim() is None  # acked, nothing left


async def test_a_message_during_the_model_call_is_merged_into_one_reply(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    engine.gate = asyncio.Event()
    await buffer.add(message("I need 20 licences"))
    task = asyncio.create_task(processor.process(await _claim(buffer)))
    await engine.started.wait()
    await buffer.add(message("for next month"))
    engine.gate.set()
    await task
    assert sender.texts == ["got: I need 20 licences | for next month"]
    assert len(engine.runs) == 2
    assert engine.runs[1]["base"] == "cp-0"  # the stale run is discarded: re-run from the start
    assert await buffer.claim() is None


async def test_re_runs_are_bounded_for_a_chatty_lead(redis: aioredis.Redis) -> None:
    buffer, engine, sender, _, processor = _setup(redis, max_reruns=2)
    await buffer.add(message("m0"))
    burst = await _claim(buffer)
    original = engine.run_turn
    count = 0

    async def chatty(*args: object, **kwargs: object) -> object:
        nonlocal count
        count += 1
        await buffer.add(message(f"more {count}"))
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    engine.run_turn = chatty  # type: ignore[method-assign,assignment]
    await processor.process(burst)
    assert len(sender.texts) == 1  # the reply went out despite the stream of messages
    assert count == 3
    nxt = await _claim(buffer)  # the message of the last run forms the next burst
    assert [m.text for m in nxt.messages] == ["more 3"]


async def test_a_message_while_the_reply_is_sent_forms_the_next_burst(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    await buffer.add(message("first"))
    original = sender.send_text

    async def send_and_receive(channel: str, to: str, text: str) -> list[str]:
        await buffer.add(message("second"))
        return await original(channel, to, text)

    sender.send_text = send_and_receive  # type: ignore[method-assign]
    await processor.process(await _claim(buffer))
    sender.send_text = original  # type: ignore[method-assign]
    await processor.process(await _claim(buffer))
    assert sender.texts == ["got: first", "got: second"]


async def test_a_turn_longer_than_the_lease_keeps_it_and_replies_once(
    redis: aioredis.Redis,
) -> None:
    load_detector()  # as the server does at start-up: loading it blocks the loop for seconds
    buffer, engine, sender, _, processor = _setup(redis, lease_ms=600)
    engine.gate = asyncio.Event()  # a slow model: the turn outlasts the lease several times
    await buffer.add(message("do you integrate with SAP?"))
    task = asyncio.create_task(processor.process(await _claim(buffer)))
    await engine.started.wait()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # another worker keeps trying to take the burst
        assert not isinstance(await buffer.claim(), Burst), "the renewed lease was taken"
        await asyncio.sleep(0.05)
    engine.gate.set()
    await task
    assert sender.texts == ["got: do you integrate with SAP?"]
    assert len(engine.runs) == 1 and await buffer.claim() is None


async def test_a_failure_redis_cannot_hand_back_says_when_it_is_really_retried(
    redis: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    buffer, engine, _, _, processor = _setup(redis, lease_ms=30_000)
    engine.fail = 1

    async def redis_gone(burst: Burst, *, retry_in_seconds: float) -> bool:
        raise ConnectionError("Redis is unreachable")

    await buffer.add(message("hello"))
    burst = await _claim(buffer)
    buffer.release = redis_gone  # type: ignore[method-assign]
    await processor.process(burst)
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1
    assert "retried when its lease expires (within 30 s)" in failed[0]
    assert "retrying in" not in failed[0]


async def test_a_worker_cancelled_mid_burst_loses_nothing_and_replies_once(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis, lease_ms=300)
    sender.limit = 10  # a reply in several parts
    sender.block_after = 1  # the worker dies after sending the first part
    await buffer.add(message("please send me the full price list"))
    dying = asyncio.create_task(processor.process(await _claim(buffer)))
    await sender.blocked.wait()
    dying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dying
    sender.block_after = None
    retry = await _claim(buffer)  # due again once the dead worker's lease expired
    assert retry.attempts == 2
    await processor.process(retry)
    reply = "got: please send me the full price list"
    assert "".join(sender.texts) == reply  # every part once, in order, none repeated
    assert len(engine.runs) == 1  # the drafted reply was reused, not drafted again
    assert engine.summary_hints == [2]  # and the turn's history size with it


async def test_a_crash_before_the_reply_re_runs_from_the_first_checkpoint(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis, lease_ms=300)
    engine.gate = asyncio.Event()
    await buffer.add(message("hello"))
    dying = asyncio.create_task(processor.process(await _claim(buffer)))
    await engine.started.wait()
    dying.cancel()
    engine.checkpoint = "cp-after-half-run"  # the dead run may have written a checkpoint
    engine.gate.set()
    retry = await _claim(buffer)
    await processor.process(retry)
    assert engine.runs[-1]["base"] == "cp-0"
    assert sender.texts == ["got: hello"]


async def test_a_failure_fixed_by_a_retry_gets_no_apology(redis: aioredis.Redis) -> None:
    # Issue #15 item 4: a short Postgres cut gave every lead "Sorry, we couldn't process your
    # request" and, five seconds later, the real reply.
    now = [1_000_000.0]
    buffer, engine, sender, _, processor = _setup(redis, clock=lambda: now[0])
    engine.fail = 1
    await buffer.add(message("hola, necesito una cotización"))
    await processor.process(await _claim(buffer))
    assert sender.texts == []
    now[0] += 2  # the retry, 2 s later, goes through
    await processor.process(await _claim(buffer))
    assert sender.texts == ["got: hola, necesito una cotización"]


async def test_a_burst_failing_for_apology_after_apologizes_once_then_answers(
    redis: aioredis.Redis,
) -> None:
    now = [1_000_000.0]
    buffer, engine, sender, _, processor = _setup(redis, clock=lambda: now[0], apology_after=30)
    engine.fail = 4
    await buffer.add(message("hola, necesito una cotización"))
    for after in (0, 2, 4):  # the first failure and retries at 2 s and 6 s (backoff 2 s, 4 s)
        now[0] += after
        await processor.process(await _claim(buffer))
    assert sender.texts == []  # failing for 6 s: not yet
    now[0] += 24  # failing for 30 s now
    await processor.process(await _claim(buffer))
    apology = "Lo sentimos, no pudimos procesar tu solicitud. Por favor, inténtalo más tarde."
    assert sender.texts == [apology]
    now[0] += 16
    await processor.process(await _claim(buffer))
    assert sender.texts == [apology, "got: hola, necesito una cotización"]  # no second apology
    assert await buffer.claim() is None


async def test_an_undeliverable_reply_is_not_retried_forever(redis: aioredis.Redis) -> None:
    from integrations.whatsapp.errors import WindowClosed

    buffer, engine, sender, store, processor = _setup(redis)

    async def closed(channel: str, to: str, text: str) -> list[str]:
        raise WindowClosed("the 24-hour window closed", provider="meta", code=131047)

    sender.send_text = closed  # type: ignore[method-assign]
    await buffer.add(message("hello after two days"))
    await processor.process(await _claim(buffer))
    assert len(engine.runs) == 1 and len(store.inbound) == 1  # the lead and messages are kept
    assert await buffer.claim() is None  # acked: no retry loop


async def test_no_apology_to_a_contact_known_to_be_silenced(redis: aioredis.Redis) -> None:
    buffer, engine, sender, store, processor = _setup(redis)
    store.human, store.fail_record = True, 1  # recording fails; the store still knows the mode
    processor.apology_after = 0  # an apology would be due at once
    await buffer.add(message("hello?"))
    await processor.process(await _claim(buffer))
    assert sender.texts == []
    store.human, store.opted_out, store.fail_record = False, True, 1
    await redis.zadd("wa:due", {"meta:+34600111222": 0})
    await processor.process(await _claim(buffer))
    assert sender.texts == []
    await redis.zadd("wa:due", {"meta:+34600111222": 0})
    await processor.process(await _claim(buffer))  # recorded now; still silent, nothing lost
    assert sender.texts == []
    assert len(store.inbound) == 1 and await buffer.claim() is None


async def test_the_next_burst_waits_for_the_summary_of_the_previous_one(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    engine.summary_gate = asyncio.Event()
    await buffer.add(message("first"))
    task = asyncio.create_task(processor.process(await _claim(buffer)))
    while not sender.sent:
        await asyncio.sleep(0.01)  # the reply is out before the summary starts
    await buffer.add(message("second"))
    assert not isinstance(await buffer.claim(), Burst)  # still leased while summarizing
    engine.summary_gate.set()
    await task
    assert [m.text for m in (await _claim(buffer)).messages] == ["second"]


async def test_a_retry_whose_start_checkpoint_is_gone_runs_on_the_latest(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    engine.fail = 1
    await buffer.add(message("hello"))
    await processor.process(await _claim(buffer))  # fails; retried as a fork from cp-0
    engine.base_gone = True  # ...which meanwhile expired
    await redis.zadd("wa:due", {"meta:+34600111222": 0})
    await processor.process(await _claim(buffer))
    assert sender.texts[-1] == "got: hello"
    assert engine.runs[-1]["base"] is None


async def test_an_idle_human_stretch_is_released_in_the_graph_before_the_store(
    redis: aioredis.Redis,
) -> None:
    buffer, engine, sender, store, processor = _setup(redis)
    store.stretch_over, engine.fail_release = "Agreed 10% off", 1
    await buffer.add(message("hi again"))
    await processor.process(await _claim(buffer))  # the graph release fails: the store keeps it
    assert store.stretch_over == "Agreed 10% off" and engine.runs == []
    await redis.zadd("wa:due", {"meta:+34600111222": 0})
    await processor.process(await _claim(buffer))
    assert engine.releases == ["Agreed 10% off"] and store.stretch_over is None
    assert sender.texts[-1] == "got: hi again"


async def test_no_apology_once_part_of_the_reply_went_out(redis: aioredis.Redis) -> None:
    buffer, engine, sender, _, processor = _setup(redis, apology_after=0)
    sender.limit = 10
    original = sender.send_text

    async def second_part_fails(channel: str, to: str, text: str) -> list[str]:
        if sender.sent:
            raise ConnectionError("provider 503")
        return await original(channel, to, text)

    sender.send_text = second_part_fails  # type: ignore[method-assign]
    await buffer.add(message("tell me everything"))
    await processor.process(await _claim(buffer))
    assert sender.texts == ["got: tell "]  # the first part only, and no apology after it


async def test_backoff_is_capped_after_many_attempts(redis: aioredis.Redis) -> None:
    buffer, engine, _, _, processor = _setup(redis)
    engine.fail = 1
    await buffer.add(message("hello"))
    await redis.hset("wa:c:{meta:+34600111222}:state", "attempts", 5000)
    burst = await _claim(buffer)
    await processor.process(burst)  # no OverflowError: released with the capped delay
    score = await redis.zscore("wa:due", "meta:+34600111222")
    assert score is not None and 290_000 <= score - burst.due_at * 1000 <= 301_000  # 300 s


async def test_a_send_failure_keeps_the_burst(redis: aioredis.Redis) -> None:
    buffer, engine, sender, _, processor = _setup(redis, apology_after=0)
    sender.fail = 2  # the reply and the apology both fail
    await buffer.add(message("hello"))
    await processor.process(await _claim(buffer))
    assert sender.texts == []
    await redis.zadd("wa:due", {"meta:+34600111222": 0})
    await processor.process(await _claim(buffer))
    assert sender.texts == ["got: hello"]
    assert len(engine.runs) == 1


async def test_opt_out_is_confirmed_once_then_silence_until_start(redis: aioredis.Redis) -> None:
    buffer, engine, sender, store, processor = _setup(redis)
    workers = WorkerPool(buffer, processor)
    for text in ["STOP", "hello?", "stop"]:
        await buffer.add(message(text))
        await workers.run_once()
    assert sender.texts == [
        "You won't receive more messages from us. Send /start if you change your mind."
    ]
    assert engine.runs == []
    assert len(store.inbound) == 3  # still recorded
    await buffer.add(message("/start"))
    await workers.run_once()
    assert store.opted_out is False
    assert sender.texts[-1] == "Welcome back! How can I help you?"


async def test_human_mode_keeps_the_bot_silent(redis: aioredis.Redis) -> None:
    buffer, engine, sender, store, processor = _setup(redis)
    store.human = True
    await buffer.add(message("are you there?"))
    await WorkerPool(buffer, processor).run_once()
    assert sender.texts == [] and engine.runs == []
    assert len(store.inbound) == 1


async def test_reset_and_help_commands(redis: aioredis.Redis) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    workers = WorkerPool(buffer, processor)
    await buffer.add(message("/reset"))
    await workers.run_once()
    await buffer.add(message("/ayuda"))
    await workers.run_once()
    assert engine.resets == ["meta:+34600111222"]
    assert sender.texts[0] == "Done, we're starting over. How can I help you?"
    assert sender.texts[1] == fixed_text("commands.help", "es")  # /ayuda is Spanish
    assert engine.runs == []


async def test_worker_pool_processes_in_the_background(redis: aioredis.Redis) -> None:
    buffer, engine, sender, _, processor = _setup(redis)
    workers = WorkerPool(buffer, processor, concurrency=2, poll_max=0.05)
    workers.start()
    try:
        for contact in ("+34600000001", "+34600000002", "+34600000003"):
            await buffer.add(message("hi", contact=contact))
        workers.wake()
        for _ in range(200):
            if len(sender.sent) == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        await workers.stop()
    assert sorted(to for _, to, _ in sender.sent) == [
        "+34600000001",
        "+34600000002",
        "+34600000003",
    ]
