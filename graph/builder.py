"""The conversation graph: its nodes and how they connect.

    START -> {greeting | qualification | scheduling | handoff} --------------------> END
      |                          |                                           ^
      |                          '-- a trigger fired --> hand_over ----------|
      |-- /human, "talk to a person" -----------------> hand_over           |
      '-- human mode: record only ------------------------------------------'
    START -> summarize -> END       (task "summarize", after the reply is sent)
    START -> release -> END         (task "release", a human gives the contact back)

In the human mode of a `booked` handoff, a request to move or cancel the booked call still goes to
the scheduling agent (the one exception to silence after a handoff; see `graph.routing`).

Agents propose (`draft`); `advance` applies the graph's own rules (stage transitions, triggers)
into a `commit`; `hand_over` adds the handoff; `finish` tells the lead sink and only then applies
the commit, so a sink failure fails the turn and leaves the conversation as it was (see
`graph.state`). `advance` and `finish` are steps inside the agent's node (and `finish` inside
`hand_over`), not nodes of their own: a turn is one graph step in the common case, two with a
handoff, because every LangGraph step costs CPU on every turn (issue #5's turns/s). The turn's
input (`turn_input`) resets the per-turn fields. The checkpointer is injected: `InMemorySaver` in
tests and the terminal chat, the Redis saver in the app, with no change here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agents import burst_texts
from agents import greeting as greeting_agent
from agents import handoff as handoff_agent
from agents import qualification as qualification_agent
from agents import scheduling as scheduling_agent
from graph.events import HandoffEvent, LeadSink, LeadUpdate, Stage, TranscriptLine
from graph.fallback import LANGUAGES, detect_language
from graph.lead import LeadProfile
from graph.routing import (
    AGENT_NODES,
    next_stage,
    route_after_agent,
    route_start,
    stage_for,
)
from graph.state import ContactState, ConversationState, Draft, TurnCommit, TurnOutcome
from graph.summarize import summarize_node
from graph.triggers import evaluate, next_streak
from integrations.llm import AGENT_NAMES, ModelFactory

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from core.config import Settings
    from integrations.calendar.base import Booking, Calendar

__all__ = [
    "Clock", "build_graph", "handoff_event", "lead_update", "recent_transcript", "turn_input",
    "utc_now",
]

Clock = Callable[[], datetime]


class SingleCallAgent(Protocol):
    """The `run` of the greeting, qualification and handoff agents."""

    async def __call__(
        self,
        state: Mapping[str, Any],
        *,
        model: BaseChatModel | None,
        settings: Settings,
        now: datetime,
    ) -> Draft: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def thread_of(config: RunnableConfig) -> str:
    return str((config.get("configurable") or {}).get("thread_id", ""))


# --- Pure builders of what the sink receives ---------------------------------------------------
def recent_transcript(messages: list[AnyMessage], *, limit: int) -> list[Any]:
    """The last `limit` messages as transcript lines for the manager."""
    lines: list[TranscriptLine] = []
    for message in messages[-limit:]:
        if isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
            role: Literal["lead", "bot"] = "lead" if isinstance(message, HumanMessage) else "bot"
            lines.append(TranscriptLine(role=role, text=message.text, message_id=message.id))
    return lines


def lead_update(thread_id: str, state: Mapping[str, Any]) -> LeadUpdate:
    contact = state.get("contact") or {}
    return LeadUpdate(
        thread_id=thread_id,
        channel=contact.get("channel", ""),
        contact=contact.get("contact", ""),
        profile_name=contact.get("profile_name"),
        stage=state.get("stage") or "greeting",
        profile=state.get("profile") or LeadProfile(),
        summary=state.get("summary") or "",
        booking=state.get("booking"),
    )


def handoff_event(thread_id: str, state: Mapping[str, Any], *, recent: int) -> HandoffEvent:
    """The event of the state's last handoff (the same whether built in the graph or after)."""
    contact = state.get("contact") or {}
    record = state["handoff"]
    return HandoffEvent(
        thread_id=thread_id,
        channel=contact.get("channel", ""),
        contact=contact.get("contact", ""),
        profile_name=contact.get("profile_name"),
        reason=record["reason"],
        at=record["at"],
        profile=state.get("profile") or LeadProfile(),
        summary=state.get("summary") or "",
        recent=recent_transcript(list(state.get("messages") or ()), limit=recent),
        booking=state.get("booking"),
    )


