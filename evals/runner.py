"""Running a scenario: the real graph and engine, the real Redis checkpointer, the real
langchain-openai client talking to the scripted OpenAI-compatible server on 127.0.0.1, and the
contact's mode kept the way Postgres keeps it (a handoff hands the contact to a person). What
comes out is compared with the scenario's expectation.

The model's intelligence is the one thing scripted: each turn's answers are queued in order; the
summary calls between turns get a fixed summary. A turn that asks the model more than the script
holds fails the scenario (the script and the product disagree).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.config import Settings
from core.connections import open_redis
from domain.contact import ContactInfo, ContactMode
from domain.events import HandoffEvent, LeadUpdate
from domain.lead import LeadProfile
from domain.texts import text
from evals.scenario import ModelStep, Scenario
from graph.chat import MemoryCalendar
from graph.checkpoint import AsyncRedisSaver
from graph.engine import ConversationEngine
from graph.state import SERDE_ALLOWLIST
from integrations.leads.records import status_for_update
from tests.graph.fakes import agent_json, is_summary_request, tool_call
from tests.utils.scripted_llm import Reply, ScriptedLLM

__all__ = ["NOW", "Outcome", "run_scenario"]

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
"""A Monday morning: every scenario's clock (a minute later at every look)."""

# Valid mobile numbers of each language's country (a lead's zone and hours come from it).
_PREFIXES = {
    "en": "+1415555", "es": "+3461100", "pt": "+551198000", "fr": "+3361200", "de": "+491511234",
    "it": "+39333123",
}
_numbers = itertools.count(1000)


@dataclass(kw_only=True)
class Outcome:
    """What a scenario produced, and how it compares with its expectation."""

    scenario: Scenario
    stage: str = "greeting"
    handoff: str | None = None
    status: str = "new"
    score: int | None = None
    profile: LeadProfile = field(default_factory=LeadProfile)
    replies: list[str | None] = field(default_factory=list)
    model_calls: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


class _Sink:
    """The lead store's view of the run: the last update and every handoff."""

    def __init__(self) -> None:
        self.updates: list[LeadUpdate] = []
        self.handoffs: list[HandoffEvent] = []

    async def lead_updated(self, update: LeadUpdate) -> None:
        self.updates.append(update)

    async def handed_off(self, event: HandoffEvent) -> None:
        self.handoffs.append(event)


def _reply(step: ModelStep, language: str) -> Reply:
    if step.error is not None:
        return Reply(status=step.error)
    if step.tool is not None:
        return Reply(tool_calls=[tool_call(step.tool, **step.args)])
    return Reply(json=agent_json(
        step.reply or "", confidence=step.confidence, resolved=step.resolved,
        answered=step.answered, wants_human=step.wants_human,
        language=step.language or language, **step.lead,
    ))


def _field(profile: LeadProfile, path: str) -> Any:
    value: Any = profile
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _expected_text(value: str, language: str) -> str:
    """`text:<key>` is the catalogue's text in the scenario's language (no placeholders)."""
    return text(value[5:], language) if value.startswith("text:") else value


