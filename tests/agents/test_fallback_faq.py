"""FAQ and price answers without a model, on the repository's business.example.yaml."""

from __future__ import annotations

import pytest

from agents.fallback.faq import THRESHOLD, Answer, answer_question, best_entry, stems
from agents.fallback.validators import clauses
from domain.business import load_business

BUSINESS = load_business()
QUESTIONS = [entry.question for entry in BUSINESS.faq]


def answer_of(question: str) -> str:
    """The example profile's answer to its FAQ entry `question`."""
    return next(entry.answer for entry in BUSINESS.faq if entry.question == question)


def test_stems_drop_the_words_every_question_has() -> None:
    assert stems("Is there a free trial?") == {"free", "trial"}
    assert stems("Do you integrate with WhatsApp Business?") == {"integ", "whats", "busin"}
    assert stems("¿Hay integración con WhatsApp?") == {"integ", "whats"}


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("Is there a free trial?", "Is there a free trial?"),
        ("do you have a free trial?", "Is there a free trial?"),
        ("is it free to try?", "Is there a free trial?"),
        ("can I pay monthly?", "Can we pay monthly?"),
        ("How much does monthly billing cost?", "Can we pay monthly?"),
        ("where do you store the data?", "Where is our data stored?"),
        ("does it integrate with WhatsApp?", "Do you integrate with WhatsApp Business?"),
        ("¿se integra con WhatsApp Business?", "Do you integrate with WhatsApp Business?"),
        ("how long is the onboarding?", "How long does onboarding take?"),
        ("any discounts for non-profits?", "Do you offer discounts for non-profits?"),
        ("what languages do you support?", "Which languages does the app support?"),
        ("is there a minimum contract?", "Is there a minimum contract?"),
    ],
)
def test_best_entry(question: str, entry: str) -> None:
    index = best_entry(question, QUESTIONS)
    assert index is not None and QUESTIONS[index] == entry


@pytest.mark.parametrize(
    "question",
    ["how much do you usually charge?", "do you support on-premise installs?", "hello?",
     "what is your office address?", "", "???"],
)
def test_no_entry_below_the_threshold(question: str) -> None:
    assert best_entry(question, QUESTIONS) is None


def test_the_threshold_is_a_share_of_the_entrys_own_words() -> None:
    # "trial" alone is half of {free, trial}: exactly the threshold.
    assert THRESHOLD == 0.5
    assert best_entry("trial?", ["Is there a free trial?"]) == 0
    assert best_entry("trial?", ["Is there a free trial period?"]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Is there a free trial?", Answer("faq", answer_of("Is there a free trial?"))),
        ("ok. Can we pay monthly", Answer("faq", answer_of("Can we pay monthly?"))),
        ("How much is Growth?",
         Answer("prices", "Growth: 59 USD per user per month, billed yearly")),
        ("What do Starter and Enterprise cost?", Answer(
            "prices", "Starter: 29 USD per user per month, billed yearly\n"
            "Enterprise: from 15,000 USD per year",
        )),
        ("¿Cuánto cuesta?", Answer("prices", "\n".join(
            f"{o.name}: {o.price}" for o in BUSINESS.offerings
        ))),
        # Not questions: a need that mentions WhatsApp, a statement about prices.
        ("We need WhatsApp integration", None),
        ("prices are fine for us", None),
        ("do you support on-premise installs?", None),
    ],
)
def test_answer_question(text: str, expected: Answer | None) -> None:
    assert answer_question(clauses(text), BUSINESS) == expected
