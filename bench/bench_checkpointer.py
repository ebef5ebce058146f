"""How much a checkpointer adds to a turn, and how much Redis one conversation costs.

A graph shaped like ours (a router node, one agent node, a stub model with no delay; 30 live
threads whose histories stay at 20 messages, as summarization keeps them) runs the same turns
with no checkpointer, LangGraph's `InMemorySaver`, our `AsyncRedisSaver` (shallow, as the app
runs it, and with full history), and `AsyncPostgresSaver`. Prints p50/p95 turn times, the ratios
the issue sets targets for, and Redis memory per thread (`MEMORY USAGE` of its key). Prints
figures only; asserts nothing.

`AsyncRedisSaver (history, public API)` is our saver with the calls a graph turn makes sent
through redis-py's public API (script objects: `EVALSHA` through `Redis.execute_command`) instead
of its `_ScriptLane`: what the lane saves, measured in the same run (see `graph.checkpoint.aio`
for the decision it backs).

One more variant says how low a Redis saver could go here: `InMemorySaver` plus one bare round
trip to Redis per saver call (a one-line script on one key, through the same connections and
request path as our saver, no payload). LangGraph awaits saver calls one after another, so that
floor is (saver calls per turn) x (cost of a round trip on this machine), whatever the script does.

    uv run python -m bench.bench_checkpointer

Uses REDIS_URL / DATABASE_URL when set (writing only its own keys and its own schema, removed
afterwards), embedded servers in a temporary directory otherwise.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict
from urllib.parse import urlsplit

import psycopg
import redis.asyncio as aioredis
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability
from psycopg.rows import dict_row

from core.connections import open_redis
from core.embedded import start_postgres, start_redis
from domain.lead import Budget, LeadProfile, Need
from graph.checkpoint import AsyncRedisSaver
from graph.checkpoint.aio import _Script, _ScriptLane
from graph.checkpoint.base import PUT_SCRIPT, PUT_WRITES_SCRIPT
from graph.state import SERDE_ALLOWLIST

THREADS = 30
HISTORY = 20  # messages kept in the state, as summarization keeps them
TURNS_PER_THREAD = 20
TTL_SECONDS = 86400
# LangGraph's default ("async": a checkpoint per step, writes per task) and "exit" (one checkpoint
# per run), which is what a shallow checkpointer keeps anyway.
DURABILITIES: tuple[Durability, ...] = ("async", "exit")
TARGET_VS_MEMORY = 1.5
TARGET_VS_POSTGRES = 2.5
TARGET_BYTES_PER_THREAD = 64 * 1024
FLOOR = "floor: memory + bare RTs"
PUBLIC = "AsyncRedisSaver (history, public API)"

LEAD_TEXT = (
    "Hola! Somos una clínica dental con tres sedes en Valencia y queremos cambiar el sistema de "
    "citas. Somos unas 25 personas entre recepción y doctores. ¿Qué precio tendría para nosotros?"
)
BOT_TEXT = (
    "¡Gracias por escribirnos! Para 25 usuarios en tres sedes el plan Business encaja bien: "
    "agenda compartida, recordatorios por WhatsApp y facturación. Para darte un precio exacto, "
    "¿tienes un presupuesto aproximado y para cuándo os gustaría tenerlo funcionando?"
)


def _serde() -> JsonPlusSerializer:
    """The app's serializer (its own types registered), for every saver alike."""
    return JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    lead: LeadProfile | None
    stage: str
    route: str


class StubModel:
    """Answers at once with a message shaped like langchain-openai's (metadata, usage, id)."""

    def __init__(self) -> None:
        self.calls = 0

    async def ainvoke(self, messages: list[AnyMessage]) -> AIMessage:
        self.calls += 1
        return AIMessage(
            content=BOT_TEXT,
            id=f"run-{uuid.uuid4()}",
            response_metadata={"model_name": "stub-4o-mini", "finish_reason": "stop"},
            usage_metadata={"input_tokens": 900, "output_tokens": 80, "total_tokens": 980},
        )


