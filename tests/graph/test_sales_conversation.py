"""A conversation a sales team would trust, through the real graph and the scripted model: the
business's own facts, honest extraction, qualified or not, and code guards on what is sent."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from domain.business import load_business
from domain.contact import ContactInfo
from domain.texts import text
from tests.graph.fakes import (
    FakeCalendar,
    RecordingSink,
    agent_json,
    make_engine,
    saver,
    system_text,
    tool_call,
)

CONTACT = ContactInfo(channel="meta", contact="+14155550100", profile_name="Ana B")
THREAD = CONTACT.thread_id
INTERN_RULE = "students or interns asking without a company behind them"


def say(text: str, message_id: str) -> list[HumanMessage]:
    return [HumanMessage(text, id=message_id)]


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def engine(llm: Any, make_settings: Any, sink: RecordingSink) -> Any:
    return make_engine(llm, make_settings, checkpointer=saver(), sink=sink,
                       calendar=FakeCalendar())


async def greeted(engine: Any, llm: Any) -> None:
    llm.push(json=agent_json("Hi Ana! What budget do you have in mind?", name="Ana",
                             need="a CRM for our 12 sellers"))
    result = await engine.run_turn(CONTACT, say("Hi, Ana here, we need a CRM for our 12 sellers",
                                                "g1"))
    assert result.stage == "qualification"


# --- The business's own facts ----------------------------------------------------------------
async def test_a_price_question_is_answered_from_the_business_profile(
    engine: Any, llm: Any, sink: RecordingSink
) -> None:
    await greeted(engine, llm)
    price = load_business().offerings[1].price  # Growth: 59 USD per user per month...
    llm.push(json=agent_json(f"Growth is {price}. What budget do you have in mind?",
                             confidence=0.9))
    result = await engine.run_turn(CONTACT, say("How much is the Growth plan?", "p1"))
    request = llm.chat_requests[-1]
    stable = request["messages"][0]["content"]
    assert "Nimbus CRM" in stable and price in stable  # the profile is in the stable prefix
    assert "never beyond it" in stable and "no reason for a lower confidence" in stable
    assert result.reply is not None and price in result.reply
    assert result.handoff is None and sink.handoffs == []


async def test_the_stable_part_of_the_prompt_is_the_same_bytes_every_turn(
    engine: Any, llm: Any
) -> None:
    await greeted(engine, llm)
    for number in range(3):
        llm.push(json=agent_json("Noted. Anything else?"))
        await engine.run_turn(CONTACT, say(f"question {number}", f"q{number}"))
    stables = {r["messages"][0]["content"] for r in llm.chat_requests[-3:]}
    assert len(stables) == 1
    assert "Now:" not in stables.pop()  # the clock is in the turn's context, not the prefix


# --- Extraction that cannot invent -------------------------------------------------------------
async def test_an_invented_budget_is_not_stored(engine: Any, llm: Any, sink: RecordingSink) -> None:
    await greeted(engine, llm)
    llm.push(json=agent_json("Great, 10k EUR works.", budget="when can we start?",
                             budget_amount=10000, budget_currency="EUR"))
    result = await engine.run_turn(CONTACT, say("when can we start?", "b1"))
    state = await engine.state(THREAD)
    assert state["profile"].budget is None and result.stage == "qualification"
    assert sink.updates[-1].profile.budget is None
    # Nor is it said to the lead: they are asked for their budget instead.
    assert result.reply == text("ask.budget", "en")


async def test_a_name_the_lead_never_gave_is_not_said_to_them(engine: Any, llm: Any) -> None:
    llm.push(json=agent_json("Hi Jennifer! What's your company?", name="Jennifer",
                             need="a CRM"))
    result = await engine.run_turn(CONTACT, say("Hello, we need a CRM", "n1"))
    assert result.reply == f"{text('greeting.hello', 'en', name='')} {text('ask.name', 'en')}"
    assert (await engine.state(THREAD))["profile"].name is None
    # A name the lead did write is said back as the model wrote it.
    llm.push(json=agent_json("Thanks Ana! What budget do you have in mind?", name="Ana"))
    result = await engine.run_turn(CONTACT, say("I'm Ana", "n2"))
    assert result.reply == "Thanks Ana! What budget do you have in mind?"


async def test_a_past_timeline_is_rejected(engine: Any, llm: Any) -> None:
    await greeted(engine, llm)
    llm.push(json=agent_json("Got it.", timeline="March 2020", timeline_date="2020-03-01"))
    await engine.run_turn(CONTACT, say("we wanted it in March 2020", "t1"))
    assert (await engine.state(THREAD))["profile"].timeline is None


async def test_a_known_fact_keeps_its_evidence(engine: Any, llm: Any) -> None:
    await greeted(engine, llm)
    llm.push(json=agent_json("Thanks!", budget="5k USD", budget_amount=5000, budget_currency="USD"))
    await engine.run_turn(CONTACT, say("about 5k USD", "b1"))
    llm.push(json=agent_json("Sure.", budget="5k USD", budget_amount=5000, budget_currency="USD"))
    await engine.run_turn(CONTACT, say("and who else uses it?", "b2"))
    budget = (await engine.state(THREAD))["profile"].budget
    assert budget is not None and budget.message_id == "b1"


# --- Qualified, nurture or disqualified ----------------------------------------------------------
async def test_a_lead_the_business_does_not_serve_is_closed_politely(
    engine: Any, llm: Any, sink: RecordingSink
) -> None:
    llm.push(json=agent_json(
        "Hi! What are you looking for?", name="Kim", need="a CRM", budget="No budget",
        disqualified_by=INTERN_RULE, disqualified_words="I'm an intern",
    ))
    result = await engine.run_turn(CONTACT, say(
        "Hi I'm Kim. No budget, I'm an intern, maybe in a few years, I'd like a CRM", "d1"
    ))
    assert result.stage == "closed" and result.handoff is None
    assert result.reply == text("closing.disqualified", "en", name=", Kim")
    judged = (await engine.state(THREAD))["qualification"]
    assert (judged.fit, judged.disqualified_by) == ("disqualified", INTERN_RULE)
    assert judged.score <= 10
    assert sink.updates[-1].qualification == judged

    # Writing again: the follow-up agent answers, knowing the case is closed.
    llm.push(json=agent_json("We have a free trial of 14 days on Growth."))
    result = await engine.run_turn(CONTACT, say("is there a trial?", "d2"))
    assert result.reply == "We have a free trial of 14 days on Growth."
    assert "not the right fit for them" in system_text(llm.chat_requests[-1])
    # Without the model, the lead is thanked and promised nothing the team will not do.
    llm.push(status=500)
    result = await engine.run_turn(CONTACT, say("ok thanks", "d3"))
    assert result.fallback and result.reply == text("closing.after", "en")


async def test_a_rule_the_business_does_not_have_disqualifies_nobody(
    engine: Any, llm: Any
) -> None:
    llm.push(json=agent_json("Hi!", name="Kim", disqualified_by="people named Kim",
                             disqualified_words="I'm Kim"))
    result = await engine.run_turn(CONTACT, say("Hi I'm Kim", "d1"))
    assert result.stage == "greeting"
    assert (await engine.state(THREAD))["qualification"].fit is None


async def test_a_lead_who_fits_later_is_nurtured(
    engine: Any, llm: Any, sink: RecordingSink
) -> None:
    await greeted(engine, llm)
    llm.push(json=agent_json(
        "Thanks!", budget="1,000 USD", budget_amount=1000, budget_currency="USD",
        authority="I decide", authority_decides=True, timeline="next month",
        timeline_date="2030-02-01",
    ))
    result = await engine.run_turn(CONTACT, say("1,000 USD, I decide, next month", "n1"))
    assert result.stage == "closed" and result.handoff is None
    assert result.reply == text("closing.nurture", "en", name=", Ana")
    judged = sink.updates[-1].qualification
    assert judged is not None and judged.fit == "nurture"
    assert any("under the minimum" in reason for reason in judged.reasons)


async def test_a_qualified_lead_moves_to_scheduling(engine: Any, llm: Any) -> None:
    await greeted(engine, llm)
    llm.push(json=agent_json(
        "Shall we book a call?", budget="8,000 USD", budget_amount=8000, budget_currency="USD",
        authority="I decide", authority_decides=True, timeline="next month",
        timeline_date="2030-02-01",
    ))
    result = await engine.run_turn(CONTACT, say("8,000 USD, I decide, next month", "q1"))
    assert result.stage == "scheduling" and result.reply == "Shall we book a call?"
    judged = (await engine.state(THREAD))["qualification"]
    assert (judged.fit, judged.score) == ("qualified", 100)


async def test_evasive_answers_reach_the_unresolved_handoff(
    engine: Any, llm: Any, sink: RecordingSink
) -> None:
    await greeted(engine, llm)
    for number, evasive in enumerate(["depends", "not sure", "hmm"]):
        llm.push(json=agent_json("No problem. Roughly?", answered=False, resolved=True))
        result = await engine.run_turn(CONTACT, say(evasive, f"e{number}"))
    assert result.handoff is not None and result.handoff.reason == "unresolved"
    assert result.reply == text("handoff.unresolved", "en")
    assert [h.reason for h in sink.handoffs] == ["unresolved"]


# --- Guards in code ----------------------------------------------------------------------------
async def qualified(engine: Any, llm: Any) -> None:
    llm.push(json=agent_json(
        "Shall we book a call?", name="Ana", need="a CRM", budget="8k USD",
        budget_amount=8000, budget_currency="USD", authority="I decide",
        authority_decides=True, timeline="next month", timeline_date="2030-02-01",
    ))
    result = await engine.run_turn(CONTACT, say(
        "Ana: a CRM, 8k USD, I decide, next month", "s0"
    ))
    assert result.stage == "scheduling"


async def test_a_false_booking_claim_is_not_sent(engine: Any, llm: Any) -> None:
    await qualified(engine, llm)
    llm.push(json=agent_json("Done! You're booked for Tuesday at 10:00."))
    result = await engine.run_turn(CONTACT, say("Tuesday at 10 please", "f1"))
    assert result.reply == text("guard.not_booked", "en")
    assert (await engine.state(THREAD)).get("booking") is None

    # With slots offered earlier, the lead gets them again instead.
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("These are free: 1, 2 or 3?"))
    await engine.run_turn(CONTACT, say("what times do you have?", "f2"))
    llm.push(json=agent_json("Perfect, your call is booked for the first one."))
    result = await engine.run_turn(CONTACT, say("the first", "f3"))
    assert result.reply is not None
    assert result.reply.startswith("I haven't booked anything yet. These times are free")
    assert "is booked" not in result.reply and result.handoff is None


async def test_a_real_booking_is_confirmed_as_written(engine: Any, llm: Any) -> None:
    await qualified(engine, llm)
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("These are free: 1, 2 or 3?"))
    await engine.run_turn(CONTACT, say("what times do you have?", "r1"))
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Done! You're booked."))
    result = await engine.run_turn(CONTACT, say("the first", "r2"))
    assert result.reply is not None and result.reply.startswith("Done! You're booked.")


async def test_an_overlong_reply_is_cut_at_a_sentence(
    llm: Any, make_settings: Any
) -> None:
    engine = make_engine(llm, make_settings, checkpointer=saver())
    sentence = "Our Growth plan includes pipelines, quotes and automations for your team. "
    llm.push(json=agent_json(sentence * 40))  # about 3,000 characters
    result = await engine.run_turn(CONTACT, say("tell me everything", "l1"))
    assert result.reply is not None and len(result.reply) <= 700
    assert result.reply.endswith("team.")
    assert (await engine.state(THREAD))["messages"][-1].text == result.reply
