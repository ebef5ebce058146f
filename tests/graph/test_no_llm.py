"""Issue #14, no-LLM mode: scripted conversations through the real graph with no OPENAI_API_KEY,
the real lead store in Postgres, the outbox worker and a real SMTP server (aiosmtpd).

Each conversation is one of the issue's examples (or its kind) in en, es, pt, fr, de or it. The
tests assert what a sales team sees: the stored lead's profile (each field right, or unknown,
never junk), the manager's email subject, and how the conversation ended (booked, handed over
after non-answers, handed over once nothing was left to ask)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from langchain_core.messages import HumanMessage

from core.migrate import apply_migrations
from domain.contact import ContactInfo
from domain.lead import LeadProfile
from domain.texts import text
from integrations.leads import LeadStore
from tests.graph.fakes import NOW, FakeCalendar, make_engine, saver
from tests.integrations.leads.conftest import RecordingHandler, free_port, make_worker


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
async def store(pool: asyncpg.Pool) -> AsyncIterator[LeadStore]:
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    yield LeadStore.open(pool, clock=lambda: NOW)


@dataclass
class Ending:
    """How a scripted conversation ended, as the sales team sees it."""

    replies: list[str]
    handoff: str | None
    stored: LeadProfile
    """The lead's profile as Postgres holds it."""
    subject: str
    email: str
    """The plain-text body of the manager's email."""


@pytest.fixture
def converse(
    llm: Any, make_settings: Any, store: LeadStore, smtp: tuple[RecordingHandler, int],
    pool: asyncpg.Pool,
) -> Any:
    """`await converse(number, lines, profile_name=None)`: the lead sends `lines` one turn each,
    with the old history folded after each reply as the pipeline does; then the outbox sends the
    manager's email."""
    engine = make_engine(
        llm, make_settings, checkpointer=saver(), sink=store.sink, calendar=FakeCalendar(),
        with_llm=False,
    )
    handler, port = smtp

    async def run(number: str, lines: list[str], *, profile_name: str | None = None) -> Ending:
        contact = ContactInfo(channel="meta", contact=number, profile_name=profile_name)
        replies: list[str] = []
        handoff = None
        for count, line in enumerate(lines, 1):
            assert handoff is None, f"handed over before {line!r}"
            result = await engine.run_turn(contact, [HumanMessage(line, id=f"wamid.{count}")])
            assert result.fallback and result.llm_calls == 0
            replies.append(result.reply or "")
            handoff = result.handoff.reason if result.handoff else None
            await engine.summarize(contact.thread_id, history=result.history)
        assert llm.chat_requests == []
        leads = await store.leads.list_leads()
        assert len(leads) == 1
        sent = await make_worker(pool, port).run_once()
        assert sent == (1 if handoff else 0)
        message = handler.received[-1].message if handoff else None
        body = message.get_body(("plain",)) if message else None
        return Ending(
            replies=replies, handoff=handoff, stored=leads[0].profile,
            subject=str(message["Subject"]) if message else "",
            email=str(body.get_content()).replace("\r\n", "\n") if body else "",
        )

    return run


def facts(profile: LeadProfile) -> dict[str, Any]:
    """The profile as the manager reads it: each field's value (or the lead's words), or None."""
    return {
        "name": profile.name,
        "company": profile.company,
        "need": profile.need.words if profile.need else None,
        "budget": (profile.budget.amount, profile.budget.currency) if profile.budget else None,
        "decides": profile.authority.decides if profile.authority else None,
        "timeline": profile.timeline.words if profile.timeline else None,
    }


UNKNOWN = dict.fromkeys(("name", "company", "need", "budget", "decides", "timeline"))


# --- English -------------------------------------------------------------------------------------
async def test_en_junk_never_becomes_the_name(converse: Any) -> None:
    """"this is useless" became the name and the email went out as "Quote request: Useless"."""
    end = await converse("+14155550101", ["Hi", "this is useless", "this is useless", "hmm"])
    assert end.replies[1] == text("ask_again.name", "en")
    assert end.replies[2] == text("ask.skip", "en") + " " + text("ask.need", "en")
    assert end.handoff == "unresolved"
    assert facts(end.stored) == UNKNOWN
    assert end.subject == "Quote request: +14155550101"