def build_graph(
    model: StubModel, checkpointer: BaseCheckpointSaver[Any] | None
) -> CompiledStateGraph[State, None, State, State]:
    def router(state: State) -> dict[str, Any]:
        return {"route": "qualification" if state.get("lead") else "greeting"}

    async def agent(state: State) -> dict[str, Any]:
        history = state["messages"]
        reply = await model.ainvoke(history[-6:])
        lead = LeadProfile(
            name="Lucía",
            company="Clínica Sonrisa",
            need=Need(words=str(history[-1].content)[:200], summary="appointments for 25 users"),
            budget=Budget(words="unos 300 euros al mes", amount=300.0, currency="EUR"),
        )
        # Keep the last HISTORY messages, as the summarizer would (it runs after the reply).
        overflow = len(history) + 1 - HISTORY
        dropped = [RemoveMessage(id=m.id) for m in history[: max(overflow, 0)] if m.id]
        return {"messages": [*dropped, reply], "lead": lead, "stage": "qualification"}

    builder = StateGraph(State)
    builder.add_node("router", router)
    builder.add_node("agent", agent)
    builder.add_edge(START, "router")
    builder.add_edge("router", "agent")
    builder.add_edge("agent", END)
    return builder.compile(checkpointer=checkpointer)


class RoundTripFloor(InMemorySaver):
    """`InMemorySaver` that also makes one bare round trip to Redis per saver call: the part of
    our saver's cost that no script or encoding can remove."""

    _SCRIPT = _Script("return 1")

    def __init__(self, redis: Any, *, prefix: str, serde: JsonPlusSerializer) -> None:
        super().__init__(serde=serde)
        self._lane = _ScriptLane(redis)
        key = f"{prefix}:{{floor}}".encode()
        self._request = self._SCRIPT.request(b"$%d\r\n%b\r\n" % (len(key), key), [b"x"])
        self.calls = 0  # saver calls LangGraph made (reset after seeding)

    async def _round_trip(self) -> None:
        self.calls += 1
        await self._lane.run(self._request, script=self._SCRIPT)

    async def aget_tuple(self, config: RunnableConfig) -> Any:
        await self._round_trip()
        return self.get_tuple(config)

    async def aput(self, *args: Any, **kwargs: Any) -> RunnableConfig:
        await self._round_trip()
        return self.put(*args, **kwargs)

    async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
        await self._round_trip()
        self.put_writes(*args, **kwargs)


class PublicApiRedisSaver(AsyncRedisSaver):
    """`AsyncRedisSaver` with get, put and put_writes (the calls of a graph turn) run by
    redis-py's script objects on the shared client instead of `_ScriptLane`: the same scripts
    and round trips, through the public API."""

    def __init__(self, redis: aioredis.Redis, **kwargs: Any) -> None:
        super().__init__(redis, **kwargs)  # registers GET_SCRIPT as `_get_script`, for alist
        self._public_put = redis.register_script(PUT_SCRIPT)
        self._public_put_writes = redis.register_script(PUT_WRITES_SCRIPT)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = config["configurable"]["thread_id"]
        args = self.get_args(config)
        reply = await self._get_script(keys=[self.thread_key(thread_id)], args=args)
        return None if reply is None else self.load_tuple(thread_id, args[0].decode(), reply)

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        thread_id = config["configurable"]["thread_id"]
        args = self.put_args(config, checkpoint, metadata, new_versions)
        await self._public_put(keys=[self.thread_key(thread_id)], args=args)
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
        thread_id = config["configurable"]["thread_id"]
        args = self.put_writes_args(config, writes, task_id, task_path)
        await self._public_put_writes(keys=[self.thread_key(thread_id)], args=args)


def _human(text: str) -> HumanMessage:
    return HumanMessage(content=text, id=f"wamid.{uuid.uuid4().hex}")


def _seed_history() -> list[AnyMessage]:
    """HISTORY - 1 earlier messages; the seeding turn's reply makes HISTORY."""
    return [
        _human(LEAD_TEXT) if i % 2 == 0 else AIMessage(content=BOT_TEXT, id=f"seed-{uuid.uuid4()}")
        for i in range(HISTORY - 1)
    ]


