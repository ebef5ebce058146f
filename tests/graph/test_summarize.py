"""Summarization helpers: what is folded, and the summary's bound."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage

from graph.summarize import MAX_SUMMARY_CHARS, clip, fold_history, messages_to_fold, plain_summary


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


async def test_node_without_a_model_removes_the_old_messages() -> None:
    update = await fold_history({"messages": history(8), "summary": "before"}, model=None, keep=6)
    assert update is not None
    assert update["messages"] == [RemoveMessage(id="m0"), RemoveMessage(id="m1")]
    assert update["summary"] == "before\nLead: lead 0\nBot: bot 1"


async def test_node_with_nothing_to_fold() -> None:
    assert await fold_history({"messages": history(6)}, model=None, keep=6) is None
