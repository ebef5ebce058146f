"""Prompt size and model calls over a long conversation.

Run: `uv run python -m bench.bench_conversation` (or `make bench`).

A scripted lead talks to the real engine (real langchain-openai client, in-memory checkpointer)
for 100 turns of qualification small talk, then books a call. The scripted LLM server answers
every call; summarization runs after each reply, as the pipeline runs it. Printed: the characters
sent to the model by the agent call at turns 5, 10, 20, 50 and 100, and the model calls per turn.
Targets (issue #4): turn 100 within 1.3x of turn 10; one agent call per turn outside scheduling.
It prints, it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.config import Settings
from domain.contact import ContactInfo
from domain.events import NullLeadSink
from graph.chat import MemoryCalendar
from graph.engine import ConversationEngine
from graph.state import SERDE_ALLOWLIST
from tests.utils.scripted_llm import Reply, ScriptedLLM

TURNS = 100
MEASURED = (5, 10, 20, 50, 100)
CONTACT = ContactInfo(channel="meta", contact="+5511987654321", profile_name="Bench")
THREAD = f"{CONTACT.channel}:{CONTACT.contact}"
NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)

_EMPTY_LEAD = dict.fromkeys(
    "name company email need need_summary budget budget_amount budget_currency authority "
    "authority_role authority_decides timeline timeline_date timezone".split()
)


def _answer(reply: str, **lead: Any) -> Reply:
    return Reply(json={
        "reply": reply, "language": "en", "confidence": 0.9, "resolved": True,
        "wants_human": False, "lead": _EMPTY_LEAD | lead,
    })


def _lead_message(turn: int) -> str:
    """What the lead writes at `turn` (1-based)."""
    scripted = {
        1: "Hi! I'm Carla from Lumen Foods. We need a CRM for our 25 field sellers.",
        2: "We have around 8k USD a year for this.",
        3: "I'm the operations director and I sign off on it.",
    }
    if turn in scripted:
        return scripted[turn]
    if turn == TURNS + 1:
        return "We'd like to start in March."
    if turn == TURNS + 2:
        return "Sure, when can we talk?"
    if turn == TURNS + 3:
        return "The second one works."
    questions = (
        "Does it integrate with WhatsApp?",
        "Can sellers use it offline on their phones, out in rural areas with bad signal?",
        "How does pricing work for seasonal staff?",
        "What about reporting for managers?",
    )
    return f"{questions[turn % len(questions)]} (question {turn})"


def responder(body: dict[str, Any]) -> Reply:
    if "response_format" not in body:  # the summarization call
        return Reply(content=(
            "Carla (operations director, Lumen Foods) needs a CRM for 25 field sellers, budget "
            "about 8k USD a year, she decides. She has asked many product questions: WhatsApp "
            "integration, offline use in rural areas, seasonal pricing, manager reporting; each "
            "answered. Timeline not given yet. Writes in English."
        ))
    last = body["messages"][-1]
    if last["role"] == "tool":
        if last["content"].startswith("Booked"):
            return _answer("Booked! See you then.")
        return _answer("I have: 1. Tue 10:00 2. Tue 11:00 3. Tue 12:00 (America/Sao_Paulo).")
    text = last.get("content") or ""
    if text.startswith("Hi! I'm Carla"):
        return _answer("Hi Carla! Happy to help.", name="Carla", company="Lumen Foods",
                       need=text, need_summary="CRM for 25 field sellers")
    if "8k USD" in text:
        return _answer("Thanks! Who signs off?", budget=text, budget_amount=8000,
                       budget_currency="USD")
    if "sign off" in text:
        return _answer("Great. When would you like to start?", authority=text,
                       authority_role="operations director", authority_decides=True)
    if "March" in text:
        return _answer("Perfect. Shall we book a call?", timeline=text, timeline_date="2030-03-01")
    if text.startswith("Sure, when"):
        return Reply(tool_calls=[{"name": "find_free_slots", "arguments": {"after": None}}])
    if text.startswith("The second"):
        return Reply(tool_calls=[{"name": "book_slot", "arguments": {"option": 2}}])
    return _answer("Good question: yes, it does, and a colleague can show you in a demo. "
                   "When would you like to start?")


def _chars(body: dict[str, Any]) -> int:
    """Characters of the messages sent (text content; the output schema is constant)."""
    total = 0
    for message in body["messages"]:
        content = message.get("content")
        total += len(content) if isinstance(content, str) else len(json.dumps(content))
    return total


async def run(llm: ScriptedLLM) -> None:
    settings = Settings.model_validate({
        "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": llm.base_url,
        "LLM_MAX_RETRIES": 0, "TIMEZONE": "America/Sao_Paulo",
    })
    clock = iter(NOW + timedelta(minutes=i) for i in range(10_000))
    engine = ConversationEngine(
        checkpointer=InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)),
        settings=settings, calendar=MemoryCalendar(),
        sink=NullLeadSink(), clock=lambda: next(clock),
    )
    llm.responder = responder
    sizes: dict[int, int] = {}
    calls_by_stage: dict[str, Counter[int]] = {}
    summary_calls = 0
    stage_history: list[str] = []
    for turn in range(1, TURNS + 4):
        before = len(llm.chat_requests)
        message = HumanMessage(_lead_message(turn), id=f"wamid.{turn}")
        result = await engine.run_turn(CONTACT, [message])
        agent_requests = llm.chat_requests[before:]
        if turn in MEASURED and agent_requests:
            sizes[turn] = _chars(agent_requests[0])
        ran_in = stage_history[-1] if stage_history else "greeting"
        calls_by_stage.setdefault(ran_in, Counter())[result.llm_calls] += 1
        stage_history.append(result.stage)
        folded_before = len(llm.chat_requests)
        await engine.summarize(THREAD)
        summary_calls += len(llm.chat_requests) - folded_before

    out = sys.stdout
    out.write(f"conversation: {TURNS} qualification turns, then scheduling and a booking\n")
    out.write("prompt size (characters sent to the model by the agent call):\n")
    for turn in MEASURED:
        ratio = sizes[turn] / sizes[10] if 10 in sizes else float("nan")
        out.write(f"  turn {turn:>3}: {sizes[turn]:>6} chars  ({ratio:.2f}x turn 10)\n")
    out.write(f"  target: turn 100 within 1.30x of turn 10 -> {sizes[100] / sizes[10]:.2f}x\n")
    out.write("model calls per turn (agent calls, by the stage that answered):\n")
    for stage, counts in calls_by_stage.items():
        spread = ", ".join(f"{n} call(s): {t} turn(s)" for n, t in sorted(counts.items()))
        out.write(f"  {stage:<13} {spread}\n")
    total_turns = TURNS + 3
    out.write(f"summarization calls (after the reply): {summary_calls} over {total_turns} turns\n")
    out.write(f"final stage: {stage_history[-1]}\n")


def main() -> None:
    with ScriptedLLM() as llm:
        asyncio.run(run(llm))


if __name__ == "__main__":
    main()