class Variant:
    """One graph compiled with one checkpointer (or none), and its turn times."""

    def __init__(
        self,
        name: str,
        tag: str,
        saver: BaseCheckpointSaver[Any] | None,
        *,
        durability: Durability,
    ) -> None:
        self.name, self.tag, self.saver, self.durability = name, tag, saver, durability
        self.graph = build_graph(StubModel(), saver)
        self.configs: list[RunnableConfig] = [
            {"configurable": {"thread_id": f"bench:{tag}:{n}"}} for n in range(THREADS)
        ]
        # Without a checkpointer the caller carries the history, so every variant does the
        # same work per turn.
        self.carried: list[list[AnyMessage]] = [[] for _ in range(THREADS)]
        self.timings: list[float] = []

    def _durability(self) -> Durability | None:
        return None if self.saver is None else self.durability  # LangGraph warns otherwise

    async def seed(self) -> None:
        for n, config in enumerate(self.configs):
            seed: State = {"messages": _seed_history()}
            out = await self.graph.ainvoke(seed, config, durability=self._durability())
            self.carried[n] = list(out["messages"])

    async def turn(self, n: int) -> None:
        message = _human(LEAD_TEXT)
        stateless = self.saver is None
        turn: State = {"messages": [*self.carried[n], message] if stateless else [message]}
        start = time.perf_counter()
        out = await self.graph.ainvoke(turn, self.configs[n], durability=self._durability())
        self.timings.append(time.perf_counter() - start)
        if stateless:
            self.carried[n] = list(out["messages"])


async def run_turns(variants: list[Variant]) -> None:
    """Seed every thread, then TURNS_PER_THREAD timed turns each, round robin over threads.
    The variants take turns back to back (in a rotating order), so that load from anything
    else on the machine falls on all of them alike."""
    for variant in variants:
        await variant.seed()
        if isinstance(variant.saver, RoundTripFloor):
            variant.saver.calls = 0
    for turn in range(TURNS_PER_THREAD):
        for n in range(THREADS):
            shift = (turn * THREADS + n) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                await variant.turn(n)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def memory_per_thread(saver: AsyncRedisSaver, tag: str) -> list[int]:
    """Bytes of every thread of one run: MEMORY USAGE of the thread's key."""
    sizes = []
    for n in range(THREADS):
        key = saver.thread_key(f"bench:{tag}:{n}")
        sizes.append(await saver.redis.memory_usage(key, samples=0) or 0)
    return sizes


@asynccontextmanager
async def postgres_saver(url: str) -> AsyncIterator[AsyncPostgresSaver]:
    """AsyncPostgresSaver in a fresh schema of its own, dropped afterwards."""
    schema = f"bench_checkpoint_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            async with await psycopg.AsyncConnection.connect(
                url,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,
                options=f"-c search_path={schema}",
            ) as conn:
                saver = AsyncPostgresSaver(conn=conn, serde=_serde())
                await saver.setup()
                yield saver
        finally:
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _where(url: str, env: str) -> str:
    if os.environ.get(env):
        parts = urlsplit(url)  # scheme, host and port only: never a password
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    return "embedded"


def report(durability: str, variants: list[Variant]) -> None:
    _out(f"durability={durability!r}")
    _out(f"  {'saver':37s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s}")
    p50: dict[str, float] = {}
    for variant in variants:
        timings = variant.timings
        p50[variant.name] = _pct(timings, 0.5)
        _out(
            f"  {variant.name:37s} {p50[variant.name] * 1000:8.2f} "
            f"{_pct(timings, 0.95) * 1000:8.2f} {statistics.fmean(timings) * 1000:8.2f}"
        )
    redis, memory, postgres = (
        p50["AsyncRedisSaver (shallow)"], p50["InMemorySaver"], p50["AsyncPostgresSaver"]
    )
    _out(
        f"  p50 AsyncRedisSaver (shallow) / InMemorySaver:      {redis / memory:5.2f}x "
        f"(target <= {TARGET_VS_MEMORY}x)"
    )
    _out(
        f"  p50 AsyncPostgresSaver / AsyncRedisSaver (shallow): {postgres / redis:5.2f}x "
        f"(target >= {TARGET_VS_POSTGRES}x)"
    )
    _out(
        "  p50 AsyncRedisSaver (history) / InMemorySaver:      "
        f"{p50['AsyncRedisSaver (history)'] / memory:5.2f}x"
    )
    _out(
        f"  p50 {PUBLIC} / AsyncRedisSaver (history): "
        f"{p50[PUBLIC] / p50['AsyncRedisSaver (history)']:5.2f}x (what _ScriptLane saves)"
    )
    floor_variant = next(v for v in variants if v.name == FLOOR)
    assert isinstance(floor_variant.saver, RoundTripFloor)
    calls = floor_variant.saver.calls / len(floor_variant.timings)
    floor = p50[FLOOR]
    _out(
        f"  saver calls per turn: {calls:.0f}; p50 floor (InMemorySaver + {calls:.0f} bare round "
        f"trips) / InMemorySaver: {floor / memory:5.2f}x, AsyncPostgresSaver / floor: "
        f"{postgres / floor:5.2f}x"
    )
    _out()


