"""The steps of a turn, one module function each; `graph.builder` wires them into the graph.

    an agent (greeting | qualification | scheduling | follow_up)   proposes a `draft`
    apply_rules   the graph's own rules over the draft: stage transitions and handoff triggers
    hand_over     a trigger fired (or the lead asked for a person): the handoff message and record
    record        tells the lead sink, then makes the turn's changes the conversation's state

Every step gets the state and LangGraph's `Runtime` carrying the turn's `TurnContext` (models,
calendar, sink, clock, contact, mode); only the agents and `record` do I/O, through it.
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.runtime import Runtime

from agents import follow_up as follow_up_agent
from agents import greeting as greeting_agent
from agents import qualification as qualification_agent
from agents.draft import Draft
from agents.fallback.policy import ITEMS, next_item, offer_reply
from agents.inputs import AgentInput
from agents.intents import request_language
from agents.scheduling import agent as scheduling_agent
from agents.scheduling.tools import lead_zone
from agents.single_call import SingleCallAgent
from domain.booking import Booking, confirmed
from domain.events import HandoffRecord, Stage
from domain.language import detect_language, number_language
from domain.lead import LeadProfile, first_name
from domain.texts import DEFAULT_LANGUAGE, LANGUAGES, text
from graph.context import TurnContext
from graph.guards import REPLY_GUARDS, claims_booking, claims_change, shorten
from graph.lead_events import handoff_event, lead_update
from graph.options import reply_options
from graph.qualification import assess
from graph.routing import burst_texts, next_stage
from graph.state import ConversationState, TurnCommit, TurnOutcome
from graph.triggers import evaluate, next_streak

__all__ = [
    "QUIET",
    "agent_input",
    "apply_rules",
    "follow_up",
    "greeting",
    "hand_over",
    "qualification",
    "record",
    "scheduling",
]

QUIET: TurnOutcome = {
    "reply": None, "options": None, "fallback": False, "llm_calls": 0, "handed_off": False,
    "lead_changed": False,
}
"""The outcome of a turn that only records the lead's messages (the turn's input sets it)."""


def agent_input(state: ConversationState, context: TurnContext) -> AgentInput:
    """What the agent of this turn sees (`agents.inputs.AgentInput`)."""
    messages: list[AnyMessage] = list(state.get("messages") or ())
    ids = set(state.get("burst") or ())
    return AgentInput(
        contact=context.contact,
        now=context.clock(),
        business=context.business,
        burst=[m for m in messages if isinstance(m, HumanMessage) and m.id in ids],
        history=messages,
        summary=state.get("summary") or "",
        stage=state.get("stage"),
        profile=state.get("profile") or LeadProfile(),
        language=state.get("language"),
        asked=state.get("asked"),
        offered_slots=list(state.get("offered_slots") or ()),
        proposed_slot=state.get("proposed_slot"),
        booking=state.get("booking"),
        changing_booking=bool(state.get("changing_booking")),
        human_stretch=state.get("human_stretch"),
        fit=judged.fit if (judged := state.get("qualification")) else None,
    )


# --- The agents ----------------------------------------------------------------------------------
async def _one_call(
    agent: SingleCallAgent, model: str, state: ConversationState, ctx: TurnContext
) -> dict[str, Any]:
    draft = await agent.run(agent_input(state, ctx), model=ctx.models[model], settings=ctx.settings)
    return {"draft": draft}


async def greeting(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    return await _one_call(greeting_agent.AGENT, "greeting", state, runtime.context)


async def qualification(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    return await _one_call(qualification_agent.AGENT, "qualification", state, runtime.context)


async def follow_up(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    return await _one_call(follow_up_agent.AGENT, follow_up_agent.MODEL, state, runtime.context)


async def scheduling(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    ctx = runtime.context
    draft = await scheduling_agent.run(
        agent_input(state, ctx), model=ctx.models["scheduling"], settings=ctx.settings,
        calendar=ctx.calendar,
    )
    return {"draft": draft}


# --- The rules -----------------------------------------------------------------------------------
def apply_rules(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """The graph's rules over the agent's draft: the lead's qualification, the next stage, the
    guards on the reply, and the handoff the turn triggers."""
    ctx = runtime.context
    settings = ctx.settings
    draft: Draft | None = state.get("draft")
    assert draft is not None, "apply_rules runs after an agent"
    stage: Stage = state.get("stage") or "greeting"
    before: Booking | None = state.get("booking")
    booked = confirmed(draft["booking"])
    # A moved call is not a new booking (no second `booked` handoff); a call booked again after a
    # cancellation is.
    booked_now = booked and not confirmed(before)
    known = state.get("qualification")
    judged = assess(
        draft["profile"], ctx.business.qualification,
        disqualified_by=draft["disqualified_by"] or (known.disqualified_by if known else None),
        today=ctx.clock().date(),
    )
    after = next_stage(stage, draft["profile"], booked=booked, fit=judged.fit)
    language = draft["language"] or state.get("language")
    closing = after == "closed" and stage != "closed"
    zone = _lead_zone(state, ctx)
    reoffered = False
    if closing:
        name = first_name(draft["profile"].name)
        reply = text(f"closing.{judged.fit}", language, name=f", {name}" if name else "")
    elif draft["invented"]:
        reply = without_invented(draft, first_turn=state.get("stage") is None)
    else:
        reply = guarded_reply(draft, before=before, view_zone=zone)
        reoffered = reply != draft["reply"] and bool(draft["offered_slots"])
        reply = shorten(reply, settings.REPLY_MAX_CHARS)
        if reply != draft["reply"] and len(draft["reply"]) > settings.REPLY_MAX_CHARS:
            REPLY_GUARDS.labels(guard="too_long").inc()
    # An evasive answer to the bot's question counts as unresolved (the fallback reports None).
    resolved = draft["resolved"]
    if resolved is not None and draft["answered"] is False:
        resolved = False
    streak = next_streak(state.get("unresolved") or 0, resolved)
    reason = evaluate(
        stage=stage,
        booked_now=booked_now,
        wants_human=draft["wants_human"],
        stuck=draft["stuck"],
        texts=burst_texts(state),
        confidence=draft["confidence"],
        streak=streak,
        confidence_threshold=settings.HANDOFF_CONFIDENCE,
        unresolved_limit=settings.HANDOFF_UNRESOLVED,
    )
    if closing and reason in ("low_confidence", "unresolved"):
        reason = None  # the lead is told where they stand; no person needs to step in
    commit: TurnCommit = {
        "stage": after,
        "profile": draft["profile"],
        "qualification": judged,
        "language": draft["language"],
        "unresolved": streak,
        "last_confidence": draft["confidence"],
        "booking": draft["booking"],
        "offered_slots": draft["offered_slots"],
        "proposed_slot": draft["proposed_slot"],
        "asked": draft["asked"],
        "changing_booking": draft["changing_booking"],
    }
    options = reply_options(
        draft, before=stage, after=after, booking_changed=draft["booking"] != before,
        reoffered=reoffered, business=ctx.business, zone=zone, language=language,
    )
    return {"commit": commit, "handoff_reason": reason, "reply": reply, "options": options}


def _lead_zone(state: ConversationState, ctx: TurnContext) -> ZoneInfo:
    profile = state.get("profile") or LeadProfile()
    return lead_zone(profile.timezone, ctx.contact.contact, ctx.settings.TIMEZONE)


def without_invented(draft: Draft, *, first_turn: bool) -> str:
    """Instead of a reply that states a fact the lead never gave (`Draft.invented`): the question
    for that fact, or for the next one missing, in the lead's language (`graph.guards`)."""
    REPLY_GUARDS.labels(guard="invented_fact").inc()
    language, profile, field = draft["language"], draft["profile"], draft["invented"]
    item = field if field in ITEMS and getattr(profile, field) is None else next_item(profile)
    reply = text(f"ask.{item}" if item else "greeting.thanks", language)
    return f"{text('greeting.hello', language, name='')} {reply}" if first_turn else reply


