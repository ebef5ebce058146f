"""The Redis checkpointer against real Redis: LangGraph's conformance suite, TTL on every key and
its refresh, one key (with a hash tag) per thread, erasing and pruning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast
from uuid import uuid4

import pytest
import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from redis.crc import key_slot

from graph.checkpoint import AsyncRedisSaver
from graph.checkpoint.aio import _Script
from graph.checkpoint.base import GET_SCRIPT, PUT_SCRIPT, PUT_WRITES_SCRIPT

TTL_SECONDS = 3600
REQUIRED = ("put", "put_writes", "get_tuple", "list", "delete_thread", "prune")


async def _thread_keys(redis: aioredis.Redis, thread_id: str) -> list[bytes]:
    # KEYS is fine here: a test database, and it is how we prove nothing else was written.
    keys = cast(list[bytes], await redis.keys("*"))
    return [key for key in keys if f"{{{thread_id}}}".encode() in key]


async def _field_counts(redis: aioredis.Redis, key: bytes) -> dict[str, int]:
    """How many fields of each kind (c: checkpoints, b: values, w: writes) a thread's hash has."""
    counts = {"c": 0, "b": 0, "w": 0}
    for field in cast(list[bytes], await redis.hkeys(key)):
        kind = field[:1].decode()
        if kind in counts:
            counts[kind] += 1
    return counts


async def _put_chain(
    saver: BaseCheckpointSaver[str], thread_id: str, n: int, *, ns: str = ""
) -> list[RunnableConfig]:
    """n checkpoints on one thread, each the child of the previous, each with a new value of
    the `messages` channel and one pending write."""
    stored: list[RunnableConfig] = []
    version = None
    for step in range(n):
        config = generate_config(thread_id, checkpoint_ns=ns)
        if stored:
            config["configurable"]["checkpoint_id"] = stored[-1]["configurable"]["checkpoint_id"]
        version = saver.get_next_version(version, None)
        checkpoint = generate_checkpoint(
            channel_values={"messages": [f"m{i}" for i in range(step + 1)]},
            channel_versions={"messages": version},
        )
        saved = await saver.aput(
            config, checkpoint, generate_metadata(step=step), {"messages": version}
        )
        await saver.aput_writes(saved, [("messages", f"w{step}")], str(uuid4()))
        stored.append(saved)
    return stored


async def test_conformance_suite_passes(redis_url: str) -> None:
    @checkpointer_test(name="AsyncRedisSaver (history)")
    async def factory() -> AsyncIterator[AsyncRedisSaver]:
        async with AsyncRedisSaver.from_conn_string(
            redis_url, ttl_seconds=TTL_SECONDS, shallow=False
        ) as saver:
            yield saver

    report = await validate(factory, progress=ProgressCallbacks.default())
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    for capability in REQUIRED:
        assert report.results[capability].passed is True, (capability, failures)


