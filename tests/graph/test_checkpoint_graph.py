"""A real LangGraph graph compiled with the Redis checkpointer: state survives a new process
(messages, pydantic models, datetimes), an idle conversation expires and starts fresh, /reset
erases it, and an interrupted run resumes in shallow mode."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypedDict, cast
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, interrupt

from domain.lead import Budget, LeadProfile, Need, Timeline
from graph.checkpoint import AsyncRedisSaver

MADRID = ZoneInfo("Europe/Madrid")
TTL_SECONDS = 600
TTL_MS = TTL_SECONDS * 1000
# How far below the TTL a key's PTTL may be when read right after the write that set it.
SLACK_MS = 10_000


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    lead: LeadProfile | None
    last_seen: dt.datetime | None
    route: str


def _router(state: State) -> dict[str, Any]:
    return {"route": "agent"}


def _agent(state: State) -> dict[str, Any]:
    said = state["messages"][-1].content
    lead = (state.get("lead") or LeadProfile()).model_copy(
        update={
            "name": "Ana",
            "need": Need(words=str(said), summary="CRM seats", message_id="wamid.1"),
            "budget": Budget(words="about 10k euros", amount=10000.0, currency="EUR"),
            "timeline": Timeline(words="by june", date=dt.date(2026, 6, 1)),
        }
    )
    reply = AIMessage(content=f"got: {said}", tool_calls=[], id=f"ai-{len(state['messages'])}")
    seen = dt.datetime(2026, 3, 1, 10, 30, tzinfo=MADRID)
    return {"messages": [reply], "lead": lead, "last_seen": seen}


def _build(saver: AsyncRedisSaver) -> CompiledStateGraph[State, None, State, State]:
    builder = StateGraph(State)
    builder.add_node("router", _router)
    builder.add_node("agent", _agent)
    builder.add_edge(START, "router")
    builder.add_edge("router", "agent")
    builder.add_edge("agent", END)
    return builder.compile(checkpointer=saver)


def _turn(text: str) -> State:
    return {"messages": [HumanMessage(content=text)]}


def _thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


async def test_state_round_trips_through_redis_into_a_new_saver(redis_url: str) -> None:
    config = _thread("twilio:+34600000001")
    async with AsyncRedisSaver.from_conn_string(redis_url, ttl_seconds=600) as saver:
        graph = _build(saver)
        await graph.ainvoke(_turn("hola"), config)
        await graph.ainvoke(_turn("I need 5 CRM seats"), config)

    # A new client and saver, as another worker process would have.
    async with AsyncRedisSaver.from_conn_string(redis_url, ttl_seconds=600) as saver:
        state = (await _build(saver).aget_state(config)).values

    messages = state["messages"]
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert [m.content for m in messages] == [
        "hola", "got: hola", "I need 5 CRM seats", "got: I need 5 CRM seats"
    ]
    assert messages[-1].id == "ai-3"
    lead = state["lead"]
    assert isinstance(lead, LeadProfile)
    assert lead.budget == Budget(words="about 10k euros", amount=10000.0, currency="EUR")
    assert lead.timeline is not None and lead.timeline.date == dt.date(2026, 6, 1)
    assert lead.missing_bant() == ["authority"]
    assert state["last_seen"] == dt.datetime(2026, 3, 1, 10, 30, tzinfo=MADRID)
    assert state["last_seen"].utcoffset() == dt.timedelta(hours=1)


async def test_an_idle_conversation_expires_after_the_ttl(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)
    graph = _build(saver)
    config = _thread("meta:5511999990000")
    await graph.ainvoke(_turn("first visit"), config)
    assert len((await graph.aget_state(config)).values["messages"]) == 2

    # The whole conversation is set to expire one TTL after its last use.
    keys = cast(list[bytes], await redis.keys("*"))
    assert keys
    for key in keys:
        assert TTL_MS - SLACK_MS < await redis.pttl(key) <= TTL_MS, key
    # Idle for the whole TTL: Redis drops the keys. (A non-positive PEXPIRE deletes a key, as
    # its expiry would, without the test waiting for the clock.)
    for key in keys:
        await redis.pexpire(key, 0)

    assert await saver.aget_tuple(config) is None
    assert await redis.keys("*") == []
    result = await graph.ainvoke(_turn("back again"), config)
    assert [m.content for m in result["messages"]] == ["back again", "got: back again"]


async def test_use_refreshes_the_ttl_so_an_active_conversation_keeps_its_state(
    redis: aioredis.Redis,
) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=TTL_SECONDS)
    graph = _build(saver)
    config = _thread("t")
    gap_ms = TTL_MS * 7 // 10  # each gap is well under the TTL; the four add up to more
    for text in ("one", "two", "three", "four"):
        await graph.ainvoke(_turn(text), config)
        [key] = cast(list[bytes], await redis.keys("*"))
        assert TTL_MS - SLACK_MS < await redis.pttl(key) <= TTL_MS  # the turn refreshed it
        await redis.pexpire(key, TTL_MS - gap_ms)  # idle for gap_ms: that much of the TTL is gone
    assert len((await graph.aget_state(config)).values["messages"]) == 8


async def test_reset_erases_the_conversation(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=600)
    graph = _build(saver)
    mine = _thread("mine")
    other = _thread("other")
    await graph.ainvoke(_turn("hello"), mine)
    await graph.ainvoke(_turn("hello"), other)

    await saver.adelete_thread("mine")

    assert (await graph.aget_state(mine)).values == {}
    assert len((await graph.aget_state(other)).values["messages"]) == 2
    result = await graph.ainvoke(_turn("new start"), mine)
    assert len(result["messages"]) == 2


async def test_shallow_mode_memory_stays_flat_while_history_grows(redis: aioredis.Redis) -> None:
    saver = AsyncRedisSaver(redis, ttl_seconds=600)
    graph = _build(saver)
    config = _thread("t")
    # durability="sync": every write has landed when ainvoke returns, so the counts compare
    # like for like (with "async", pending writes may land before or after the pruning put).
    await graph.ainvoke(_turn("turn 0"), config, durability="sync")
    keys = cast(list[bytes], await redis.keys("*"))
    fields = {k: await redis.hlen(k) for k in keys}
    for turn in range(1, 6):
        await graph.ainvoke(_turn(f"turn {turn}"), config, durability="sync")

    history = [s async for s in graph.aget_state_history(config)]
    assert len(history) == 1
    assert len(history[0].values["messages"]) == 12
    assert {k: await redis.hlen(k) for k in fields} == fields


async def test_an_interrupted_run_resumes_in_shallow_mode(redis: aioredis.Redis) -> None:
    def ask(state: State) -> dict[str, Any]:
        answer = interrupt("which day suits you?")
        return {"messages": [AIMessage(content=f"booked {answer}")]}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=AsyncRedisSaver(redis, ttl_seconds=600))
    config = _thread("t")

    first = await graph.ainvoke(_turn("book me"), config)
    assert first["__interrupt__"][0].value == "which day suits you?"
    result = await graph.ainvoke(Command(resume="tuesday"), config)
    assert [m.content for m in result["messages"]] == ["book me", "booked tuesday"]
