"""The async Redis checkpointer: runs the scripts of `graph.checkpoint.base` on a shared client.

The app builds it on its one `redis.asyncio.Redis` (so checkpoints share the process's connection
pool and its settings: address, auth, TLS, timeouts, retry policy); tools and tests may open their
own with `from_conn_string`. Async only: the graph runs with `ainvoke`/`astream`, and a sync call
would block the event loop this saver lives on.

Why the hot path (`aput`, `aput_writes`, `aget_tuple`, `alatest_id`, and `aprune` of one thread)
does not go through `Redis.execute_command`: LangGraph awaits saver calls one after another (up
to 8 a turn), and redis-py spends more client CPU per call on its pool bookkeeping, observability
hooks, send deadline task and generic argument packing than the script takes on the server.
`_ScriptLane` leases connections from the client's own pool, keeps them between calls, and sends
EVALSHA requests (or, to read a shallow thread, HGETALL + PEXPIRE) packed here (keys and
arguments are bytes already), with the client's retry policy and a NOSCRIPT fallback. Each call
still waits for Redis's reply: a returned `aput`/`aput_writes` means the data is in Redis. Leased
connections stay counted as in use by the pool for the saver's life (at most `LANE_IDLE_MAX` idle
ones), so build one saver per client and keep it, as the app does; `client.aclose()` disconnects
them with the rest of the pool.

The lane uses redis-py internals, which an upgrade may change. Issue #12 weighed it against the
same scripts and round trips through the public API (`register_script` objects: EVALSHA through
`execute_command` on the shared pool), measured on this 2-core machine, shared and busy, with
redis-py 8.1 and the machine's Redis 7.0 and Postgres (REDIS_URL, DATABASE_URL set); the public
API cost:
- a graph turn: p50 1.08-1.18x with durability "exit" (the app's), 1.14-1.22x with "async", in
  6 runs of `uv run python -m bench.bench_checkpointer` (its "public API" row over "history",
  interleaved turn by turn in one process);
- the service: 14% fewer turns/s (median public/lane 0.86, range 0.54-1.74; the public API ahead
  in 6 of 30 pairs) and 11% more server CPU per turn, in 10 runs of each alternating, 3 worker
  layouts each, of section 3 (sustained turns/s) of `uv run python -m bench.bench_pipeline`, on
  this tree and on a copy whose hot path was that public-API variant.
That is over the 5% of turns/s the issue allows, so the lane stays, pinned:
tests/graph/test_checkpoint_lane.py fails, naming the internal, when redis-py changes one it
relies on (pool lending and release, `connection_kwargs`, `socket_timeout`, packed sends and
their replies and error replies, NOSCRIPT, `call_with_retry`, disconnect on a cancelled read or a
closed socket, `aclose` of leased connections).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, cast

import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.connections import open_redis
from graph.checkpoint.base import (
    DEFAULT_PREFIX,
    DEFAULT_TTL_SECONDS,
    GET_SCRIPT,
    PRUNE_SCRIPT,
    PUT_SCRIPT,
    PUT_WRITES_SCRIPT,
    BaseRedisSaver,
    decode_items,
    select_checkpoints,
)

if TYPE_CHECKING:
    from redis.asyncio.connection import AbstractConnection

__all__ = ["AsyncRedisSaver"]

# How many checkpoints `alist` fetches per round trip.
LIST_BATCH = 16
# Connections a saver keeps between calls; more are returned to the pool after use. Enough for
# the concurrent calls of a few graph runs (LangGraph overlaps a step's writes with the next put).
LANE_IDLE_MAX = 8


def _bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


class _Script:
    """A Lua script: its source, its SHA1 and the RESP head of an EVALSHA of it on one key."""

    __slots__ = ("head", "source")

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        sha = hashlib.sha1(self.source).hexdigest().encode()
        self.head = b"$7\r\nEVALSHA\r\n" + _bulk(sha) + b"$1\r\n1\r\n"

    def request(self, key: bytes, args: Sequence[bytes]) -> bytes:
        """EVALSHA of this script on `key` (a RESP bulk string) with `args`."""
        parts = [b"*%d\r\n" % (4 + len(args)), self.head, key]
        for arg in args:
            parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
        return b"".join(parts)


class _ScriptLane:
    """Runs requests (EVALSHA, or a few plain commands sent together) on connections leased from a
    client's pool and kept between calls.

    A connection that fails is disconnected by redis-py and reconnects on its next use; the
    client's retry policy decides whether a call is tried again (every script here is idempotent:
    running one twice leaves what running it once does). The client's `socket_timeout` bounds each
    exchange (request and reply together) here, instead of redis-py bounding the send and the read
    apart: its send deadline runs the write in a task of its own (`asyncio.wait_for`), an extra
    event-loop turn on every call."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._pool = redis.connection_pool
        self._timeout: float | None = self._pool.connection_kwargs.get("socket_timeout")
        self._idle: list[AbstractConnection] = []

    async def run(self, request: bytes, *, script: _Script | None = None, replies: int = 1) -> Any:
        """Send `request` (an EVALSHA of `script`, or `replies` plain commands) and return the
        first reply."""
        kept = bool(self._idle)
        if kept:
            conn = self._idle.pop()
        else:
            conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            conn.socket_timeout = None  # bounded per exchange instead (see the class docstring)
        try:
            try:
                return await conn.retry.call_with_retry(
                    lambda: self._exchange(conn, request, script, replies),
                    lambda _: conn.disconnect(),
                )
            except RedisConnectionError:
                if not kept:
                    raise
                # The server may have closed a kept connection while it sat idle (its `timeout`,
                # a restart, a failover), which the pool checks before it hands one out. redis-py
                # has disconnected it; try once more on a new connection.
                return await conn.retry.call_with_retry(
                    lambda: self._exchange(conn, request, script, replies),
                    lambda _: conn.disconnect(),
                )
        finally:
            if len(self._idle) < LANE_IDLE_MAX:
                self._idle.append(conn)
            else:
                conn.socket_timeout = self._timeout
                await self._pool.release(conn)

    async def _exchange(
        self, conn: AbstractConnection, request: bytes, script: _Script | None, replies: int
    ) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                await conn.send_packed_command(request)
                if script is None:
                    return await self._read_replies(conn, replies)
                try:
                    return await conn.read_response()
                except NoScriptError:
                    # A server that restarted or flushed its scripts: load it and send it again.
                    await conn.send_packed_command(
                        b"*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n" + _bulk(script.source)
                    )
                    await conn.read_response()
                    await conn.send_packed_command(request)
                    return await conn.read_response()
        except TimeoutError as exc:
            # redis-py disconnected the connection when the deadline cancelled its send or read.
            raise RedisTimeoutError(f"Redis did not answer within {self._timeout} s") from exc

    @staticmethod
    async def _read_replies(conn: AbstractConnection, replies: int) -> Any:
        """The first of `replies` replies; every one is read (the connection stays usable) before
        an error reply is raised."""
        first, error = None, None
        for n in range(replies):
            try:
                reply = await conn.read_response()
            except ResponseError as exc:
                error = error or exc
                continue
            if n == 0:
                first = reply
        if error is not None:
            raise error
        return first