async def run_scenario(scenario: Scenario, *, llm: ScriptedLLM, redis_url: str) -> Outcome:
    """Run `scenario` (see the module docstring) and compare it with its expectation."""
    outcome = Outcome(scenario=scenario)
    values: dict[str, Any] = {"LLM_MAX_RETRIES": 0, "LLM_TIMEOUT_SECONDS": 5.0,
                              **scenario.settings}
    if scenario.llm:
        values |= {"OPENAI_API_KEY": "sk-eval", "OPENAI_BASE_URL": llm.base_url}
    else:
        values |= {"OPENAI_API_KEY": None}  # never a key from the environment
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    clock = (NOW + timedelta(minutes=i) for i in itertools.count())
    sink = _Sink()
    redis = open_redis(redis_url)
    engine = ConversationEngine(
        checkpointer=AsyncRedisSaver(
            redis, serde=JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST),
            shallow=False,
        ),
        settings=settings, calendar=MemoryCalendar(minutes=settings.MEETING_MINUTES),
        sink=sink, clock=lambda: next(clock),
    )
    number = f"{_PREFIXES.get(scenario.language, '+1415555')}{next(_numbers)}"
    contact = ContactInfo(channel="meta", contact=number, profile_name=scenario.profile_name)
    queue: deque[Reply] = deque()

    def respond(body: dict[str, Any]) -> Reply:
        if is_summary_request(body):
            return Reply(content="The lead and the bot talked; see the messages kept.")
        outcome.model_calls += 1
        if not queue:
            outcome.problems.append("the model was asked more than the script holds")
            return Reply(status=500)
        return queue.popleft()

    llm.responder = respond
    mode = ContactMode.BOT
    try:
        for index, turn in enumerate(scenario.turns):
            queue.extend(_reply(step, scenario.language) for step in turn.model)
            if mode.silenced and mode is not ContactMode.CALL_BOOKED:
                outcome.replies.append(None)  # the pipeline does not run the graph
                continue
            burst = [
                HumanMessage(line, id=f"{scenario.name}.{index}.{n}")
                for n, line in enumerate(turn.lead)
            ]
            result = await engine.run_turn(contact, burst, mode=mode)
            outcome.replies.append(result.reply)
            if result.handoff is not None:
                booked = result.handoff.reason == "booked"
                mode = ContactMode.CALL_BOOKED if booked else ContactMode.WAITING
            await engine.summarize(contact.thread_id, history=result.history)
            if queue:
                outcome.problems.append(f"turn {index + 1} left {len(queue)} model answer(s)")
                queue.clear()
        state = await engine.state(contact.thread_id)
    finally:
        llm.responder = None
        await engine.reset(contact.thread_id)
        await redis.aclose()
    _observe(outcome, state, sink)
    _compare(outcome)
    return outcome


def _observe(outcome: Outcome, state: dict[str, Any], sink: _Sink) -> None:
    outcome.stage = state.get("stage") or "greeting"
    outcome.profile = state.get("profile") or LeadProfile()
    judged = state.get("qualification")
    outcome.score = judged.score if judged else None
    if sink.handoffs:
        outcome.handoff = sink.handoffs[0].reason
        outcome.status = "booked" if outcome.handoff == "booked" else "handed_off"
    elif sink.updates:
        outcome.status = status_for_update(sink.updates[-1])


def _compare(outcome: Outcome) -> None:
    expect = outcome.scenario.expect
    language = outcome.scenario.language
    problems = outcome.problems
    for name, seen, wanted in (
        ("stage", outcome.stage, expect.stage),
        ("handoff", outcome.handoff, expect.handoff),
        ("status", outcome.status, expect.status),
    ):
        if seen != wanted:
            problems.append(f"{name} {seen!r}, expected {wanted!r}")
    if expect.score is not None:
        low, high = expect.score
        if outcome.score is None or not low <= outcome.score <= high:
            problems.append(f"score {outcome.score}, expected {low}-{high}")
    for path, wanted in expect.fields.items():
        seen = _field(outcome.profile, path)
        if wanted is None and seen is not None:
            problems.append(f"{path} stored, expected unknown")
        elif wanted is not None and seen != wanted:
            problems.append(f"{path} {seen!r}, expected {wanted!r}")
    last = next((reply for reply in reversed(outcome.replies) if reply), "") or ""
    for part in expect.last_reply_contains:
        if _expected_text(part, language) not in last:
            problems.append(f"last reply lacks {part!r}")
    for part in expect.last_reply_excludes:
        if _expected_text(part, language) in last:
            problems.append(f"last reply has {part!r}")
    if expect.model_calls is not None and outcome.model_calls != expect.model_calls:
        problems.append(f"{outcome.model_calls} model calls, expected {expect.model_calls}")
