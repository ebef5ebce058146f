"""The fallback policy's field validators and readers: what passes as a name, a company, a need,
an amount, who decides, a timeline; what is a non-answer; bounded input, linear time."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from agents.fallback.parsers import parse_budget, parse_email
from agents.fallback.validators import (
    MAX_INPUT,
    clauses,
    is_evasive,
    is_question,
    read_authority,
    read_budget,
    read_identity,
    read_need,
    read_timeline,
    time_expression,
    valid_company,
    valid_name,
    valid_profile_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sam, Sam's Bakery. We need an online shop, budget 3000 dollars",
         [("Sam", False), ("Sam's Bakery", False), ("We need an online shop", False),
          ("budget 3000 dollars", False)]),
        ("$5,000 or 5.000 €? ok", [("$5,000 or 5.000 €", True), ("ok", False)]),
        ("hi!\nI'm Ana; CRM - soon", [("hi", False), ("I'm Ana", False), ("CRM", False),
                                     ("soon", False)]),
        ("", []), ("?!.", []),
    ],
)
def test_clauses(text: str, expected: list[tuple[str, bool]]) -> None:
    assert [(c.text, c.question) for c in clauses(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("how much is it", True), ("Cuánto cuesta", True), ("a CRM?", True), ("a CRM", False),
     ("Quanto custa", True), ("Combien ça coûte", True), ("Wie viel kostet das", True),
     ("Quanto costa", True), ("Sam", False)],
)
def test_is_question(text: str, expected: bool) -> None:
    assert is_question(clauses(text)[0]) == expected


@pytest.mark.parametrize(
    "text",
    ["hmm", "Hmmm...", "mmm", "uhh", "not sure", "I don't know", "idk", "it depends", "maybe",
     "depende", "no sé", "ni idea", "tal vez", "não sei ainda", "sei lá", "talvez",
     "je ne sais pas", "ça dépend", "peut-être", "keine Ahnung", "weiß nicht", "vielleicht",
     "non lo so", "dipende", "boh", "forse"],
)
def test_evasive(text: str) -> None:
    assert is_evasive(text)


@pytest.mark.parametrize(
    "text", ["Sam", "we need a CRM", "5k USD", "next month", "Precisamos de um site", "yes",
             "er entscheidet"],
)
def test_not_evasive(text: str) -> None:
    assert not is_evasive(text)


# --- Names ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("Sam", "Sam"), ("sam", "Sam"), ("SAM", "Sam"), ("Ana Pérez", "Ana Pérez"),
        ("maría josé", "María José"), ("María de la Cruz", "María de la Cruz"),
        ("jean-luc picard", "Jean-Luc Picard"), ("o'neil", "O'Neil"), ("McDonald", "McDonald"),
        ("J. Smith", "J. Smith"), ("Lucía", "Lucía"), ("João", "João"), ("Will", "Will"),
        ("May", "May"), ("Mia", "Mia"), ("Dana!", "Dana"), ("  Ana  ", "Ana"),
        ("Ana Maria Silva Costa", "Ana Maria Silva Costa"),
        ("Zoë Ångström", "Zoë Ångström"), ("Dana K", "Dana K"), ("Frances", "Frances"),
    ],
)
def test_valid_name(candidate: str, expected: str) -> None:
    assert valid_name(candidate) == expected


@pytest.mark.parametrize(
    "candidate",
    [
        "this is useless", "useless", "queria saber mais", "how much do you usually charge?",
        "hmm", "depende", "não sei ainda", "not sure", "ok", "yes", "hello", "thanks",
        "Sam's Bakery", "Acme Ltd", "the owner", "CEO", "a CRM", "online shop", "12345",
        "Ana2", "ana@acme.com", "Ana?", "one two three four five", "de la", "Ana de",
        "J", "", "   ", "lol", "test", "bot", "info", "precio", "orçamento", "prix",
        "I", "me", "Mom", "quiero información", "je voudrais savoir", "ich möchte wissen",
        "vorrei sapere", "www.acme.com", "Sam 🍰", "x" * 31, "Ana_B",
    ],
)
def test_not_a_name(candidate: str) -> None:
    assert valid_name(candidate) is None


@pytest.mark.parametrize(
    ("profile_name", "expected"),
    [("Sam 🍰", "Sam"), ("~Dana K~", "Dana K"), ("  lucía ", "Lucía"), ("Sam's Bakery", None),
     ("Mom ❤️ phone", None), ("🌸🌸", None), ("+34 600 111 222", None), (None, None),
     ("Acme Ltd", None), ("Work", None)],
)
def test_valid_profile_name(profile_name: str | None, expected: str | None) -> None:
    assert valid_profile_name(profile_name) == expected


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [("Brightline Logistics", "Brightline Logistics"), ("Sam's Bakery", "Sam's Bakery"),
     ("Ferretería El Martillo", "Ferretería El Martillo"), ("The Bakery Co", "The Bakery Co"),
     ("Acme", "Acme"), ("3M", "3M"), ("Brazil", None), ("São Paulo", None),
     ("we need a shop", None), ("the", None), ("not sure", None), ("Acme?", None),
     ("one two three four five six seven", None), ("", None), ("-Acme", None),
     ("a bank", None), ("the north", None), ("myself", None)],
)
def test_valid_company(candidate: str, expected: str | None) -> None:
    assert valid_company(candidate) == expected


@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        # The examples of issue #14.
        ("I'm Dana from Brightline Logistics", False, ("Dana", "Brightline Logistics")),
        ("Soy Lucía de Ferretería El Martillo", False, ("Lucía", "Ferretería El Martillo")),
        ("Sam, Sam's Bakery. We need an online shop, budget 3000 dollars, I decide, need it "
         "in March", True, ("Sam", "Sam's Bakery")),
        ("Sam, Sam's Bakery. We need an online shop", False, ("Sam", "Sam's Bakery")),
        ("this is useless", True, (None, None)),
        ("queria saber mais", True, (None, None)),
        ("how much do you usually charge?", True, (None, None)),
        # Phrases, in each language.
        ("Hi, my name is Ana", False, ("Ana", None)),
        ("my name is ana", False, ("Ana", None)),
        ("Hi! I'm Ana and we need a CRM", False, ("Ana", None)),
        ("I'm interested in a CRM", False, (None, None)),
        ("i'm interested", True, (None, None)),
        ("I'm fine thanks", True, (None, None)),
        ("Me llamo José Pérez", False, ("José Pérez", None)),
        ("soy Ana de Acme", False, ("Ana", "Acme")),
        ("Soy la directora", False, (None, None)),
        ("Meu nome é João", False, ("João", None)),
        ("sou a Maria", True, ("Maria", None)),
        ("Sou o João da Silva", False, ("João da Silva", None)),
        ("María de la Cruz aquí", True, ("María de la Cruz", None)),
        ("Je m'appelle Claire, de Boulangerie Dupont", False,
         ("Claire", "Boulangerie Dupont")),
        ("Ich heiße Max", False, ("Max", None)),
        ("Ich bin Max von Müller GmbH", False, ("Max", "Müller GmbH")),
        ("Mi chiamo Giulia, lavoro per Pasticceria Rossi", False,
         ("Giulia", "Pasticceria Rossi")),
        ("Sono Marco", False, ("Marco", None)),
        ("I'm Ana from Brazil", False, ("Ana", None)),
        ("I'm Brazilian", False, (None, None)), ("I'm New here", False, (None, None)),
        ("I'm Sorry", False, (None, None)),
        ("This is Ana from Acme Inc.", False, ("Ana", "Acme Inc")),
        # A bare answer to "what's your name?".
        ("Sam", True, ("Sam", None)), ("sam", True, ("Sam", None)),
        ("Sam here", True, ("Sam", None)), ("Hi, Sam", True, ("Sam", None)),
        ("it's Sam", True, ("Sam", None)), ("Ana, Acme", True, ("Ana", "Acme")),
        ("Dana from Brightline", True, ("Dana", "Brightline")),
        ("Sam", False, (None, None)),  # not asked: a lone word is not taken as a name
        ("Sam we need a shop", True, (None, None)),
        ("I need a CRM for 20 people", True, (None, None)),
        ("12345", True, (None, None)), ("hmm", True, (None, None)),
        ("Is Sam ok?", True, (None, None)),
        # Companies without a name.
        ("my company is acme", False, (None, "acme")),
        ("I work at Globex Corporation", False, (None, "Globex Corporation")),
        ("trabajo en Panadería Sol", False, (None, "Panadería Sol")),
        ("Acme Ltd", False, (None, "Acme Ltd")),
        ("we are 20 people", True, (None, None)),
        ("We are Studio 54", False, (None, "Studio 54")),
        ("somos a Padaria Pão Quente", False, (None, "Padaria Pão Quente")),
        ("we're interested", False, (None, None)),
        ("I work at a bank", False, (None, None)), ("I work for myself", False, (None, None)),
        ("trabalho na área de vendas", False, (None, None)),
        ("we are from the north", False, (None, None)),
        ("mi empresa es panadería sol", False, (None, "panadería sol")),
    ],
)
def test_read_identity(text: str, asked: bool, expected: tuple[str | None, str | None]) -> None:
    assert read_identity(clauses(text), asked=asked) == expected


# --- Need ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("Sam, Sam's Bakery. We need an online shop, budget 3000 dollars, I decide, need it "
         "in March", False, "We need an online shop"),
        ("need it in March", False, None),
        ("Hola, necesito un CRM", False, "necesito un CRM"),
        ("Precisamos de um site", False, "Precisamos de um site"),
        ("nous avons besoin d'un site web", False, "nous avons besoin d'un site web"),
        ("Wir brauchen ein CRM", False, "Wir brauchen ein CRM"),
        ("abbiamo bisogno di un gestionale", False, "abbiamo bisogno di un gestionale"),
        ("I want to know more", False, None), ("I want to know more", True, None),
        ("queria saber mais", True, None), ("quiero información", True, None),
        ("a CRM", True, "a CRM"), ("a CRM", False, None),
        ("hmm", True, None), ("not sure, maybe a shop", True, None),
        ("how much is it?", True, None), ("next month", True, None),
        ("I decide", True, None), ("5k USD", True, None),
        ("5k USD, a new website", True, "a new website"),
        ("We're looking for a CRM for 20 sellers", False, "We're looking for a CRM for 20 sellers"),
    ],
)
def test_read_need(text: str, asked: bool, expected: str | None) -> None:
    assert read_need(clauses(text), asked=asked) == expected


# --- Budget --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("budget 3000 dollars", False, ("budget 3000 dollars", 3000.0, "USD")),
        ("$8k", False, ("$8k", 8000.0, "USD")),
        ("R$ 10 mil", True, ("R$ 10 mil", 10000.0, "BRL")),
        ("unos 5.000 euros", True, ("unos 5.000 euros", 5000.0, "EUR")),
        ("5000", True, ("5000", 5000.0, None)),
        ("5000", False, None),
        ("we are 20 people, budget 5k", False, ("budget 5k", 5000.0, None)),
        ("we have 20k customers", False, None),
        ("we are 20 people", True, None),
        ("in 3 weeks", True, None),
        ("no budget yet", True, ("no budget yet", None, None)),
        ("sin presupuesto", True, ("sin presupuesto", None, None)),
        ("não temos orçamento", True, ("não temos orçamento", None, None)),
        ("pas de budget", True, ("pas de budget", None, None)),
        ("kein Budget", True, ("kein Budget", None, None)),
        ("nessun budget", True, ("nessun budget", None, None)),
        ("not sure yet", True, None), ("we have budget", True, None),
        ("hmm", True, None), ("depende", True, None), ("0 USD", True, None),
    ],
)
def test_read_budget(
    text: str, asked: bool, expected: tuple[str, float | None, str | None] | None
) -> None:
    found = read_budget(clauses(text), asked=asked)
    assert (None if found is None else (found.words, found.amount, found.currency)) == expected


# --- Authority -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("I decide", False, ("I decide", True)),
        ("we need a shop, I decide", False, ("I decide", True)),
        ("my boss decides", False, ("my boss decides", False)),
        ("yes", True, ("yes", True)), ("no", True, ("no", False)),
        ("yes", False, None),
        ("yo decido", True, ("yo decido", True)), ("mi jefe", True, ("mi jefe", False)),
        ("eu decido", True, ("eu decido", True)), ("je décide", True, ("je décide", True)),
        ("ich entscheide", True, ("ich entscheide", True)),
        ("decido io", True, ("decido io", True)),
        ("hmm", True, None), ("depende", True, None), ("não sei ainda", True, None),
        ("no sé", True, None), ("not sure", True, None), ("je ne sais pas", True, None),
        ("ok", True, None), ("vale", True, None),
    ],
)
def test_read_authority(text: str, asked: bool, expected: tuple[str, bool] | None) -> None:
    assert read_authority(clauses(text), asked=asked, text=text) == expected


# --- Timeline ------------------------------------------------------------------------------------
STRONG_TIMES = [
    "need it in March", "by May", "next month", "next week", "in 3 weeks", "in two months",
    "within a few weeks", "ASAP", "as soon as possible", "end of the year", "Q2", "H2",
    "second quarter", "2030-03-01", "01/03/2030", "March 2030", "15 March",
    "en marzo", "para abril", "el mes que viene", "la semana que viene", "el próximo mes",
    "en 3 semanas", "dentro de dos meses", "lo antes posible", "cuanto antes", "a fin de año",
    "15 de marzo", "segundo trimestre",
    "em março", "mês que vem", "próximo mês", "em duas semanas", "daqui a 2 meses",
    "o quanto antes", "fim do ano",
    "en mars", "le mois prochain", "dans 3 semaines", "dès que possible", "fin du mois",
    "im März", "nächsten Monat", "in 3 Wochen", "so schnell wie möglich", "Ende des Jahres",
    "a marzo", "il mese prossimo", "tra 3 settimane", "il prima possibile", "entro giugno",
]


@pytest.mark.parametrize("text", STRONG_TIMES)
def test_time_expressions(text: str) -> None:
    assert time_expression(text, asked=False)
    assert time_expression(text, asked=True)


WEAK_TIMES = ["March", "marzo", "2030", "soon", "now", "tomorrow", "this year", "pronto", "ya",
              "agora", "logo", "bientôt", "bald", "presto", "Monday", "lunes"]


@pytest.mark.parametrize("text", WEAK_TIMES)
def test_weak_time_expressions_only_when_asked(text: str) -> None:
    assert time_expression(text, asked=True)
    assert not time_expression(text, asked=False)


@pytest.mark.parametrize(
    "text",
    ["how much do you usually charge?", "hmm", "depende", "não sei ainda", "not sure",
     "we are 20 people", "5k USD", "later", "ok", "we use Excel"],
)
def test_not_a_time_expression(text: str) -> None:
    assert not time_expression(text, asked=True)


@pytest.mark.parametrize("text", ["we may need a CRM", "I'm Marco", "right now we use Excel"])
def test_a_month_or_now_in_passing_is_no_timeline(text: str) -> None:
    assert not time_expression(text, asked=False)


@pytest.mark.parametrize(
    ("text", "asked", "expected"),
    [
        ("I decide, need it in March", False, ("need it in March", None)),
        ("starting 2030-05-01", False, ("starting 2030-05-01", dt.date(2030, 5, 1))),
        ("March", True, ("March", None)), ("March", False, None),
        ("how much do you usually charge?", True, None),
    ],
)
def test_read_timeline(
    text: str, asked: bool, expected: tuple[str, dt.date | None] | None
) -> None:
    assert read_timeline(clauses(text), asked=asked, language="en") == expected


# --- Bounds --------------------------------------------------------------------------------------
def test_only_the_first_max_input_characters_are_read() -> None:
    padding = "x " * (MAX_INPUT // 2)
    assert not time_expression(padding + "in March", asked=False)
    assert read_identity(clauses(padding + ", I'm Ana"), asked=False) == (None, None)
    assert time_expression("in March " + padding, asked=False)


@pytest.mark.parametrize(
    "text",
    ["a" * 10_000, "1," * 5_000, "in " * 3_000, "hmm " * 2_500, "Ana " * 2_500, ". " * 5_000,
     "de " * 3_000 + "Acme", "I'm " * 2_500, "$" * 10_000, "9" * 10_000, "next " * 2_000,
     "a@" * 5_000, "a" * 4_000 + "@" + "b." * 3_000, "111 " * 2_500, "need " * 1_000,
     "we need it " * 400, "my name is " * 400, "Sam, " * 1_000],
)
def test_readers_stay_fast_on_hostile_input(text: str) -> None:
    started = time.perf_counter()
    parts = clauses(text)
    read_identity(parts, asked=True)
    read_need(parts, asked=True)
    read_budget(parts, asked=True)
    read_authority(parts, asked=True, text=text)
    read_timeline(parts, asked=True, language="en")
    is_evasive(text)
    valid_name(text)
    valid_company(text)
    parse_email(text[:MAX_INPUT])
    parse_budget(text[:MAX_INPUT], bare=True)
    # Linear work on 4,096 characters takes milliseconds; a quadratic reader takes seconds.
    assert time.perf_counter() - started < 1.0
