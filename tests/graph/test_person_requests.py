"""The curated corpus of requests for a person (tests/data/person_requests.yaml) through the real
graph and the scripted model: issue #14's "done when", for every language.

- Every positive ends in a `requested` handoff: with no model call when the keyword net is
  certain (a command or a curated phrase), after the model's `wants_human` when it only hints
  (and then the hint reached the model's prompt). The lead reads the handoff in their language.
- No negative hands off: the net is never certain on one, and the model answers
  `wants_human: false` to whatever it hints.
- Without a model (the fallback policy) no negative hands off either, and a hint hands off
  only when the message is bare (`agents.intents.bare_request`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import HumanMessage

from agents.intents import HINT, bare_request, person_request
from domain.contact import ContactInfo
from domain.language import command_word
from domain.texts import DEFAULT_LANGUAGE, LANGUAGES, text
from tests.graph.fakes import RecordingSink, agent_json, make_engine, saver, system_text

CORPUS: dict[str, dict[str, list[str]]] = yaml.safe_load(
    (Path(__file__).parent.parent / "data" / "person_requests.yaml").read_text()
)
CONTACT = ContactInfo(channel="meta", contact="+34600000001", profile_name=None)


def cases(kind: str) -> list[Any]:
    return [
        pytest.param(language, message, id=f"{language}-{kind}-{number}")
        for language, sets in CORPUS.items()
        for number, message in enumerate(sets[kind], 1)
    ]


def test_the_corpus_covers_every_language() -> None:
    """At least 20 of each per language, the issue's own examples included."""
    assert set(CORPUS) == set(LANGUAGES)
    for sets in CORPUS.values():
        assert len(sets["positive"]) >= 20 and len(sets["negative"]) >= 20
    issue = {
        "en": (["I want a human", "human please", "speak to sales", "Can someone call me?"],
               ["we need software for a call center where customers speak to an operator",
                "We want to talk to a consultant about ERP rollout",
                "I'd have to talk to the manager, he signs off"]),
        "es": (["pásame con un asesor", "quiero un vendedor", "/humano"],
               ["Necesito que mis clientes puedan hablar con un asesor por WhatsApp",
                "Primero tengo que hablar con el asesor financiero de la empresa"]),
        "pt": (["me passa pra um atendente", "quero falar com o comercial"],
               ["Queremos que o cliente possa falar com um atendente humano pelo chat"]),
    }
    for language, (positive, negative) in issue.items():
        assert set(positive) <= set(CORPUS[language]["positive"])
        assert set(negative) <= set(CORPUS[language]["negative"])


def handoff_language(language: str, message: str) -> str:
    """The language the lead reads the handoff in. A command that several languages share
    (`/humano`) as the very first message says nothing about the language: the number's then
    (a Spanish one here)."""
    word = command_word(message)
    shared = word is not None and len(word.languages) > 1
    return "es" if shared else language


@pytest.mark.parametrize(
    ("number", "expected"),
    [("+34600000001", "es"), ("+5511987654321", "pt"), ("+14155550100", "en"),
     ("+81312345678", DEFAULT_LANGUAGE)],
    ids=["spain", "brazil", "us", "japan"],
)
async def test_a_shared_command_as_the_first_message_is_answered_in_the_numbers_language(
    llm: Any, make_settings: Any, number: str, expected: str
) -> None:
    engine = make_engine(llm, make_settings, checkpointer=saver())
    contact = ContactInfo(channel="meta", contact=number, profile_name=None)
    result = await engine.run_turn(contact, [HumanMessage("/humano", id="m1")])
    assert result.handoff is not None and llm.chat_requests == []
    assert result.reply == text("handoff.requested", expected)


@pytest.mark.parametrize(("language", "message"), cases("positive"))
async def test_a_positive_hands_off(
    llm: Any, make_settings: Any, language: str, message: str
) -> None:
    sink = RecordingSink()
    engine = make_engine(llm, make_settings, checkpointer=saver(), sink=sink)
    level = person_request([message])
    assert level is not None, "the keyword net misses a request for a person"
    if level == "hint":
        llm.push(json=agent_json("Sure.", wants_human=True, language=language))
    result = await engine.run_turn(CONTACT, [HumanMessage(message, id="m1")])
    assert result.handoff is not None and result.handoff.reason == "requested"
    assert [h.reason for h in sink.handoffs] == ["requested"]
    if level == "certain":
        assert llm.chat_requests == [] and result.llm_calls == 0
        expected = handoff_language(language, message)
    else:
        (request,) = llm.chat_requests
        assert HINT in system_text(request)
        expected = language  # the model's
    assert result.reply == text("handoff.requested", expected)


@pytest.mark.parametrize(("language", "message"), cases("negative"))
async def test_a_negative_does_not_hand_off(
    llm: Any, make_settings: Any, language: str, message: str
) -> None:
    sink = RecordingSink()
    engine = make_engine(llm, make_settings, checkpointer=saver(), sink=sink)
    assert person_request([message]) != "certain", "a false handoff with no model call"
    llm.push(json=agent_json("Tell me more.", wants_human=False, language=language))
    result = await engine.run_turn(CONTACT, [HumanMessage(message, id="m1")])
    assert result.handoff is None and sink.handoffs == []
    assert result.reply == "Tell me more." and result.llm_calls == 1


@pytest.mark.parametrize(
    ("language", "message"), cases("positive") + cases("negative")
)
async def test_without_a_model_only_certain_or_bare_requests_hand_off(
    llm: Any, make_settings: Any, language: str, message: str
) -> None:
    engine = make_engine(llm, make_settings, checkpointer=saver(), with_llm=False)
    result = await engine.run_turn(CONTACT, [HumanMessage(message, id="m1")])
    level = person_request([message])
    expected = level == "certain" or (level == "hint" and bare_request([message]))
    assert (result.handoff is not None) is expected
    if message in CORPUS[language]["negative"]:
        assert result.handoff is None
    assert llm.chat_requests == []