async def test_en_every_fact_of_one_message_is_taken(converse: Any) -> None:
    """"Sam, Sam's Bakery. We need an online shop..." got "What's your name?" five times."""
    end = await converse("+14155550102", [
        "Hi",
        "Sam, Sam's Bakery. We need an online shop, budget 3000 dollars, I decide, need it in "
        "March",
        "yes", "2", "yes",
    ])
    assert sum(text("ask.name", "en") in reply for reply in end.replies) == 1
    assert text("ask.ready", "en") in end.replies[1]
    assert end.handoff == "booked"
    assert facts(end.stored) == {
        "name": "Sam", "company": "Sam's Bakery", "need": "We need an online shop",
        "budget": (3000.0, "USD"), "decides": True, "timeline": "need it in March",
    }
    assert end.subject == "Quote request: Sam (Sam's Bakery)"


async def test_en_a_price_question_is_answered_not_stored_and_slots_are_offered_twice(
    converse: Any,
) -> None:
    """"how much do you usually charge?" became the timeline; the slot list was repeated four
    times with no handoff."""
    end = await converse("+14155550103", [
        "I'm Dana from Brightline Logistics",
        "We need a CRM for our 40 drivers",
        "around $8k a year",
        "my boss decides",
        "how much do you usually charge?",
        "in 3 weeks",
        "yes",
        "none of those work",
        "hmm, no",
    ], profile_name="D.K. 🚚")
    assert end.replies[0].startswith("Hi Dana!")
    assert "Growth: 59 USD per user per month" in end.replies[4]
    assert end.replies[4].endswith(text("ask.timeline", "en"))
    lists = [reply for reply in end.replies if "\n1. " in reply]
    assert len(lists) == 2 and lists[0] != lists[1]  # the second offer has later times
    assert end.handoff == "unresolved"  # the policy gave up: the lead never asked for a person
    assert facts(end.stored) == {
        "name": "Dana", "company": "Brightline Logistics",
        "need": "We need a CRM for our 40 drivers", "budget": (8000.0, "USD"), "decides": False,
        "timeline": "in 3 weeks",
    }
    assert end.subject == "Quote request: Dana (Brightline Logistics)"


async def test_en_the_profile_name_is_the_name_until_the_lead_gives_one(converse: Any) -> None:
    end = await converse("+14155550104", [
        "Hello, we want a new website",
        "not sure", "no idea",  # budget: asked again, then skipped
        "yes I decide",
        "ASAP",
    ], profile_name="Priya Raman 🌼")
    assert end.replies[0].startswith("Hi Priya!")  # the first name, as one writes in a chat
    assert end.handoff == "unresolved"  # nothing left to ask, the budget still unknown
    assert facts(end.stored) == {
        "name": "Priya Raman", "company": None, "need": "we want a new website",
        "budget": None, "decides": True, "timeline": "ASAP",
    }
    assert end.subject == "Quote request: Priya Raman"


# --- Spanish -------------------------------------------------------------------------------------
async def test_es_name_and_company_from_one_sentence(converse: Any) -> None:
    """"Soy Lucía de Ferretería El Martillo" left the company unknown."""
    end = await converse("+34600111201", [
        "Soy Lucía de Ferretería El Martillo",
        "Necesitamos una tienda online",
        "depende",
        "no sé",
        "yo decido",
        "el mes que viene",
    ])
    assert end.replies[0].startswith("¡Hola Lucía!")
    assert end.replies[2] == text("ask_again.budget", "es")
    assert end.replies[3] == text("ask.skip", "es") + " " + text("ask.authority", "es")
    assert end.handoff == "unresolved"
    assert facts(end.stored) == {
        "name": "Lucía", "company": "Ferretería El Martillo",
        "need": "Necesitamos una tienda online", "budget": None, "decides": True,
        "timeline": "el mes que viene",
    }
    assert end.subject == "Quote request: Lucía (Ferretería El Martillo)"


async def test_es_a_vague_lead_goes_to_a_person(converse: Any) -> None:
    end = await converse("+34600111202", [
        "Hola, quiero información", "hmm", "depende", "no sé todavía",
    ], profile_name="Carlos Ruiz")
    assert end.replies[0].startswith("¡Hola Carlos!")
    assert end.handoff == "unresolved"
    assert facts(end.stored) == UNKNOWN | {"name": "Carlos Ruiz"}
    assert end.subject == "Quote request: Carlos Ruiz"


async def test_es_everything_at_once_then_a_booking(converse: Any) -> None:
    end = await converse("+34600111203", [
        "Hola, me llamo Andrés, trabajo en Clínica Dental Sonrisa. Buscamos un sistema de "
        "citas, presupuesto 4.000 euros, decido yo, lo antes posible",
        "sí", "la primera", "sí",
    ])
    assert end.handoff == "booked"
    assert facts(end.stored) == {
        "name": "Andrés", "company": "Clínica Dental Sonrisa",
        "need": "Buscamos un sistema de citas", "budget": (4000.0, "EUR"), "decides": True,
        "timeline": "lo antes posible",
    }
    assert end.subject == "Quote request: Andrés (Clínica Dental Sonrisa)"