def _confirmed(booking: Booking | None) -> bool:
    """A booked call that stands (not cancelled)."""
    return booking is not None and booking.status == "confirmed"


# --- Nodes -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class _Deps:
    settings: Settings
    calendar: Calendar | None
    sink: LeadSink
    models: Mapping[str, BaseChatModel | None]
    clock: Clock


_QUIET: TurnOutcome = {
    "reply": None, "fallback": False, "llm_calls": 0, "handed_off": False, "lead_changed": False,
}


def turn_input(burst: list[HumanMessage], contact: ContactState) -> dict[str, Any]:
    """The input of a turn run: the burst's messages (ids = provider ids) and the contact, and
    the per-turn fields reset (no node of the turn starts from the last turn's draft)."""
    return {
        "task": "turn",
        "messages": burst,
        "burst": [m.id for m in burst],
        "contact": contact,
        "handoff_reason": None,
        "draft": None,
        "commit": None,
        "reply": None,
        "turn": _QUIET,
    }


def _nodes(deps: _Deps) -> dict[str, Callable[..., Any]]:
    settings = deps.settings

    def advance(state: ConversationState, draft: Draft) -> dict[str, Any]:
        """The graph's rules over the agent's draft: stage transitions and handoff triggers."""
        stage: Stage = state.get("stage") or "greeting"
        booked = _confirmed(draft["booking"])
        # A moved call is not a new booking (no second `booked` handoff); a call booked again
        # after a cancellation is.
        booked_now = booked and not _confirmed(state.get("booking"))
        streak = next_streak(state.get("unresolved") or 0, draft["resolved"])
        reason = evaluate(
            stage=stage,
            booked_now=booked_now,
            wants_human=draft["wants_human"],
            texts=burst_texts(state),
            confidence=draft["confidence"],
            streak=streak,
            confidence_threshold=settings.HANDOFF_CONFIDENCE,
            unresolved_limit=settings.HANDOFF_UNRESOLVED,
        )
        commit: TurnCommit = {
            "stage": next_stage(stage, draft["profile"], booked=booked),
            "profile": draft["profile"],
            "language": draft["language"],
            "unresolved": streak,
            "last_confidence": draft["confidence"],
            "booking": draft["booking"],
            "offered_slots": draft["offered_slots"],
            "proposed_slot": draft["proposed_slot"],
            "asked": draft["asked"],
            "changing_booking": draft.get("changing_booking", False),
        }
        return {"draft": draft, "commit": commit, "handoff_reason": reason, "reply": draft["reply"]}

    async def finish(
        state: ConversationState, turn: Mapping[str, Any], config: RunnableConfig
    ) -> dict[str, Any]:
        """Tell the sink, then apply the turn: nothing durable changes if the sink fails.
        `turn` holds the turn's draft, commit, reply and handoff reason."""
        current: dict[str, Any] = {**state, **turn}
        commit = cast(TurnCommit, current.get("commit") or {})
        reply = current.get("reply")
        draft = current.get("draft")
        thread_id = thread_of(config)
        new_messages: list[AnyMessage] = [AIMessage(reply, id=str(uuid.uuid4()))] if reply else []
        after: dict[str, Any] = {**current, **commit}
        after["messages"] = [*(state.get("messages") or ()), *new_messages]
        changed = (
            after.get("stage") != state.get("stage")
            or after.get("profile") != state.get("profile")
            or after.get("booking") != state.get("booking")
        )
        handed_off = current.get("handoff_reason") is not None
        if changed:
            await deps.sink.lead_updated(lead_update(thread_id, after))
        if handed_off:
            await deps.sink.handed_off(
                handoff_event(thread_id, after, recent=settings.HISTORY_KEEP)
            )
        outcome: TurnOutcome = {
            "reply": reply,
            "fallback": bool(draft and draft["fallback"]),
            "llm_calls": draft["llm_calls"] if draft else 0,
            "handed_off": handed_off,
            "lead_changed": changed,
        }
        return {**commit, "messages": new_messages, "turn": outcome}

    async def answered(
        state: ConversationState, draft: Draft, config: RunnableConfig
    ) -> dict[str, Any]:
        """The end of an agent's node: the graph's rules, then the turn ends here, or in
        `hand_over` when a trigger fired (one node per turn in the common case: each LangGraph
        step costs CPU on every turn)."""
        turn = advance(state, draft)
        if turn["handoff_reason"] is not None:
            return turn
        return await finish(state, turn, config)

    def single_call(name: str, run: SingleCallAgent) -> Callable[..., Any]:
        """The node of an agent that answers in one model call (or its fallback)."""

        async def node(state: ConversationState, config: RunnableConfig) -> dict[str, Any]:
            draft = await run(state, model=deps.models[name], settings=settings, now=deps.clock())
            return await answered(state, draft, config)

        return node

    async def scheduling(state: ConversationState, config: RunnableConfig) -> dict[str, Any]:
        draft = await scheduling_agent.run(
            state, model=deps.models["scheduling"], settings=settings, now=deps.clock(),
            calendar=deps.calendar, thread_id=thread_of(config),
        )
        return await answered(state, draft, config)

    async def hand_over(state: ConversationState, config: RunnableConfig) -> dict[str, Any]:
        """Tell the lead a person follows up (in their language), go to human mode and end the
        turn. Reached from an agent whose turn fired a trigger, or straight from the start for
        a plain request for a person (no reason set yet: `requested`)."""
        reason = state.get("handoff_reason") or "requested"
        commit: TurnCommit = dict(state.get("commit") or {})  # type: ignore[assignment]
        language = commit.get("language") or state.get("language")
        if language not in LANGUAGES:
            language = detect_language(" ".join(burst_texts(state))) or language or "en"
        message = handoff_agent.handoff_message(reason, language)
        draft_reply = state.get("reply")
        reply = f"{draft_reply}\n\n{message}" if reason == "booked" and draft_reply else message
        commit["stage"] = "handoff"
        commit["human_mode"] = True
        commit["handoff"] = {"reason": reason, "at": deps.clock()}
        commit["unresolved"] = 0
        commit["language"] = language
        commit["changing_booking"] = False  # a person takes over whatever was under way
        return await finish(
            state, {"commit": commit, "reply": reply, "handoff_reason": reason}, config
        )

    async def summarize(state: ConversationState) -> dict[str, Any]:
        return await summarize_node(state, model=deps.models["summary"], keep=settings.HISTORY_KEEP)

    async def release(state: ConversationState) -> dict[str, Any]:
        """Give the contact back to the bot, remembering that a person handled a stretch."""
        handoff = state.get("handoff")
        profile = state.get("profile") or LeadProfile()
        booking = state.get("booking")
        return {
            "human_mode": False,
            "human_stretch": {
                "started_at": handoff["at"] if handoff else None,
                "released_at": deps.clock(),
                "notes": state.get("release_notes"),
            },
            "stage": stage_for(profile, booked=_confirmed(booking)),
            "changing_booking": False,
            "unresolved": 0,
            "last_confidence": None,
            "proposed_slot": None,
            "release_notes": None,
        }

    return {
        "greeting": single_call("greeting", greeting_agent.run),
        "qualification": single_call("qualification", qualification_agent.run),
        "scheduling": scheduling,
        "handoff": single_call("handoff", handoff_agent.run),
        "hand_over": hand_over,
        "summarize": summarize,
        "release": release,
    }


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver[Any],
    settings: Settings,
    calendar: Calendar | None,
    sink: LeadSink,
    models: ModelFactory,
    clock: Clock = utc_now,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The compiled conversation graph, checkpointed by `checkpointer`.

    `models` gives each agent its chat model (None: that agent uses the fallback policy)."""
    deps = _Deps(
        settings=settings,
        calendar=calendar,
        sink=sink,
        models={name: models(name) for name in AGENT_NAMES},
        clock=clock,
    )
    nodes = _nodes(deps)
    builder = StateGraph(ConversationState)
    for name, node in nodes.items():
        builder.add_node(name, node)
    builder.add_conditional_edges(
        START, route_start, [*AGENT_NODES.values(), "hand_over", "summarize", "release", END]
    )
    for agent in AGENT_NODES.values():
        builder.add_conditional_edges(agent, route_after_agent, ["hand_over", END])
    builder.add_edge("hand_over", END)
    builder.add_edge("summarize", END)
    builder.add_edge("release", END)
    return builder.compile(checkpointer=checkpointer)