async def main() -> None:
    async with AsyncExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        database_url = os.environ.get("DATABASE_URL")
        if not (redis_url and database_url):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cp-")))
            if not redis_url:
                redis_url, redis_handle = start_redis(tmp)
                stack.callback(redis_handle.shutdown)
            if not database_url:
                database_url, pg_handle = start_postgres(tmp)
                stack.callback(pg_handle.cleanup)

        client = open_redis(redis_url)
        stack.push_async_callback(client.aclose)
        server = await client.info("server")
        prefix = f"bench-{uuid.uuid4().hex[:8]}"  # only our keys; removed at the end
        shallow = AsyncRedisSaver(client, ttl_seconds=TTL_SECONDS, prefix=prefix, serde=_serde())
        history = AsyncRedisSaver(
            client, ttl_seconds=TTL_SECONDS, prefix=prefix, shallow=False, serde=_serde()
        )
        public = PublicApiRedisSaver(
            client, ttl_seconds=TTL_SECONDS, prefix=prefix, shallow=False, serde=_serde()
        )
        postgres = await stack.enter_async_context(postgres_saver(database_url))

        _out(
            f"checkpointer bench: {THREADS} threads, {HISTORY}-message histories, "
            f"{TURNS_PER_THREAD} turns per thread ({THREADS * TURNS_PER_THREAD} timed turns per "
            "saver and durability), router + agent nodes, stub model with no delay; "
            "savers interleaved turn by turn"
        )
        _out(
            f"redis: {_where(redis_url, 'REDIS_URL')} (Redis {server['redis_version']}); "
            f"postgres: {_where(database_url, 'DATABASE_URL')}"
        )
        _out()

        started = time.perf_counter()
        for durability in DURABILITIES:
            tag = f"{durability}-"
            variants = [
                Variant("no checkpointer", tag + "none", None, durability=durability),
                Variant("InMemorySaver", tag + "memory", InMemorySaver(serde=_serde()),
                        durability=durability),
                Variant("AsyncRedisSaver (shallow)", tag + "shallow", shallow,
                        durability=durability),
                Variant("AsyncRedisSaver (history)", tag + "history", history,
                        durability=durability),
                Variant(PUBLIC, tag + "public", public, durability=durability),
                Variant("AsyncPostgresSaver", tag + "postgres", postgres, durability=durability),
                Variant(FLOOR, tag + "floor", RoundTripFloor(client, prefix=prefix, serde=_serde()),
                        durability=durability),
            ]
            await run_turns(variants)
            report(durability, variants)
        _out()
        for label, saver in (("shallow", shallow), ("history", history)):
            sizes = await memory_per_thread(saver, f"async-{label}")
            _out(
                f"redis memory per thread after {TURNS_PER_THREAD} turns ({label}, "
                "durability='async'): "
                f"mean {statistics.fmean(sizes):,.0f} B, max {max(sizes):,} B"
                + (f" (target < {TARGET_BYTES_PER_THREAD:,} B)" if label == "shallow" else "")
            )
            if label == "history":
                # The app keeps history during a turn (a stale draft forks from the turn's first
                # checkpoint) and prunes to the newest checkpoint after each turn.
                await saver.aprune(
                    [f"bench:async-history:{n}" for n in range(THREADS)], strategy="keep_latest"
                )
                sizes = await memory_per_thread(saver, "async-history")
                _out(
                    f"redis memory per thread after {TURNS_PER_THREAD} turns (history, pruned "
                    f"after the turn, as the app runs): mean {statistics.fmean(sizes):,.0f} B, "
                    f"max {max(sizes):,} B (target < {TARGET_BYTES_PER_THREAD:,} B)"
                )
        savers = {"shallow": shallow, "history": history, "public": public}
        for durability in DURABILITIES:
            for n in range(THREADS):
                for label, saver in savers.items():
                    await saver.adelete_thread(f"bench:{durability}-{label}:{n}")
        _out(f"total bench time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