# --- Portuguese ----------------------------------------------------------------------------------
async def test_pt_non_answers_fill_nothing_and_hand_over(converse: Any) -> None:
    """"queria saber mais" became a name; "hmm", "depende", "não sei ainda" filled budget,
    authority and timeline and moved a vague lead to scheduling."""
    end = await converse("+5511987650301", [
        "Olá",
        "queria saber mais",
        "João",
        "Precisamos de um site para a loja",
        "hmm",
        "depende",
        "não sei ainda",
    ])
    assert end.replies[1] == text("ask_again.name", "pt")
    assert end.handoff == "unresolved"
    assert facts(end.stored) == UNKNOWN | {
        "name": "João", "need": "Precisamos de um site para a loja",
    }
    assert end.subject == "Quote request: João"
    # The manager reads the bot's questions with the lead's answers: the history not folded into
    # the summary yet, whole (a longer conversation's summary lists them the same way).
    assert "Com quem eu falo? Qual é o seu nome?\n  Lead: queria saber mais" in end.email
    assert "Como posso te chamar?\n  Lead: João" in end.email


async def test_pt_profile_name_and_everything_at_once(converse: Any) -> None:
    end = await converse("+5511987650302", [
        "Oi! Somos a Padaria Pão Quente, precisamos de um app de delivery, orçamento R$ 20 mil, "
        "eu decido, queremos começar em março",
        "sim", "1", "sim",
    ], profile_name="Mariana 🌻")
    assert end.replies[0].startswith("Olá Mariana!")
    assert end.handoff == "booked"
    assert facts(end.stored) == {
        "name": "Mariana", "company": "Padaria Pão Quente",
        "need": "precisamos de um app de delivery", "budget": (20000.0, "BRL"),
        "decides": True, "timeline": "queremos começar em março",
    }
    assert end.subject == "Quote request: Mariana (Padaria Pão Quente)"


# --- French, German, Italian (the replies are English until their catalogues arrive) --------------
async def test_fr_conversation(converse: Any) -> None:
    end = await converse("+33612345601", [
        "Bonjour, je m'appelle Claire, de Boulangerie Dupont",
        "Nous avons besoin d'une boutique en ligne",
        "5000 euros",
        "c'est moi qui décide",
        "en mars",
        "oui", "1", "oui",
    ])
    assert end.handoff == "booked"
    assert facts(end.stored) == {
        "name": "Claire", "company": "Boulangerie Dupont",
        "need": "Nous avons besoin d'une boutique en ligne", "budget": (5000.0, "EUR"),
        "decides": True, "timeline": "en mars",
    }
    assert end.subject == "Quote request: Claire (Boulangerie Dupont)"


async def test_fr_a_vague_lead_goes_to_a_person(converse: Any) -> None:
    end = await converse("+33612345602", ["Bonjour", "je ne sais pas", "ça dépend", "peut-être"])
    assert end.handoff == "unresolved"
    assert facts(end.stored) == UNKNOWN
    assert end.subject == "Quote request: +33612345602"


async def test_de_conversation(converse: Any) -> None:
    end = await converse("+4915112345601", [
        "Hallo, ich bin Max von Müller GmbH",
        "Wir brauchen ein CRM für unser Team",
        "ungefähr 10.000 Euro",
        "ich entscheide",
        "nächsten Monat",
        "ja, gerne", "2", "genau",
    ])
    assert end.handoff == "booked"
    assert facts(end.stored) == {
        "name": "Max", "company": "Müller GmbH", "need": "Wir brauchen ein CRM für unser Team",
        "budget": (10000.0, "EUR"), "decides": True, "timeline": "nächsten Monat",
    }
    assert end.subject == "Quote request: Max (Müller GmbH)"


async def test_it_conversation(converse: Any) -> None:
    end = await converse("+393331234501", [
        "Ciao, mi chiamo Giulia, lavoro per Pasticceria Rossi",
        "abbiamo bisogno di un sito con e-commerce",
        "non lo so",
        "dipende",
        "decido io",
        "entro giugno",
    ])
    assert end.handoff == "unresolved"
    assert facts(end.stored) == {
        "name": "Giulia", "company": "Pasticceria Rossi",
        "need": "abbiamo bisogno di un sito con e-commerce", "budget": None, "decides": True,
        "timeline": "entro giugno",
    }
    assert end.subject == "Quote request: Giulia (Pasticceria Rossi)"
