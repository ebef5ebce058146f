"""The deterministic fallback policy: parsers, slot choice, confirmation, the next question."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agents.fallback.parsers import (
    parse_budget,
    parse_date,
    parse_decides,
    parse_email,
    parse_name,
    parse_slot_choice,
    parse_yes_no,
)
from agents.fallback.policy import (
    FALLBACK_TURNS,
    format_slot,
    next_item,
    qualify,
    scheduling_action,
)
from domain.booking import Slot
from domain.language import detect_language
from domain.lead import Budget, LeadProfile, Need
from domain.texts import text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, I need a CRM for my company", "en"),
        ("Hello, we are looking for a tool", "en"),
        ("Hola, necesito un CRM para mi empresa", "es"),
        ("¿Cuánto cuesta?", "es"),
        ("Buenos días, quiero información", "es"),
        ("Olá, preciso de um CRM", "pt"),
        ("Oi! Quero saber o preço", "pt"),
        ("Você pode me ajudar?", "pt"),
        ("obrigado", "pt"),
        ("gracias", "es"),
        ("12345", None),
        ("", None),
        ("👍", None),
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my email is ana@acme.com", "ana@acme.com"),
        ("ana.b+crm@mail.acme.co.uk.", "ana.b+crm@mail.acme.co.uk"),
        ("write to <ana@acme.com>", "ana@acme.com"),
        ("ana@acme", None),
        ("no email", None),
        ("@acme.com", None),
    ],
)
def test_parse_email(text: str, expected: str | None) -> None:
    assert parse_email(text) == expected


@pytest.mark.parametrize(
    ("text", "bare", "expected"),
    [
        ("5k USD", False, (5000.0, "USD")),
        ("around 5k usd per year", False, (5000.0, "USD")),
        ("$5,000", False, (5000.0, "USD")),
        ("US$ 12.500", False, (12500.0, "USD")),
        ("R$ 10 mil", False, (10000.0, "BRL")),
        ("10 mil reais", False, (10000.0, "BRL")),
        ("10.000 euros", False, (10000.0, "EUR")),
        ("€2,5k", False, (2500.0, "EUR")),
        ("2.5k", False, (2500.0, None)),
        ("1.5 million dollars", False, (1500000.0, "USD")),
        ("MXN 30000", False, (30000.0, "MXN")),
        ("20000 pesos", True, (20000.0, None)),
        ("20000", True, (20000.0, None)),
        ("20000", False, None),
        ("we are 20 people", False, None),
        ("no budget yet", True, None),
        ("0 USD", False, None),
    ],
)
def test_parse_budget(text: str, bare: bool, expected: tuple[float, str | None] | None) -> None:
    assert parse_budget(text, bare=bare) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("2030-03-01", None, dt.date(2030, 3, 1)),
        ("starting 2030-3-1 ideally", "en", dt.date(2030, 3, 1)),
        ("01/03/2030", "es", dt.date(2030, 3, 1)),
        ("01/03/2030", "en", dt.date(2030, 1, 3)),
        ("1.3.2030", "pt", dt.date(2030, 3, 1)),
        ("2030-02-30", None, None),
        ("31/02/2030", "es", None),
        ("next month", "en", None),
    ],
)
def test_parse_date(text: str, language: str | None, expected: dt.date | None) -> None:
    assert parse_date(text, language=language) == expected


@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("Hi, my name is Ana", False, "Ana"),
        ("I'm Ana from Acme", False, "Ana"),
        ("soy Ana de Acme", False, "Ana"),
        ("I'm interested in a CRM", False, None),
        ("Me llamo José Pérez", False, "José Pérez"),
        ("Soy la directora", False, None),
        ("Meu nome é João", False, "João"),
        ("sou a Maria", False, "Maria"),
        ("ana", True, "Ana"),
        ("María José", True, "María José"),
        ("ana", False, None),
        ("I need a CRM for 20 people", True, None),
        ("12345", True, None),
    ],
)
def test_parse_name(text: str, asked: bool, expected: str | None) -> None:
    assert parse_name(text, asked=asked) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True), ("Yes please", True), ("sí", True), ("Si, claro", True), ("sim", True),
        ("ok", True), ("dale", True), ("no", False), ("não", False), ("nope", False),
        ("no, thanks", False), ("maybe", None), ("", None), ("yes and no", None),
    ],
)
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes, I decide", True), ("yo decido", True), ("eu decido", True),
        ("my boss decides", False), ("mi jefe aprueba", False), ("meu chefe", False),
        ("someone else", False), ("no", False), ("depends", None),
    ],
)
def test_parse_decides(text: str, expected: bool | None) -> None:
    assert parse_decides(text) == expected


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("2", 3, 2), ("option 3", 3, 3), ("the second one", 3, 2), ("la segunda", 3, 2),
        ("a primeira", 3, 1), ("the last", 3, 3), ("o último", 3, 3), ("1st", 3, 1),
        ("4", 3, None), ("Tuesday at 4", 3, None), ("at 10:00", 3, None), ("1 or 2", 3, None),
        ("none of those", 3, None), ("2", 0, None), ("2pm", 3, None),
    ],
)
def test_parse_slot_choice(text: str, count: int, expected: int | None) -> None:
    assert parse_slot_choice(text, count) == expected


@pytest.mark.parametrize(
    ("texts", "offered", "proposed", "expected"),
    [
        (["hi"], 0, None, ("offer", None)),
        (["2"], 3, None, ("confirm", 2)),
        (["2"], 0, None, ("offer", None)),
        (["yes"], 3, None, ("offer", None)),  # nothing proposed: yes alone books nothing
        (["yes"], 3, 2, ("book", 2)),
        (["sí"], 3, 1, ("book", 1)),
        (["yes, the second"], 3, 2, ("book", 2)),
        (["yes, the third"], 3, 2, ("confirm", 3)),  # a different pick is asked back
        (["no"], 3, 2, ("offer", None)),
        (["the first"], 3, 2, ("confirm", 1)),
        (["yes"], 2, 3, ("offer", None)),  # proposal out of range
    ],
)
def test_scheduling_action(
    texts: list[str], offered: int, proposed: int | None, expected: tuple[str, int | None]
) -> None:
    assert scheduling_action(texts, offered=offered, proposed=proposed) == expected


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Tue 8 Jan, 11:00 (Europe/Madrid)"),
        ("es", "mar 8 ene, 11:00 (Europe/Madrid)"),
        ("pt", "ter 8 jan, 11:00 (Europe/Madrid)"),
        ("de", "Di 8 Jan, 11:00 (Europe/Madrid)"),
        ("xx", "Tue 8 Jan, 11:00 (Europe/Madrid)"),  # no such language file: English
    ],
)
def test_format_slot_in_the_leads_zone(language: str, expected: str) -> None:
    start = dt.datetime(2030, 1, 8, 10, 0, tzinfo=dt.UTC)
    slot = Slot(start=start, end=start + dt.timedelta(minutes=30))
    assert format_slot(slot, ZoneInfo("Europe/Madrid"), language) == expected


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        (LeadProfile(), "name"),
        (LeadProfile(name="Ana"), "need"),
        (LeadProfile(name="Ana", need=Need(words="x")), "budget"),
        (LeadProfile(need=Need(words="x")), "name"),
    ],
)
def test_next_item(profile: LeadProfile, expected: str) -> None:
    assert next_item(profile) == expected


def test_qualify_first_message_greets_and_reads_the_need() -> None:
    step = qualify(LeadProfile(), asked=None, texts=["Hola, necesito un CRM"], message_id="m1",
                   language=None, first_turn=True)
    assert step.language == "es" and step.asked == "name"
    assert step.reply.startswith("¡Hola! Gracias por escribirnos.")
    assert step.profile.need == Need(words="Hola, necesito un CRM", message_id="m1")


@pytest.mark.parametrize(
    ("asked", "text", "check"),
    [
        ("name", "Ana", lambda p: p.name == "Ana"),
        ("need", "a CRM", lambda p: p.need.words == "a CRM"),
        ("budget", "5k USD", lambda p: (p.budget.amount, p.budget.currency) == (5000, "USD")),
        ("budget", "not sure yet",
         lambda p: p.budget.words == "not sure yet" and p.budget.amount is None),
        ("authority", "yes I decide", lambda p: p.authority.decides is True),
        ("timeline", "2030-05-01", lambda p: p.timeline.date == dt.date(2030, 5, 1)),
        ("timeline", "mid 2030",
         lambda p: p.timeline.date is None and p.timeline.words == "mid 2030"),
        ("need", "mail me at ana@acme.com", lambda p: p.email == "ana@acme.com"),
    ],
)
def test_qualify_reads_the_answer_to_what_was_asked(asked: str, text: str, check: object) -> None:
    step = qualify(LeadProfile(), asked=asked, texts=[text], message_id="m9", language="en",
                   first_turn=False)
    assert check(step.profile)  # type: ignore[operator]


def test_qualify_asks_the_next_missing_item_in_the_leads_language() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"), budget=Budget(words="5k"))
    step = qualify(profile, asked="budget", texts=["5k"], message_id="m", language="pt",
                   first_turn=False)
    assert step.asked == "authority"
    assert step.reply == text("greeting.thanks", "pt") + " " + text("ask.authority", "pt")


def test_qualify_when_everything_is_known_proposes_a_call() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"), budget=Budget(words="5k"))
    step = qualify(profile, asked="authority", texts=["I decide"], message_id="m", language="en",
                   first_turn=False)
    step = qualify(step.profile, asked=step.asked, texts=["next week"], message_id="m",
                   language="en", first_turn=False)
    assert step.asked is None and "book a call" in step.reply


def test_unsupported_language_gets_english() -> None:
    assert text("ask.name", "xx") == text("ask.name", "en")


def test_fallback_turns_are_counted() -> None:
    before = FALLBACK_TURNS.labels(agent="greeting", cause="no_model")._value.get()
    FALLBACK_TURNS.labels(agent="greeting", cause="no_model").inc()
    assert FALLBACK_TURNS.labels(agent="greeting", cause="no_model")._value.get() == before + 1


def test_parse_email_reads_one_whatsapp_message_at_most() -> None:
    # A 100,000-character word froze the process: the pattern rescanned the run from every
    # position (quadratic). Now a match starts only where a run starts, within 4,096 characters.
    assert parse_email("x" * 4000 + " ana@acme.com") == "ana@acme.com"
    assert parse_email("x" * 5000 + " ana@acme.com") is None
    assert parse_email("x." * 50_000) is None
    assert parse_email("a@" * 50_000) is None


def test_qualify_reads_the_first_4096_characters_of_a_burst() -> None:
    # A flood burst (fifty messages of 4,096 characters) cost the event loop about 200 ms here.
    flood = ["x" * 4096] * 49 + ["ana@acme.com"]
    step = qualify(
        LeadProfile(), asked=None, texts=flood, message_id="m", language="en", first_turn=False
    )
    assert step.profile.email is None
    step = qualify(
        LeadProfile(), asked=None, texts=["ana@acme.com", *flood], message_id="m", language="en",
        first_turn=False,
    )
    assert step.profile.email == "ana@acme.com"
