"""The deterministic fallback policy: parsers, slot choice, confirmation, the next question."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agents.fallback.parsers import (
    parse_budget,
    parse_date,
    parse_decides_stated,
    parse_email,
    parse_slot_choice,
    parse_yes_no,
)
from agents.fallback.policy import (
    FALLBACK_TURNS,
    ITEMS,
    FallbackStep,
    asking,
    format_slot,
    next_item,
    qualify,
    read_asked,
    scheduling_action,
)
from domain.booking import Slot
from domain.business import load_business
from domain.language import detect_language
from domain.lead import Authority, Budget, LeadProfile, Need
from domain.texts import LANGUAGES, catalogue, text


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
        ("9" * 40, True, None),  # not a budget, and never infinity
        ("2000000000k USD", False, None),
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
    ("text", "expected"),
    [
        ("yes", True), ("Yes please", True), ("sí", True), ("Si, claro", True), ("sim", True),
        ("ok", True), ("dale", True), ("no", False), ("não", False), ("nope", False),
        ("no, thanks", False), ("maybe", None), ("", None), ("yes and no", None),
        ("oui", True), ("d'accord", True), ("genau", True), ("certo", True), ("non", False),
        ("nein", False), ("já", None),
    ],
)
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) == expected


def test_ja_is_yes_in_a_german_conversation_only() -> None:
    assert parse_yes_no("Ja", language="de") is True
    assert parse_yes_no("ja, gerne", language="de") is True
    assert parse_yes_no("ja", language="pt") is None  # "já": already
    assert scheduling_action(["ja"], offered=3, proposed=2, language="de") == ("book", 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes, I decide", True), ("yo decido", True), ("eu decido", True),
        ("my boss decides", False), ("mi jefe aprueba", False), ("meu chefe", False),
        ("someone else", False), ("no", None), ("yes", None), ("depends", None),
        ("it's not my decision", False), ("je décide", True), ("mon patron", False),
        ("ich entscheide", True), ("mein Chef", False), ("decido io", True),
        ("il mio capo", False),
    ],
)
def test_parse_decides_stated(text: str, expected: bool | None) -> None:
    assert parse_decides_stated(text) == expected


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("2", 3, 2), ("option 3", 3, 3), ("the second one", 3, 2), ("la segunda", 3, 2),
        ("a primeira", 3, 1), ("the last", 3, 3), ("o último", 3, 3), ("1st", 3, 1),
        ("4", 3, None), ("Tuesday at 4", 3, None), ("at 10:00", 3, None), ("1 or 2", 3, None),
        ("none of those", 3, None), ("2", 0, None), ("2pm", 3, None),
        ("la deuxième", 3, 2), ("die erste", 3, 1), ("il terzo", 3, 3), ("le dernier", 3, 3),
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
        ("de", "Di. 8 Jan., 11:00 (Europe/Madrid)"),
        ("xx", "Tue 8 Jan, 11:00 (Europe/Madrid)"),  # no such language file: English
    ],
)
def test_format_slot_in_the_leads_zone(language: str, expected: str) -> None:
    start = dt.datetime(2030, 1, 8, 10, 0, tzinfo=dt.UTC)
    slot = Slot(start=start, end=start + dt.timedelta(minutes=30))
    assert format_slot(slot, ZoneInfo("Europe/Madrid"), language) == expected


@pytest.mark.parametrize(
    ("profile", "after", "expected"),
    [
        (LeadProfile(), 0, "name"),
        (LeadProfile(name="Ana"), 0, "need"),
        (LeadProfile(name="Ana", need=Need(words="x")), 0, "budget"),
        (LeadProfile(need=Need(words="x")), 0, "name"),
        (LeadProfile(need=Need(words="x")), 1, "budget"),  # the name was skipped
        (LeadProfile(), 5, None),
    ],
)
def test_next_item(profile: LeadProfile, after: int, expected: str | None) -> None:
    assert next_item(profile, after=after) == expected


@pytest.mark.parametrize(
    ("item", "times", "asked"),
    [("budget", 1, "budget"), ("budget", 2, "budget/2"), ("slots", 3, "slots/3"),
     (None, 1, None)],
)
def test_asking_round_trips(item: str | None, times: int, asked: str | None) -> None:
    assert asking(item, times) == asked
    assert read_asked(asked) == ((item, times) if item else (None, 0))


KNOWN: dict[str, object] = {
    "name": "Ana", "need": Need(words="a CRM"), "budget": Budget(words="5k", amount=5000),
    "authority": Authority(words="I decide", decides=True),
}


def say(asked: str | None, *texts: str, profile: LeadProfile | None = None,
        language: str | None = "en", first_turn: bool = False,
        profile_name: str | None = None) -> FallbackStep:
    return qualify(
        profile or LeadProfile(), asked=asked,
        messages=[(f"m{n}", t) for n, t in enumerate(texts, 1)], language=language,
        first_turn=first_turn, profile_name=profile_name, business=load_business(),
    )


def test_qualify_first_message_greets_and_reads_the_need() -> None:
    step = say(None, "Hola, necesito un CRM", language=None, first_turn=True)
    assert step.language == "es" and step.asked == "name" and step.resolved
    assert step.reply.startswith("¡Hola! Gracias por escribirnos.")
    assert step.profile.need == Need(words="necesito un CRM", message_id="m1")


@pytest.mark.parametrize(
    ("asked", "text", "check"),
    [
        ("name", "Ana", lambda p: p.name == "Ana"),
        ("need", "a CRM", lambda p: p.need.words == "a CRM"),
        ("budget", "5k USD", lambda p: (p.budget.amount, p.budget.currency) == (5000, "USD")),
        ("budget", "no budget at all",
         lambda p: p.budget.words == "no budget at all" and p.budget.amount is None),
        ("authority", "yes I decide", lambda p: p.authority.decides is True),
        ("timeline", "2030-05-01", lambda p: p.timeline.date == dt.date(2030, 5, 1)),
        ("timeline", "mid 2030",
         lambda p: p.timeline.date is None and p.timeline.words == "mid 2030"),
        ("need", "mail me at ana@acme.com", lambda p: p.email == "ana@acme.com"),
    ],
)
def test_qualify_reads_the_answer_to_what_was_asked(asked: str, text: str, check: object) -> None:
    step = say(asked, text)
    assert check(step.profile) and step.resolved  # type: ignore[operator]


def test_the_evidence_is_the_message_the_words_came_from() -> None:
    step = say("need", "We need a CRM", "budget 5k USD")
    assert step.profile.need is not None and step.profile.need.message_id == "m1"
    assert step.profile.budget is not None and step.profile.budget.message_id == "m2"


def test_qualify_asks_the_next_missing_item_in_the_leads_language() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"))
    step = say("budget", "5k", profile=profile, language="pt")
    assert step.asked == "authority"
    assert step.reply == text("greeting.thanks", "pt") + " " + text("ask.authority", "pt")


def test_qualify_when_everything_is_known_proposes_a_call() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"), budget=Budget(words="5k"))
    step = say("authority", "I decide", profile=profile)
    step = say(step.asked, "next week", profile=step.profile)
    assert step.asked is None and "book a call" in step.reply and not step.stuck


@pytest.mark.parametrize("item", ["name", "need", "budget", "authority", "timeline"])
@pytest.mark.parametrize(
    "answer",
    ["hmm", "depende", "não sei ainda", "not sure", "this is useless", "queria saber mais",
     "how much do you usually charge?", "ok", "👍", "je ne sais pas", "keine Ahnung", "boh"],
)
def test_evasive_answers_store_nothing(item: str, answer: str) -> None:
    profile = LeadProfile.model_validate(
        {k: v for k, v in KNOWN.items() if ITEMS.index(k) < ITEMS.index(item)}
    )
    step = say(item, answer, profile=profile)
    assert step.profile.model_dump(exclude={"language"}) == profile.model_dump(
        exclude={"language"}
    )
    if answer == "how much do you usually charge?":  # answered from the prices, then asked again
        assert step.resolved and step.asked == item
        assert step.reply.endswith(text(f"ask.{item}", step.language))
    else:
        assert not step.resolved and step.asked == f"{item}/2"
        assert step.reply.endswith(text(f"ask_again.{item}", step.language))


@pytest.mark.parametrize("answer", ["hmm", "not sure", "this is useless", "ok", "👍"])
def test_a_non_answer_is_asked_again_in_other_words_then_skipped(answer: str) -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"))
    first = say("budget", answer, profile=profile)
    assert (first.asked, first.resolved, first.profile.budget) == ("budget/2", False, None)
    assert first.reply == text("ask_again.budget", "en")
    second = say(first.asked, answer, profile=first.profile)
    assert (second.asked, second.resolved, second.profile.budget) == ("authority", False, None)
    assert second.reply == text("ask.skip", "en") + " " + text("ask.authority", "en")
    # Skipped stays skipped: the next answer moves on, budget is not asked a third time.
    third = say(second.asked, "I decide", profile=second.profile)
    assert third.asked == "timeline" and third.resolved


def test_with_a_skipped_item_the_last_answer_goes_to_a_person() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"), authority=None)
    step = say("timeline/2", "dunno", profile=profile.model_copy(
        update={"budget": Budget(words="5k", amount=5000)}))
    assert step.stuck and step.reply == "" and step.profile.timeline is None


def test_the_profile_name_stands_in_until_the_lead_gives_one() -> None:
    step = say(None, "Hi, we need a website", first_turn=True, profile_name="Sam Lee 🍰")
    assert step.profile.name == "Sam Lee" and step.asked == "budget"
    assert step.reply.startswith("Hi Sam!")
    step = say(step.asked, "I'm Samuel, budget 5k USD", profile=step.profile,
               profile_name="Sam Lee 🍰")
    assert step.profile.name == "Samuel"
    # A name the lead gave is not replaced in passing.
    step = say(step.asked, "This is Joe's idea, I decide", profile=step.profile)
    assert step.profile.name == "Samuel"


@pytest.mark.parametrize("profile_name", ["Sam's Bakery", "~", "Mom ❤️ phone", "Acme Ltd", None])
def test_a_profile_name_that_is_no_name_is_not_used(profile_name: str | None) -> None:
    step = say(None, "hello", first_turn=True, profile_name=profile_name)
    assert step.profile.name is None and step.asked == "name"


def test_a_question_is_answered_from_the_faq_then_the_question_is_asked_again() -> None:
    profile = LeadProfile(name="Ana", need=Need(words="CRM"))
    step = say("budget", "Is there a free trial?", profile=profile)
    assert step.resolved and step.asked == "budget" and step.profile.budget is None
    assert step.reply == (
        "Yes, 14 days on the Growth plan, no card needed.\n\n" + text("ask.budget", "en")
    )


def test_a_price_question_gets_the_prices() -> None:
    step = say("timeline", "how much do you usually charge?",
               profile=LeadProfile(name="Ana", need=Need(words="CRM")))
    assert step.profile.timeline is None and step.asked == "timeline" and step.resolved
    assert "Starter: 29 USD per user per month" in step.reply
    assert step.reply.startswith(text("faq.prices", "en", prices="Starter"))
    assert step.reply.endswith(text("ask.timeline", "en"))


def test_a_question_the_profile_cannot_answer_is_unresolved_but_no_failed_answer() -> None:
    step = say("budget", "do you support on-premise installs?",
               profile=LeadProfile(name="Ana", need=Need(words="CRM")))
    assert not step.resolved and step.asked == "budget"
    assert step.reply == text("faq.unknown", "en") + " " + text("ask.budget", "en")
    # Never "sorry, I didn't catch your name" to a question, nor a skip after one.
    step = say("name/2", "Vous avez un essai sur site ?", language="fr")
    assert step.asked == "name/2" and not step.resolved
    assert step.reply == text("faq.unknown", "fr") + " " + text("ask_again.name", "fr")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_the_fallbacks_texts(language: str) -> None:
    keys = {"ask.skip", "faq.prices", "faq.unknown", *(f"ask_again.{item}" for item in ITEMS)}
    assert keys <= catalogue()[language].keys()
    assert "{prices}" in text("faq.prices", language)


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
    step = say(None, *flood)
    assert step.profile.email is None
    step = say(None, "ana@acme.com", *flood)
    assert step.profile.email == "ana@acme.com"


@pytest.mark.parametrize(
    ("said", "need"),
    [
        ("Hallo, ich heiße Jonas und wir brauchen ein CRM", "wir brauchen ein CRM"),
        ("Hi, I am Tom and we need a CRM", "we need a CRM"),
        ("Hola, soy Ana y necesitamos un CRM", "necesitamos un CRM"),
        ("Ciao, sono Giulia e abbiamo bisogno di un CRM", "abbiamo bisogno di un CRM"),
        ("We need a CRM and a website", "We need a CRM and a website"),
    ],
)
def test_the_need_is_what_follows_an_introduction(said: str, need: str) -> None:
    step = say(None, said, language=None, first_turn=True)
    assert step.profile.need is not None and step.profile.need.words == need