class AsyncRedisSaver(BaseRedisSaver):
    """A LangGraph checkpointer on plain Redis 6.2+ (core commands only), with a TTL per thread.

    `shallow=True` (the default, for this product) keeps only the newest checkpoint of each
    namespace of a thread: bounded memory, no time travel. `shallow=False` keeps the history
    until the TTL, `aprune` or `adelete_thread` removes it.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        shallow: bool = True,
        prefix: str = DEFAULT_PREFIX,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, shallow=shallow, prefix=prefix, serde=serde)
        if redis.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError(
                "the Redis client decodes responses to str; checkpoints are bytes, so pass a "
                "client made without decode_responses=True"
            )
        self.redis = redis
        self._lane = _ScriptLane(redis)
        self._put = _Script(PUT_SCRIPT)
        self._put_writes = _Script(PUT_WRITES_SCRIPT)
        self._get = _Script(GET_SCRIPT)
        self._prune = _Script(PRUNE_SCRIPT)  # the app prunes its thread after every turn
        # Batches (`alist`, pruning many threads) use redis-py's own script objects in pipelines.
        self._get_script = redis.register_script(GET_SCRIPT)
        self._prune_script = redis.register_script(PRUNE_SCRIPT)

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        url: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        shallow: bool = True,
        prefix: str = DEFAULT_PREFIX,
        serde: SerializerProtocol | None = None,
    ) -> AsyncIterator[AsyncRedisSaver]:
        """A saver on its own client for `url`, closed on exit."""
        client = open_redis(url)
        try:
            yield cls(client, ttl_seconds=ttl_seconds, shallow=shallow, prefix=prefix, serde=serde)
        finally:
            await client.aclose()

    # --- reads --------------------------------------------------------------------------------
    async def alatest_id(self, thread_id: str, checkpoint_ns: str = "") -> str | None:
        """The id of the newest checkpoint of a namespace of the thread (None if it has none),
        without loading that checkpoint: HGET of the namespace's newest field + PEXPIRE (a read
        refreshes the TTL), one round trip. The app reads it before every turn: the checkpoint a
        re-run of the burst forks from."""
        key = self.packed_key(thread_id)
        newest = await self._lane.run(
            b"*3\r\n$4\r\nHGET\r\n%b%b*3\r\n$7\r\nPEXPIRE\r\n%b%b"
            % (key, _bulk(b"n\x00" + checkpoint_ns.encode()), key, _bulk(self._ttl_arg)),
            replies=2,
        )
        return None if newest is None else decode_items(newest)[0].decode()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of `config` (the newest of its namespace without `checkpoint_id`)."""
        thread_id = config["configurable"]["thread_id"]
        if self.shallow and not get_checkpoint_id(config):
            # A shallow thread holds little beyond its newest checkpoint: read the whole hash
            # with plain HGETALL + PEXPIRE (one round trip), sparing the values' trip through Lua.
            key = self.packed_key(thread_id)
            fields = await self._lane.run(
                b"*2\r\n$7\r\nHGETALL\r\n%b*3\r\n$7\r\nPEXPIRE\r\n%b%b"
                % (key, key, _bulk(self._ttl_arg)),
                replies=2,
            )
            ns = config["configurable"].get("checkpoint_ns", "")
            reply = self.newest_in_fields(ns, fields)
            return None if reply is None else self.load_tuple(thread_id, ns, reply)
        args = self.get_args(config)
        request = self._get.request(self.packed_key(thread_id), args)
        reply = await self._lane.run(request, script=self._get)
        return None if reply is None else self.load_tuple(thread_id, args[0].decode(), reply)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first. With a thread in `config` this reads that thread's keys
        only; without one it SCANs for every thread (an admin tool, never the hot path)."""
        if limit is not None and limit <= 0:
            return
        if config is None:
            thread_ids = [t async for t in self._all_threads()]
            ns, checkpoint_id = None, None
        else:
            thread_ids = [config["configurable"]["thread_id"]]
            ns = config["configurable"].get("checkpoint_ns")
            checkpoint_id = get_checkpoint_id(config)
        before_id = get_checkpoint_id(before) if before else None
        for thread_id in thread_ids:
            key = self.thread_key(thread_id)
            fields = cast(list[bytes], await self.redis.hkeys(key))
            wanted = select_checkpoints(
                fields, ns=ns, checkpoint_id=checkpoint_id, before=before_id
            )
            for start in range(0, len(wanted), LIST_BATCH):
                batch = wanted[start : start + LIST_BATCH]
                async with self.redis.pipeline(transaction=False) as pipe:
                    for member_ns, member_id in batch:
                        args: list[str | int] = [member_ns, member_id, self.ttl_ms]
                        await self._get_script(keys=[key], args=args, client=pipe)
                    replies = await pipe.execute()
                for (member_ns, _), reply in zip(batch, replies, strict=True):
                    if reply is None:
                        continue  # pruned or expired since the field names were read
                    found = self.load_tuple(thread_id, member_ns, reply, filter=filter)
                    if found is None:
                        continue
                    yield found
                    if limit is not None:
                        limit -= 1
                        if limit <= 0:
                            return

    async def _all_threads(self) -> AsyncIterator[str]:
        seen: set[str] = set()
        async for key in self.redis.scan_iter(match=self.scan_pattern(), count=500):
            thread_id = self.thread_of_key(key)
            if thread_id is not None and thread_id not in seen:
                seen.add(thread_id)
                yield thread_id

    # --- writes -------------------------------------------------------------------------------
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and its new channel values in one round trip (pruning older ones
        of its namespace in shallow mode) and refresh the thread's TTL."""
        thread_id = config["configurable"]["thread_id"]
        args = self.put_args(config, checkpoint, metadata, new_versions)
        await self._lane.run(self._put.request(self.packed_key(thread_id), args), script=self._put)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": config["configurable"].get("checkpoint_ns", ""),
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's pending writes in one round trip and refresh the thread's TTL."""
        thread_id = config["configurable"]["thread_id"]
        args = self.put_writes_args(config, writes, task_id, task_path)
        request = self._put_writes.request(self.packed_key(thread_id), args)
        await self._lane.run(request, script=self._put_writes)

    async def adelete_thread(self, thread_id: str) -> None:
        """Erase a conversation: every checkpoint, write and value of the thread."""
        await self.redis.delete(self.thread_key(thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """`keep_latest`: keep the newest checkpoint of each namespace (with its writes and
        values); `delete`: erase the threads."""
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        if not thread_ids:
            return
        if strategy == "keep_latest" and len(thread_ids) == 1:
            request = self._prune.request(self.packed_key(thread_ids[0]), ())
            await self._lane.run(request, script=self._prune)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                if strategy == "delete":
                    pipe.delete(self.thread_key(thread_id))
                else:
                    await self._prune_script(keys=[self.thread_key(thread_id)], client=pipe)
            await pipe.execute()

    # --- sync API: refused ----------------------------------------------------------------------
    def _sync(self, method: str) -> NoReturn:
        raise NotImplementedError(
            f"AsyncRedisSaver is async only; call a{method}() (graph.ainvoke / astream / "
            "aget_state) instead of the sync method."
        )

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        self._sync("get_tuple")

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        self._sync("list")

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._sync("put")

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._sync("put_writes")

    def delete_thread(self, thread_id: str) -> None:
        self._sync("delete_thread")

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._sync("prune")
