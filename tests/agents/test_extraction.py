"""What the model reports about the lead, and what of it is kept: only the lead's own words."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from agents.extraction import (
    EXTRACTION_DROPPED,
    LeadMessages,
    evidence_id,
    invented_fact,
    merge_profile,
)
from agents.output import ContactFields, LeadFields
from domain.lead import Budget, LeadProfile
from tests.graph.fakes import lead

TODAY = dt.date(2030, 1, 7)
BURST = [
    HumanMessage("Hi, I'm Ana from Acme Corp (ana@acme.com)", id="m1"),
    HumanMessage("Budget is 5k USD a year. I decide, I'm the CTO", id="m2"),
    HumanMessage("We'd like it by March 2030, or Feb 30. Our last CRM: January 2029", id="m3"),
    HumanMessage("When can we start?", id="m4"),
]
EARLIER = [HumanMessage("We need a CRM for 20 sellers", id="e1")]


def fields(**values: Any) -> LeadFields:
    return LeadFields.model_validate(lead(**values))


def merge(values: dict[str, Any], known: LeadProfile | None = None,
          burst: list[HumanMessage] = BURST) -> LeadProfile:
    return merge_profile(
        known or LeadProfile(), fields(**values), messages=LeadMessages.of(burst, EARLIER),
        today=TODAY,
    )


def dropped(field: str, reason: str) -> float:
    return float(EXTRACTION_DROPPED.labels(field=field, reason=reason)._value.get())


@pytest.mark.parametrize(
    ("values", "check"),
    [
        ({"name": "Ana"}, lambda p: p.name == "Ana"),
        ({"company": "ACME corp"}, lambda p: p.company == "ACME corp"),
        ({"email": "ana@acme.com"}, lambda p: p.email == "ana@acme.com"),
        ({"budget": "5k USD", "budget_amount": 5000, "budget_currency": "usd"},
         lambda p: (p.budget.amount, p.budget.currency, p.budget.message_id)
         == (5000, "USD", "m2")),
        # The lead's words win over the model's reading of them.
        ({"budget": "5k USD", "budget_amount": 50000, "budget_currency": "EUR"},
         lambda p: (p.budget.amount, p.budget.currency) == (5000, "USD")),
        ({"timeline": "by March 2030", "timeline_date": "2030-03-01"},
         lambda p: (p.timeline.date, p.timeline.message_id) == (dt.date(2030, 3, 1), "m3")),
        # Not a real date: the words are kept, the date is not.
        ({"timeline": "Feb 30", "timeline_date": "2030-02-30"},
         lambda p: p.timeline.date is None and p.timeline.words == "Feb 30"),
        ({"authority": "I decide", "authority_decides": True, "authority_role": "CTO"},
         lambda p: (p.authority.decides, p.authority.role, p.authority.message_id)
         == (True, "CTO", "m2")),
        # A fact the model missed earlier is taken from the earlier message.
        ({"need": "a CRM for 20 sellers", "need_summary": "CRM, 20 users"},
         lambda p: (p.need.message_id, p.need.summary) == ("e1", "CRM, 20 users")),
        ({"need": "", "name": ""}, lambda p: p.need is None and p.name is None),
    ],
)
def test_facts_in_the_leads_words_are_kept(values: dict[str, Any], check: Any) -> None:
    assert check(merge(values))


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        # Words the lead never wrote.
        ({"name": "Anastasia"}, "name", "ungrounded"),
        ({"email": "bob@acme.com"}, "email", "ungrounded"),
        ({"need": "an ERP with payroll"}, "need", "ungrounded"),
        ({"name": "x" * 500}, "name", "ungrounded"),
        # An invented budget citing an unrelated message.
        ({"budget": "When can we start?", "budget_amount": 10000, "budget_currency": "EUR"},
         "budget", "amount"),
        # A timeline in the past.
        ({"timeline": "January 2029", "timeline_date": "2029-01-01"}, "timeline", "past_date"),
    ],
)
def test_invented_and_past_facts_are_dropped_and_counted(
    values: dict[str, Any], field: str, reason: str
) -> None:
    before = dropped(field, reason)
    profile = merge(values)
    assert getattr(profile, field) is None
    assert dropped(field, reason) == before + 1


def test_a_known_fact_keeps_its_evidence_when_the_model_reports_it_again() -> None:
    known = LeadProfile(budget=Budget(words="5k USD a year", amount=5000, message_id="m2"))
    burst = [HumanMessage("When can we start? As I said, 5k USD", id="m9")]
    again = merge({"budget": "5k USD", "budget_amount": 5000}, known, burst=burst)
    assert again.budget == known.budget
    elsewhere = merge({"budget": "5k USD", "budget_amount": 5000}, known, burst=[burst[0]])
    assert elsewhere.budget is not None and elsewhere.budget.message_id == "m2"


def test_a_correction_in_this_burst_replaces_the_known_fact() -> None:
    known = LeadProfile(name="Ana", budget=Budget(words="3k", amount=3000, message_id="m0"))
    burst = [HumanMessage("Sorry, budget is actually 8k USD", id="m9")]
    merged = merge({"budget": "actually 8k USD", "budget_amount": 8000}, known, burst=burst)
    assert merged.name == "Ana"
    assert merged.budget is not None
    assert (merged.budget.amount, merged.budget.message_id) == (8000, "m9")


def test_an_old_message_does_not_overwrite_a_known_fact() -> None:
    known = LeadProfile(need=None, budget=Budget(words="8k USD", amount=8000, message_id="m9"))
    merged = merge({"budget": "5k USD", "budget_amount": 5000}, known)  # words of m2 ...
    assert merged.budget is not None and merged.budget.amount == 5000  # ... in this burst: taken
    old = [HumanMessage("thanks", id="m10")]
    kept = merge_profile(
        known, fields(need="a CRM for 20 sellers", budget="We need a CRM"),
        messages=LeadMessages.of(old, EARLIER), today=TODAY,
    )
    assert kept.budget == known.budget and kept.need is not None


@pytest.mark.parametrize(
    ("zone", "valid"), [("Europe/Madrid", True), ("Mars/Olympus", False), (None, False)]
)
def test_merge_timezone_must_be_known(zone: str | None, valid: bool) -> None:
    contact = ContactFields(name=None, email=None, timezone=zone)
    merged = merge_profile(
        LeadProfile(), contact, messages=LeadMessages.of(BURST, ()), today=TODAY
    )
    assert (merged.timezone == zone) if valid else merged.timezone is None


@pytest.mark.parametrize(
    ("words", "expected"),
    [("5k USD", "m2"), ("ana", "m1"), ("ANA@acme.com", "m1"), ("paraphrased", None)],
)
def test_evidence_id(words: str, expected: str | None) -> None:
    assert evidence_id(words, BURST) == expected


def test_words_match_on_word_boundaries_only() -> None:
    messages = LeadMessages.of([HumanMessage("Banana bread, São Paulo!", id="x")], ())
    assert messages.find("sao paulo") == ("x", True)
    assert messages.find("ana") is None


def test_a_reply_may_not_state_a_fact_the_lead_never_gave() -> None:
    said = LeadMessages.of([HumanMessage("Hello, we need a CRM for sales", id="m1")], ())
    jennifer = fields(name="Jennifer", need="a CRM for our sales team")
    assert invented_fact("Hi Jennifer! Tell me more.", jennifer, messages=said) == "name"
    # A need in the model's own words is dropped from the profile but may be said back.
    need = fields(need="a CRM for our sales team")
    assert invented_fact("A CRM for our sales team, great.", need, messages=said) is None
    budget = fields(budget="we need a CRM", budget_amount=10000, budget_currency="EUR")
    assert invented_fact("With 10k EUR you can start!", budget, messages=said) == "budget"
    assert invented_fact("Tell me about your budget.", budget, messages=said) is None
