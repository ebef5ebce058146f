"""The keyword nets of `agents.intents`: a request for a person (certain, a hint, or nothing),
a change of a booked call. The curated corpus of person requests runs through the real graph in
tests/graph/test_person_requests.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from langchain_core.messages import HumanMessage

from agents.inputs import AgentInput
from agents.intents import (
    HINT,
    bare_request,
    booking_change_request,
    hint_context,
    person_request,
    request_language,
)
from domain.business import load_business
from domain.contact import ContactInfo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Commands, every language's (the pipeline's `parse_command` reads the same words).
        ("/human", "certain"), (" /HUMAN ", "certain"), ("/humano", "certain"),
        ("/humain", "certain"), ("/Mensch", "certain"), ("/umano", "certain"),
        ("/humans", "hint"), ("/help", None),  # a typo: the model reads it
        # Curated phrases: a whole sentence, or a part between commas.
        ("I want to talk to a human", "certain"), ("Can I speak with someone?", "certain"),
        ("let me chat with a real person", "certain"), ("please connect me to a sales rep",
                                                        "certain"),
        ("talk to your manager please", "certain"), ("human", "certain"),
        ("Hi! Is anyone there? Can I talk to someone please", "certain"),
        ("Quiero hablar con una persona", "certain"), ("¿Puedo hablar con un asesor?", "certain"),
        ("prefiero un humano", "certain"), ("necesito hablar con alguien", "certain"),
        ("Quero falar com um atendente", "certain"), ("posso falar com alguém?", "certain"),
        ("prefiro atendimento humano", "certain"), ("Quero conversar com uma pessoa", "certain"),
        ("Je voudrais parler à un conseiller", "certain"),
        ("Ich möchte bitte mit jemandem sprechen", "certain"),
        ("Vorrei parlare con un operatore", "certain"),
        # Hints: the model decides.
        ("I want to talk to a human about pricing", "hint"), ("agent", "hint"),
        ("We need an AI agent; can it talk to customers?", "hint"),
        ("I'd have to talk to the manager, he signs off", None),
        ("we need software where customers speak to an operator", "hint"),
        ("Tenho que falar com o meu sócio antes", None),
        ("Primero tengo que hablar con el asesor financiero de la empresa", "hint"),
        ("call me Ana", "hint"),
        # Nothing of the sort.
        ("hello", None), ("We need an AI agent for support", None),
        ("our human resources team needs it", None), ("I'm a real estate agent", None),
        ("the person in charge is me", None), ("necesito un CRM para mi agencia", None),
        ("somos una persona jurídica", None), ("preciso de um sistema para atendimento", None),
        ("falar com o João amanhã", None), ("Ich bin Immobilienmakler", None),
    ],
)
def test_person_request(text: str, expected: str | None) -> None:
    assert person_request([text]) == expected


def test_any_message_of_the_burst_counts() -> None:
    assert person_request(["hi", "talk to a person please"]) == "certain"
    assert person_request(["we sell shoes", "can I talk to someone about prices?"]) == "hint"
    assert person_request([]) is None


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["agent"], True),
        (["hola", "un asesor por favor"], True),  # languages mix; greetings are no content
        (["Einen Mitarbeiter bitte"], True),
        (["Is a salesperson available right now?"], True),
        (["I want to talk to a human about pricing"], False),  # says something else too
        (["we sell shoes", "someone to talk to?"], False),
        (["we need software where customers speak to an operator"], False),
        (["La personne responsable, c'est moi"], False),
        (["ok"], False),  # no hint at all
    ],
)
def test_bare_request(texts: list[str], expected: bool) -> None:
    assert bare_request(texts) is expected


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Quero falar com um humano", "pt"), ("Un humano, por favor", "es"),
        ("Passami un commerciale", "it"), ("operator", "en"), ("/humain", "fr"),
        ("/humano", None),  # Spanish and Portuguese share it
        ("can I talk to someone about pricing?", None),  # a hint, not a certain request
    ],
)
def test_request_language(text: str, language: str | None) -> None:
    assert request_language([text]) == language


def test_hint_context_only_for_a_hint() -> None:
    def view(text: str) -> AgentInput:
        return AgentInput(
            contact=ContactInfo(channel="meta", contact="+34600000000", profile_name=None),
            now=datetime(2030, 1, 7, tzinfo=UTC), business=load_business(),
            burst=[HumanMessage(text, id="m1")],
        )

    assert hint_context(view("can I talk to someone about pricing?")) == [HINT]
    assert hint_context(view("I want a human")) == []  # certain: the model never sees it
    assert hint_context(view("we need a CRM")) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Can we move it?", "reschedule"),
        ("I need to reschedule", "reschedule"),
        ("can we push the call to Thursday?", "reschedule"),
        ("I can't make it tomorrow", "reschedule"),
        ("another day would be better", "reschedule"),
        ("¿Podemos cambiar la hora?", "reschedule"),
        ("No voy a poder ir", "reschedule"),
        ("Dá pra remarcar?", "reschedule"),
        ("Podemos mudar o horário?", "reschedule"),
        ("Please cancel the call", "cancel"),
        ("cancel", "cancel"),
        ("Quiero cancelar la reunión", "cancel"),
        ("Preciso desmarcar", "cancel"),
        ("Thanks, see you!", None),
        ("can I cancel the subscription anytime?", None),
        ("What time is it in Madrid?", None),
        ("We need to change our CRM", None),
    ],
)
def test_booking_change_request(text: str, expected: str | None) -> None:
    assert booking_change_request([text]) == expected
