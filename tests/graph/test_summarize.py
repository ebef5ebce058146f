"""Summarization helpers: what is folded, and the summary's bound."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage

from graph.summarize import (
    MAX_FOLD_CHARS,
    MAX_SUMMARY_CHARS,
    PROMPT,
    clip,
    fold_history,
    messages_to_fold,
    plain_summary,
)


def history(count: int) -> list[HumanMessage | AIMessage]:
    return [
        HumanMessage(f"lead {i}", id=f"m{i}") if i % 2 == 0 else AIMessage(f"bot {i}", id=f"m{i}")
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("count", "keep", "folded"), [(0, 6, 0), (6, 6, 0), (7, 6, 1), (12, 6, 6), (5, 2, 3)]
)
def test_messages_to_fold(count: int, keep: int, folded: int) -> None:
    messages = history(count)
    assert messages_to_fold(messages, keep) == messages[:folded]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("short", 10, "short"), ("one two three four", 10, "one two…"), ("  x  ", 10, "x")],
)
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


def test_plain_summary_stays_bounded() -> None:
    summary = ""
    for round_ in range(50):
        summary = plain_summary(summary, [
            AIMessage("y" * 300 + "?", id=f"b{round_}"),
            HumanMessage("x" * 150 + str(round_), id=str(round_)),
        ])
    assert len(summary) <= MAX_SUMMARY_CHARS and summary.endswith("49")


def test_plain_summary_lists_the_bots_questions_with_the_leads_answers() -> None:
    old: list[AnyMessage] = [
        HumanMessage("Hi", id="1"),
        AIMessage("Hi! Thanks for writing to us. Who am I talking to? What's your name?", id="2"),
        HumanMessage("Sam", id="3"),
        AIMessage("Thanks! What budget do you have in mind (amount and currency)?", id="4"),
        HumanMessage("hmm", id="5"),
        AIMessage("These times are free for a call:\n1. Tue 8 Jan, 11:00\nReply with the number.",
                  id="6"),
    ]
    assert plain_summary("", old) == (
        "Lead: Hi\n"
        "Bot: Who am I talking to? What's your name?\n"
        "Lead: Sam\n"
        "Bot: What budget do you have in mind (amount and currency)?\n"
        "Lead: hmm\n"
        "Bot: These times are free for a call: 1. Tue 8 Jan, 11:00 Reply with the number."
    )


async def test_folding_without_a_model_removes_the_old_messages() -> None:
    update = await fold_history({"messages": history(13), "summary": "before"}, model=None, keep=6)
    assert update is not None
    assert update["messages"] == [RemoveMessage(id=f"m{i}") for i in range(7)]
    assert update["summary"].startswith("before\nLead: lead 0\nBot: bot 1")


@pytest.mark.parametrize("count", [0, 6, 12])
async def test_nothing_is_folded_up_to_twice_the_kept_history(count: int) -> None:
    assert await fold_history({"messages": history(count)}, model=None, keep=6) is None


async def test_a_flood_of_long_messages_makes_a_bounded_summary_request(llm: Any) -> None:
    # 500 messages of a flood once became one summary prompt of 112,764 characters.
    from langchain_openai import ChatOpenAI

    llm.push("Ana floods the chat.")
    from pydantic import SecretStr

    model = ChatOpenAI(model="m", api_key=SecretStr("sk-test"), base_url=llm.base_url)
    flood = [HumanMessage("x" * 4096, id=f"f{i}") for i in range(50)]
    update = await fold_history({"messages": [*flood, *history(6)]}, model=model, keep=6)
    assert update is not None and len(update["messages"]) == 50
    (request,) = llm.chat_requests
    prompt = sum(len(m["content"]) for m in request["messages"])
    assert prompt <= len(PROMPT) + MAX_FOLD_CHARS + 200  # + the "current summary" frame
