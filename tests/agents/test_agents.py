"""What the agents share: profile merging with validation, evidence ids, prompt assembly, the
lead's zone and the booking key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agents.extraction import evidence_id, merge_profile
from agents.greeting import GreetingReply
from agents.inputs import AgentInput
from agents.output import ContactFields, LeadFields
from agents.prompts import prompt_messages
from agents.scheduling.tools import booking_key, lead_zone, parse_after
from domain.booking import Slot
from domain.business import load_business
from domain.contact import ContactInfo
from domain.lead import Budget, LeadProfile
from tests.graph.fakes import lead

BURST = [HumanMessage("I'm Ana", id="m1"), HumanMessage("Budget is 5k USD", id="m2")]


def view(**values: Any) -> AgentInput:
    return AgentInput(
        contact=ContactInfo(channel="meta", contact="+14155550100"),
        now=dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC), business=load_business(),
        **{"burst": [], **values},
    )


def fields(**values: Any) -> LeadFields:
    return LeadFields.model_validate(lead(**values))


@pytest.mark.parametrize(
    ("values", "check"),
    [
        ({"name": "Ana"}, lambda p: p.name == "Ana"),
        ({"email": "ana@acme.com"}, lambda p: p.email == "ana@acme.com"),
        ({"email": "not-an-email"}, lambda p: p.email is None),
        ({"budget": "5k USD", "budget_amount": 5000, "budget_currency": "usd"},
         lambda p: (p.budget.amount, p.budget.currency, p.budget.message_id)
         == (5000, "USD", "m2")),
        # An invalid amount is dropped, the lead's words are kept.
        ({"budget": "minus five", "budget_amount": -5},
         lambda p: p.budget.amount is None and p.budget.words == "minus five"),
        ({"budget": "5k", "budget_currency": "dollars"}, lambda p: p.budget.currency is None),
        ({"timeline": "March", "timeline_date": "2030-03-01"},
         lambda p: p.timeline.date == dt.date(2030, 3, 1)),
        ({"timeline": "Feb 30", "timeline_date": "2030-02-30"},
         lambda p: p.timeline.date is None and p.timeline.words == "Feb 30"),
        ({"authority": "I decide", "authority_decides": True, "authority_role": "CTO"},
         lambda p: (p.authority.decides, p.authority.role) == (True, "CTO")),
        ({"need": "", "name": ""}, lambda p: p.need is None and p.name is None),
        ({"name": "x" * 500}, lambda p: p.name is None),
    ],
)
def test_merge_profile_validates_each_field(values: dict[str, Any], check: Any) -> None:
    assert check(merge_profile(LeadProfile(), fields(**values), burst=BURST))


def test_merge_keeps_what_is_known_and_takes_corrections() -> None:
    known = LeadProfile(name="Ana", budget=Budget(words="3k", amount=3000))
    merged = merge_profile(known, fields(budget="5k", budget_amount=5000), burst=BURST)
    assert merged.name == "Ana" and merged.budget is not None
    assert merged.budget.amount == 5000


@pytest.mark.parametrize(
    ("zone", "valid"), [("Europe/Madrid", True), ("Mars/Olympus", False), (None, False)]
)
def test_merge_timezone_must_be_known(zone: str | None, valid: bool) -> None:
    contact = ContactFields(name=None, email=None, timezone=zone)
    merged = merge_profile(LeadProfile(), contact, burst=BURST)
    assert (merged.timezone == zone) if valid else merged.timezone is None


@pytest.mark.parametrize(
    ("words", "expected"),
    [("5k USD", "m2"), ("ana", "m1"), ("paraphrased", "m2")],
)
def test_evidence_id(words: str, expected: str) -> None:
    assert evidence_id(words, BURST) == expected


def test_evidence_id_of_an_empty_burst() -> None:
    assert evidence_id("x", []) is None


@pytest.mark.parametrize(
    ("raw", "confidence", "language"),
    [(1.7, 1.0, "en"), (-1, 0.0, "en"), (0.4, 0.4, "en")],
)
def test_agent_reply_clamps_and_normalizes(raw: float, confidence: float, language: str) -> None:
    reply = GreetingReply.model_validate({
        "reply": "x", "language": "EN-us", "confidence": raw, "resolved": True,
        "wants_human": False, "stage": "scheduling", "lead": lead(),
    })
    assert (reply.confidence, reply.language) == (confidence, language)
    assert not hasattr(reply, "stage")


def test_prompt_puts_the_stable_part_first_and_the_whole_burst_last() -> None:
    older = [
        HumanMessage(f"h{i}", id=f"h{i}") if i % 2 == 0 else AIMessage(f"a{i}", id=f"a{i}")
        for i in range(16)
    ]
    burst = [HumanMessage(f"b{i}", id=f"b{i}") for i in range(10)]
    prompt = prompt_messages(
        "SYSTEM", view(history=older + burst, burst=burst, summary="S"), context="CTX",
        history_limit=12,
    )
    assert isinstance(prompt[0], SystemMessage)
    assert prompt[0].text.startswith("SYSTEM") and "Business (data" in prompt[0].text
    assert "CTX" not in prompt[0].text  # the turn's facts stay out of the stable prefix
    assert isinstance(prompt[1], SystemMessage) and prompt[1].text.endswith("S")
    assert prompt[2:14] == older[-12:]  # the bot's last message (a15) among them
    assert isinstance(prompt[14], SystemMessage) and prompt[14].text == "CTX"
    assert prompt[15:] == burst


def test_prompt_without_summary() -> None:
    burst = [HumanMessage("hi", id="1")]
    prompt = prompt_messages(
        "SYSTEM", view(history=burst, burst=burst), context="CTX", history_limit=12
    )
    assert [m.type for m in prompt] == ["system", "system", "human"]


@pytest.mark.parametrize(
    ("profile_zone", "contact", "expected"),
    [
        ("America/Mexico_City", "+34600000000", "America/Mexico_City"),
        (None, "+4930123456", "Europe/Berlin"),
        (None, "+5511987654321", "America/Sao_Paulo"),
        (None, "+12025550100", "America/New_York"),
        ("Nowhere/City", "+441234567890", "Europe/London"),
        (None, "not a number", "UTC"),
        (None, None, "UTC"),
    ],
)
def test_lead_zone(profile_zone: str | None, contact: str | None, expected: str) -> None:
    assert lead_zone(profile_zone, contact, "UTC").key == expected


def test_booking_key_is_stable_across_zones() -> None:
    start = dt.datetime(2030, 1, 8, 10, tzinfo=dt.UTC)
    slot = Slot(start=start, end=start + dt.timedelta(minutes=30))
    local = Slot(start=start.astimezone(dt.timezone(dt.timedelta(hours=-3))), end=slot.end)
    assert booking_key("meta:+1", slot) == booking_key("meta:+1", local)
    assert booking_key("meta:+1", slot) != booking_key("meta:+2", slot)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC)),
        ("2030-01-10", dt.datetime(2030, 1, 10, tzinfo=dt.UTC)),
        ("2030-01-10T15:00", dt.datetime(2030, 1, 10, 15, tzinfo=dt.UTC)),
        ("2029-01-01", dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC)),  # never in the past
        ("tuesday", dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC)),
    ],
)
def test_parse_after(value: str | None, expected: dt.datetime) -> None:
    now = dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC)
    assert parse_after(value, zone=dt.UTC, now=now) == expected  # type: ignore[arg-type]
