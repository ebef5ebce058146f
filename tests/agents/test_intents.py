"""The keyword nets of `agents.intents`: a request for a person, a change of a booked call."""

from __future__ import annotations

import pytest

from agents.intents import asks_for_human, booking_change_request


@pytest.mark.parametrize(
    "text",
    [
        "/human", " /HUMAN ",
        "I want to talk to a human", "Can I speak with someone?", "let me chat with a real person",
        "please connect me to a sales rep", "I need a live agent", "talk to your manager please",
        "Quiero hablar con una persona", "¿Puedo hablar con un asesor?", "prefiero un humano",
        "necesito hablar con alguien", "quiero una persona real",
        "Quero falar com um atendente", "posso falar com alguém?", "prefiro atendimento humano",
        "Quero conversar com uma pessoa", "é uma pessoa real?",
    ],
)
def test_asks_for_human(text: str) -> None:
    assert asks_for_human([text])


@pytest.mark.parametrize(
    "text",
    [
        "hello", "We need an AI agent for support", "our human resources team needs it",
        "I'm a real estate agent", "the person in charge is me", "human",
        "necesito un CRM para mi agencia", "somos una persona jurídica",
        "preciso de um sistema para atendimento", "falar com o João amanhã", "/humans", "/help",
    ],
)
def test_does_not_ask_for_human(text: str) -> None:
    assert not asks_for_human([text])


def test_any_message_of_the_burst_counts() -> None:
    assert asks_for_human(["hi", "talk to a person please"])
    assert not asks_for_human([])


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