async def test_every_key_gets_the_ttl_on_put_and_put_writes(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    thread_id = f"twilio:+3460{uuid4().hex[:6]}"
    stored = await _put_chain(saver, thread_id, 2)
    await _put_chain(saver, thread_id, 1, ns="child:1")

    keys = await _thread_keys(redis, thread_id)
    assert len(keys) == 1  # one hash holds checkpoints, values and writes of every namespace
    assert set(await redis.keys("*")) == set(keys)
    for key in keys:
        assert 0 < await redis.pttl(key) <= TTL_SECONDS * 1000, key

    # put_writes alone refreshes every key too.
    for key in keys:
        await redis.pexpire(key, 5000)
    await saver.aput_writes(stored[-1], [("other", 1)], str(uuid4()))
    for key in keys:
        assert await redis.pttl(key) > 5000, key


async def test_reading_a_thread_refreshes_its_ttl(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    thread_id = str(uuid4())
    await _put_chain(saver, thread_id, 2)
    keys = await _thread_keys(redis, thread_id)
    for key in keys:
        await redis.pexpire(key, 5000)

    assert await saver.aget_tuple(generate_config(thread_id)) is not None
    for key in keys:
        assert 5000 < await redis.pttl(key) <= TTL_SECONDS * 1000, key

    for key in keys:
        await redis.pexpire(key, 5000)
    assert len([t async for t in saver.alist(generate_config(thread_id))]) == 2
    for key in keys:
        assert await redis.pttl(key) > 5000, key


@pytest.mark.parametrize("shallow", [False, True])
async def test_the_latest_id_without_loading_the_checkpoint(
    redis: aioredis.Redis, shallow: bool
) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=shallow)
    thread_id = str(uuid4())
    assert await saver.alatest_id(thread_id) is None
    stored = await _put_chain(saver, thread_id, 3)
    await _put_chain(saver, thread_id, 1, ns="child")
    newest = stored[-1]["configurable"]["checkpoint_id"]
    latest = await saver.aget_tuple(generate_config(thread_id))
    assert latest is not None and latest.config["configurable"]["checkpoint_id"] == newest
    assert await saver.alatest_id(thread_id) == newest
    assert await saver.alatest_id(thread_id, "child") not in (None, newest)
    # A read: the TTL is refreshed.
    [key] = await _thread_keys(redis, thread_id)
    await redis.pexpire(key, 5000)
    await saver.alatest_id(thread_id)
    assert await redis.pttl(key) > 5000


async def test_a_missing_thread_is_not_created_by_a_read(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)
    assert await saver.aget_tuple(generate_config("nobody")) is None
    assert await saver.alatest_id("nobody") is None
    assert [t async for t in saver.alist(generate_config("nobody"))] == []
    assert await redis.keys("*") == []


async def test_a_thread_is_one_key_named_with_its_hash_tag(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    threads = ["meta:5511999990000", "twilio:+34600000000", "odd {id} with braces}"]
    for thread_id in threads:
        await _put_chain(saver, thread_id, 2)
        await _put_chain(saver, thread_id, 2, ns="agent:1f0a")

    all_keys = set(await redis.keys("*"))
    for thread_id in threads:
        keys = await _thread_keys(redis, thread_id)
        assert len(keys) == 1
        assert key_slot(keys[0]) == key_slot(f"{{{thread_id}}}".encode()), keys
        all_keys -= set(keys)
    assert all_keys == set()


async def test_delete_thread_erases_every_key_of_that_thread_only(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    await _put_chain(saver, "gone", 3)
    await _put_chain(saver, "gone", 1, ns="child:1")
    await _put_chain(saver, "kept", 2)

    await saver.adelete_thread("gone")

    assert await _thread_keys(redis, "gone") == []
    assert len(await _thread_keys(redis, "kept")) == 1
    assert await saver.aget_tuple(generate_config("gone")) is None
    assert len([t async for t in saver.alist(generate_config("kept"))]) == 2


async def test_prune_keeps_the_latest_checkpoint_its_writes_and_values(
    redis: aioredis.Redis,
) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    stored = await _put_chain(saver, "t", 4)
    [key] = await _thread_keys(redis, "t")
    assert (await _field_counts(redis, key))["b"] == 4

    await saver.aprune(["t"])

    latest = await saver.aget_tuple(generate_config("t"))
    assert latest is not None
    assert latest.config == stored[-1]
    assert latest.checkpoint["channel_values"] == {"messages": ["m0", "m1", "m2", "m3"]}
    assert [w[1:] for w in latest.pending_writes or []] == [("messages", "w3")]
    # the older checkpoints, their writes and values are gone too
    assert await _field_counts(redis, key) == {"c": 1, "b": 1, "w": 1}


async def test_shallow_mode_keeps_one_checkpoint_and_bounded_keys(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)  # shallow is the default
    await _put_chain(saver, "t", 3)
    [key] = await _thread_keys(redis, "t")
    sizes = await _field_counts(redis, key)
    stored = await _put_chain(saver, "t", 6)

    listed = [t async for t in saver.alist(generate_config("t"))]
    assert [t.config["configurable"]["checkpoint_id"] for t in listed] == [
        stored[-1]["configurable"]["checkpoint_id"]
    ]
    assert listed[0].checkpoint["channel_values"]["messages"] == [f"m{i}" for i in range(6)]
    assert [w[1:] for w in listed[0].pending_writes or []] == [("messages", "w5")]
    assert await _field_counts(redis, key) == sizes == {"c": 1, "b": 1, "w": 1}


def test_sync_methods_say_the_saver_is_async_only(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis)
    with pytest.raises(NotImplementedError, match="async only"):
        saver.get_tuple(generate_config("t"))
    with pytest.raises(NotImplementedError, match="async only"):
        saver.put(generate_config("t"), generate_checkpoint(), generate_metadata(), {})


async def test_a_client_that_decodes_responses_is_refused(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode_responses"):
            AsyncRedisSaver(client)
    finally:
        await client.aclose()


async def test_shallow_mode_ignores_what_a_newer_checkpoint_superseded(
    redis: aioredis.Redis,
) -> None:
    # Under durability="async" a put can reach Redis before the writes of its parent's tasks.
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)
    first, second = await _put_chain(saver, "t", 2)
    [key] = await _thread_keys(redis, "t")
    before = await _field_counts(redis, key)

    await saver.aput_writes(first, [("messages", "late")], str(uuid4()))
    older = generate_checkpoint(channel_values={"messages": ["old"]})
    older["id"] = "0" + first["configurable"]["checkpoint_id"][1:]  # sorts before both
    await saver.aput(generate_config("t"), older, generate_metadata(), {})

    assert await _field_counts(redis, key) == before
    latest = await saver.aget_tuple(generate_config("t"))
    assert latest is not None and latest.config == second
    assert latest.checkpoint["channel_values"] == {"messages": ["m0", "m1"]}


async def test_a_script_missing_on_the_server_is_loaded_and_run(redis: aioredis.Redis) -> None:
    # A restarted or flushed server has no scripts; text no server has seen stands in for that.
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)
    marker = f"\n-- {uuid4()}\n"
    saver._put = _Script(PUT_SCRIPT + marker)
    saver._put_writes = _Script(PUT_WRITES_SCRIPT + marker)
    saver._get = _Script(GET_SCRIPT + marker)

    [stored] = await _put_chain(saver, "t", 1)

    latest = await saver.aget_tuple(generate_config("t"))
    assert latest is not None and latest.config == stored
    assert [w[1:] for w in latest.pending_writes or []] == [("messages", "w0")]


async def test_a_connection_the_server_closed_is_replaced(redis_url: str) -> None:
    name = f"cp-test-{uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url, client_name=name)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        saver = AsyncRedisSaver(client, ttl_seconds=TTL_SECONDS)
        await _put_chain(saver, f"t-{name}", 1)
        killed = 0
        for entry in await admin.client_list():
            if entry.get("name") == name:
                killed += await admin.client_kill_filter(_id=entry["id"])
        assert killed >= 1

        assert await saver.aget_tuple(generate_config(f"t-{name}")) is not None
        await saver.adelete_thread(f"t-{name}")
    finally:
        await client.aclose()
        await admin.aclose()


async def test_prune_of_many_threads_prunes_each(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS, shallow=False)
    for thread_id in ("a", "b"):
        await _put_chain(saver, thread_id, 3)
        await _put_chain(saver, thread_id, 2, ns="child:1")

    await saver.aprune(["a", "b"])

    for thread_id in ("a", "b"):
        [key] = await _thread_keys(redis, thread_id)
        assert await _field_counts(redis, key) == {"c": 2, "b": 2, "w": 2}  # one per namespace
        assert len([t async for t in saver.alist(generate_config(thread_id))]) == 1


async def test_shallow_get_finds_the_newest_of_its_namespace(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)  # reads the newest with HGETALL
    root = await _put_chain(saver, "t", 2)
    child = await _put_chain(saver, "t", 3, ns="child:1")

    got_root = await saver.aget_tuple(generate_config("t"))
    got_child = await saver.aget_tuple(generate_config("t", checkpoint_ns="child:1"))

    assert got_root is not None and got_root.config == root[-1]
    assert got_root.checkpoint["channel_values"] == {"messages": ["m0", "m1"]}
    assert got_root.parent_config == root[0]
    assert got_child is not None and got_child.config == child[-1]
    assert [w[1:] for w in got_child.pending_writes or []] == [("messages", "w2")]
    assert await saver.aget_tuple(generate_config("t", checkpoint_ns="other:2")) is None
    assert await saver.aget_tuple(generate_config("nobody")) is None
    assert len(await redis.keys("*")) == 1
