"""The async Redis checkpointer: runs the scripts of `graph.checkpoint.base` on a shared client.

The app builds it on its one `redis.asyncio.Redis` (so checkpoints share the process's connection
pool); tools and tests may open their own with `from_conn_string`. Async only: the graph runs
with `ainvoke`/`astream`, and a sync call would block the event loop this saver lives on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, NoReturn, cast

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

from core.connections import open_redis
from graph.checkpoint.base import (
    DEFAULT_PREFIX,
    DEFAULT_TTL_SECONDS,
    GET_SCRIPT,
    PRUNE_SCRIPT,
    PUT_SCRIPT,
    PUT_WRITES_SCRIPT,
    BaseRedisSaver,
    select_members,
)

__all__ = ["AsyncRedisSaver"]

# How many checkpoints `alist` fetches per round trip.
LIST_BATCH = 16


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
        self._put = redis.register_script(PUT_SCRIPT)
        self._put_writes = redis.register_script(PUT_WRITES_SCRIPT)
        self._get = redis.register_script(GET_SCRIPT)
        self._prune = redis.register_script(PRUNE_SCRIPT)

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
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of `config` (the newest of its namespace without `checkpoint_id`)."""
        thread_id = config["configurable"]["thread_id"]
        args = [
            config["configurable"].get("checkpoint_ns", ""),
            get_checkpoint_id(config) or "",
            self.ttl_ms,
        ]
        reply = await self._get(keys=self.thread_keys(thread_id), args=args)
        return None if reply is None else self.load_tuple(thread_id, reply)

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
            keys = self.thread_keys(thread_id)
            members = cast(list[bytes], await self.redis.zrange(keys[0], 0, -1))
            wanted = select_members(members, ns=ns, checkpoint_id=checkpoint_id, before=before_id)
            for start in range(0, len(wanted), LIST_BATCH):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for member_ns, member_id in wanted[start : start + LIST_BATCH]:
                        await self._get(keys=keys, args=[member_ns, member_id, self.ttl_ms],
                                        client=pipe)
                    replies = await pipe.execute()
                for reply in replies:
                    if reply is None:
                        continue  # pruned or expired since the index was read
                    found = self.load_tuple(thread_id, reply, filter=filter)
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
            thread_id = self.thread_of_index_key(key)
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
        await self._put(keys=self.thread_keys(thread_id), args=args)
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
        await self._put_writes(keys=self.thread_keys(thread_id), args=args)

    async def adelete_thread(self, thread_id: str) -> None:
        """Erase a conversation: every checkpoint, write and value of the thread."""
        await self.redis.delete(*self.thread_keys(thread_id))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """`keep_latest`: keep the newest checkpoint of each namespace (with its writes and
        values); `delete`: erase the threads."""
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}; use 'keep_latest' or 'delete'")
        if not thread_ids:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                if strategy == "delete":
                    pipe.delete(*self.thread_keys(thread_id))
                else:
                    await self._prune(keys=self.thread_keys(thread_id), client=pipe)
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