def guarded_reply(draft: Draft, *, before: Booking | None, view_zone: ZoneInfo) -> str:
    """The draft's reply, unless it claims a booking (or a change of one) the turn did not make:
    then the offered slots again (saying nothing is booked yet), or a neutral text asking for a
    time (`graph.guards`)."""
    reply = draft["reply"]
    changed = draft["booking"] != before
    false_booking = claims_booking(reply) and not (changed or confirmed(before))
    false_change = claims_change(reply) and not changed
    if not (false_booking or false_change):
        return reply
    REPLY_GUARDS.labels(guard="false_booking").inc()
    language = draft["language"]
    if draft["offered_slots"]:
        offer = offer_reply(draft["offered_slots"], view_zone, language)
        return f"{text('guard.not_yet', language)} {offer}"
    return text("guard.not_booked", language)


def hand_over(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Tell the lead a person follows up (in their language) and make the handoff part of the
    turn. Reached after the rules fired a trigger, or straight from the start for a plain request
    for a person (no reason set yet: `requested`)."""
    reason = state.get("handoff_reason") or "requested"
    commit: TurnCommit = {**(state.get("commit") or {})}
    language = commit.get("language") or state.get("language")
    if language not in LANGUAGES:
        said = burst_texts(state)
        language = (
            request_language(said) or detect_language(" ".join(said)) or language
            or number_language(runtime.context.contact.contact) or DEFAULT_LANGUAGE
        )
    message = text(f"handoff.{reason}", language)
    draft_reply = state.get("reply")
    reply = f"{draft_reply}\n\n{message}" if reason == "booked" and draft_reply else message
    commit["stage"] = "handoff"
    commit["handoff"] = HandoffRecord(reason=reason, at=runtime.context.clock())
    commit["unresolved"] = 0
    commit["language"] = language
    commit["changing_booking"] = False  # a person takes over whatever was under way
    return {"commit": commit, "reply": reply, "options": None, "handoff_reason": reason}


# --- The record ----------------------------------------------------------------------------------
async def record(state: ConversationState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
    """Tell the lead sink, then apply the turn: nothing durable changes if the sink fails."""
    ctx = runtime.context
    commit: TurnCommit = state.get("commit") or {}
    reply = state.get("reply")
    draft = state.get("draft")
    new_messages: list[AnyMessage] = [AIMessage(reply, id=str(uuid.uuid4()))] if reply else []
    after: dict[str, Any] = {**state, **commit}
    after["messages"] = [*(state.get("messages") or ()), *new_messages]
    changed = (
        after.get("stage") != state.get("stage")
        or after.get("profile") != state.get("profile")
        or after.get("booking") != state.get("booking")
        or after.get("qualification") != state.get("qualification")
    )
    handed_off = state.get("handoff_reason") is not None
    if changed:
        await ctx.sink.lead_updated(lead_update(ctx.contact, after))
    if handed_off:
        await ctx.sink.handed_off(
            handoff_event(ctx.contact, after)
        )
    outcome: TurnOutcome = {
        "reply": reply,
        "options": state.get("options") if reply else None,
        "fallback": bool(draft and draft["fallback"]),
        "llm_calls": draft["llm_calls"] if draft else 0,
        "handed_off": handed_off,
        "lead_changed": changed,
    }
    return {**commit, "messages": new_messages, "turn": outcome}
