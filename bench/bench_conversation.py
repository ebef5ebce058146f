"""Prompt size, model calls and prompt caching over a long conversation.

Run: `uv run python -m bench.bench_conversation` (or `make bench`).

A scripted lead talks to the real engine (real langchain-openai client, in-memory checkpointer)
for 100 turns of qualification small talk, then books a call, for a realistic business profile
(10 offerings, 20 FAQ entries, built here). The scripted LLM server answers every call;
summarization runs after each reply, as the pipeline runs it. Printed:

- the characters sent to the model by the agent call at turns 5, 10, 20, 50 and 100, and the
  business profile's share of them (target, issue #10: turn 100 within 1.3x of turn 10);
- model calls per turn, agent calls by stage and summary calls (target: at most 1.35 per turn
  with summaries);
- the share of each agent prompt that repeats the previous turn's prompt from its start (the
  prefix a provider's prompt cache can serve), its median and lowest.

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
from domain.business import BusinessProfile, load_business
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
    "authority_role authority_decides timeline timeline_date timezone disqualified_by "
    "disqualified_words".split()
)


def realistic_business() -> BusinessProfile:
    """The shipped example grown to 10 offerings and 20 FAQ entries of realistic length."""
    example = load_business()
    offerings = [
        {"name": f"{o.name} {suffix}".strip(), "description": o.description, "price": o.price}
        for suffix in ("", "Plus") for o in example.offerings
    ]
    faq = [
        {"question": f.question.replace("?", f" ({topic})?"), "answer": f.answer}
        for topic in ("sales teams", "support teams", "agencies") for f in example.faq
    ][:20]
    return BusinessProfile.model_validate({
        **example.model_dump(), "offerings": offerings[:10], "faq": faq,
    })


def _prefix_share(previous: str, current: str) -> float:
    """The share of `current` that repeats `previous` from its first character."""
    same = 0
    for a, b in zip(previous, current, strict=False):
        if a != b:
            break
        same += 1
    return same / len(current) if current else 0.0


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


def _serialized(body: dict[str, Any]) -> str:
    """The request's messages as the provider sees them, in order (what its cache keys on)."""
    return json.dumps(body["messages"], ensure_ascii=False, separators=(",", ":"))


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
    business = realistic_business()
    engine = ConversationEngine(
        checkpointer=InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)),
        settings=settings, calendar=MemoryCalendar(),
        sink=NullLeadSink(), clock=lambda: next(clock), business=business,
    )
    llm.responder = responder
    sizes: dict[int, int] = {}
    calls_by_stage: dict[str, Counter[int]] = {}
    summary_calls = 0
    agent_calls = 0
    shares: list[float] = []
    previous = ""
    stage_history: list[str] = []
    for turn in range(1, TURNS + 4):
        before = len(llm.chat_requests)
        message = HumanMessage(_lead_message(turn), id=f"wamid.{turn}")
        result = await engine.run_turn(CONTACT, [message])
        agent_requests = llm.chat_requests[before:]
        agent_calls += len(agent_requests)
        if turn in MEASURED and agent_requests:
            sizes[turn] = _chars(agent_requests[0])
        if agent_requests:
            current = _serialized(agent_requests[0])
            if previous:
                shares.append(_prefix_share(previous, current))
            previous = current
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
    profile = len(business.prompt_block)
    out.write(
        f"  business profile ({len(business.offerings)} offerings, {len(business.faq)} FAQ): "
        f"{profile} chars, {profile / sizes[10]:.0%} of turn 10's prompt, "
        f"{profile / sizes[100]:.0%} of turn 100's\n"
    )
    out.write("model calls per turn (agent calls, by the stage that answered):\n")
    for stage, counts in calls_by_stage.items():
        spread = ", ".join(f"{n} call(s): {t} turn(s)" for n, t in sorted(counts.items()))
        out.write(f"  {stage:<13} {spread}\n")
    total_turns = TURNS + 3
    out.write(f"summarization calls (after the reply): {summary_calls} over {total_turns} turns\n")
    per_turn = (agent_calls + summary_calls) / total_turns
    out.write(
        f"model calls per turn, summaries included: {per_turn:.2f} "
        f"(target at most 1.35; {agent_calls} agent + {summary_calls} summary calls)\n"
    )
    shares.sort()
    out.write(
        "prompt prefix repeated from the previous turn (cacheable): "
        f"median {shares[len(shares) // 2]:.0%}, lowest {shares[0]:.0%} over {len(shares)} turns\n"
    )
    out.write(f"final stage: {stage_history[-1]}\n")


def main() -> None:
    with ScriptedLLM() as llm:
        asyncio.run(run(llm))


if __name__ == "__main__":
    main()
