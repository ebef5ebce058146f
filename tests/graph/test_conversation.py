"""A whole conversation through the real langchain-openai client and the scripted LLM:
greeting -> qualification -> scheduling -> handoff, across a restart, then human mode and
release."""

from __future__ import annotations

import datetime as dt
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage

from domain.booking import DayWindow
from domain.contact import ContactInfo, ContactMode
from domain.events import HandoffRecord
from tests.graph.fakes import (
    NOW,
    FakeCalendar,
    RecordingSink,
    agent_json,
    make_engine,
    non_system,
    saver,
    system_text,
    tool_call,
)

CONTACT = ContactInfo(channel="meta", contact="+14155550100", profile_name="Ana B")
THREAD = "meta:+14155550100"


def say(text: str, message_id: str) -> list[HumanMessage]:
    return [HumanMessage(text, id=message_id)]


async def test_full_conversation_survives_a_restart(llm: Any, make_settings: Any) -> None:
    checkpointer = saver()
    sink = RecordingSink()
    calendar = FakeCalendar()
    engine = make_engine(
        llm, make_settings, checkpointer=checkpointer, sink=sink, calendar=calendar
    )

    # Greeting: name and need known -> qualification.
    llm.push(json=agent_json(
        "Hi Ana! A CRM for 20 sellers, got it.", name="Ana", company="Acme",
        need="a CRM for our 20 salespeople", need_summary="CRM for 20 sellers",
    ))
    result = await engine.run_turn(CONTACT, [HumanMessage("Hi, I'm Ana from Acme", id="w1"),
         HumanMessage("We need a CRM for our 20 salespeople", id="w2")])
    assert (result.stage, result.fallback, result.llm_calls) == ("qualification", False, 1)
    assert result.reply == "Hi Ana! A CRM for 20 sellers, got it."
    state = await engine.state(THREAD)
    profile = state["profile"]
    assert (profile.name, profile.company) == ("Ana", "Acme")
    assert profile.need.words == "a CRM for our 20 salespeople"
    assert profile.need.message_id == "w2"  # the message the words came from
    assert [m.id for m in state["messages"][:2]] == ["w1", "w2"]
    assert isinstance(state["messages"][2], AIMessage)
    assert sink.updates[-1].stage == "qualification"
    # The burst went as two user messages, in order, after the WhatsApp profile name (in the
    # lead's role: the lead chose it).
    assert [m["content"] for m in non_system(llm.chat_requests[-1])] == [
        "(My WhatsApp profile name, not confirmed as my name: Ana B)",
        "Hi, I'm Ana from Acme", "We need a CRM for our 20 salespeople",
    ]

    # Qualification: budget, then a restart of the app.
    llm.push(json=agent_json(
        "Thanks! Who decides?", budget="around 5k USD a year", budget_amount=5000,
        budget_currency="usd",
    ))
    result = await engine.run_turn(CONTACT, say("around 5k USD a year", "w3"))
    assert result.stage == "qualification"
    budget = (await engine.state(THREAD))["profile"].budget
    assert (budget.amount, budget.currency, budget.message_id) == (5000, "USD", "w3")

    engine = make_engine(
        llm, make_settings, checkpointer=checkpointer, sink=sink, calendar=calendar
    )

    llm.push(json=agent_json(
        "Great, shall we book a call?", authority="I'm the CTO and I decide",
        authority_role="CTO", authority_decides=True, timeline="by March 2030",
        timeline_date="2030-03-01",
    ))
    result = await engine.run_turn(
        CONTACT, say("I'm the CTO and I decide. We want it by March 2030", "w4")
    )
    assert result.stage == "scheduling"
    state = await engine.state(THREAD)
    assert state["profile"].bant_complete
    assert state["profile"].timeline.date == dt.date(2030, 3, 1)
    assert state["profile"].budget.amount == 5000  # from before the restart
    assert [u.stage for u in sink.updates] == ["qualification", "qualification", "scheduling"]

    # Scheduling: find slots (a tool call), then offer them.
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("1. Tue 10:00 2. Tue 11:00 3. Tue 12:00 (America/Los_Angeles)"))
    result = await engine.run_turn(CONTACT, say("Sure, let's talk", "w5"))
    assert (result.stage, result.llm_calls, result.handoff) == ("scheduling", 2, None)
    state = await engine.state(THREAD)
    assert len(state["offered_slots"]) == 3
    assert calendar.free_calls == [NOW]
    # Searched in the lead's hours (LEAD_HOURS' default) in their zone (their number's).
    assert calendar.windows == [
        DayWindow(timezone="America/Los_Angeles", start=dt.time(8), end=dt.time(20))
    ]
    tool_reply = llm.chat_requests[-1]["messages"][-1]
    assert tool_reply["role"] == "tool" and "America/Los_Angeles" in tool_reply["content"]
    # Tool rounds stay out of the stored history.
    assert all(isinstance(m, (HumanMessage, AIMessage)) and not getattr(m, "tool_calls", None)
               for m in state["messages"])

    # The lead picks the second: booked -> handoff (booked); the sink puts the contact in the
    # mode of a booked call's handoff (Postgres owns it; the graph keeps no copy).
    llm.push(tool_calls=[tool_call("book_slot", option=2)])
    llm.push(json=agent_json("Booked for Tuesday 11:00!"))
    result = await engine.run_turn(CONTACT, say("The second one please", "w6"))
    assert result.stage == "handoff"
    assert result.handoff is not None and result.handoff.reason == "booked"
    assert result.reply is not None and result.reply.startswith("Booked for Tuesday 11:00!")
    assert "follow up" in result.reply
    state = await engine.state(THREAD)
    assert "human_mode" not in state
    assert state["booking"].start == state["offered_slots"][1].start
    assert state["handoff"] == HandoffRecord(reason="booked", at=NOW)
    assert [h.reason for h in sink.handoffs] == ["booked"]
    assert sink.handoffs[0].booking == state["booking"]
    assert sink.handoffs[0].recent[-1].role == "bot"
    assert len(calendar.bookings) == 1

    # A person's mode: recorded, silent, no model call.
    calls = len(llm.chat_requests)
    result = await engine.run_turn(
        CONTACT, say("Thanks! See you", "w7"), mode=ContactMode.CALL_BOOKED
    )
    assert (result.reply, result.llm_calls, result.handoff) == (None, 0, None)
    assert len(llm.chat_requests) == calls
    state = await engine.state(THREAD)
    assert state["messages"][-1].id == "w7"
    assert len(sink.handoffs) == 1

    # Release: the bot answers again, knowing a person handled a stretch.
    await engine.release_to_bot(THREAD, human_notes="Agreed a 10% discount")
    state = await engine.state(THREAD)
    assert state["stage"] == "handoff"
    assert state["human_stretch"].notes == "Agreed a 10% discount"
    llm.push(json=agent_json("Your call is on Tuesday at 11:00."))
    result = await engine.run_turn(CONTACT, say("When is my call again?", "w8"))
    assert result.reply == "Your call is on Tuesday at 11:00."
    assert result.handoff is None
    system = system_text(llm.chat_requests[-1])
    assert "Agreed a 10% discount" in system
    assert "Do not say again that a person will follow up" in system


async def test_booking_needs_a_slot_offered_in_an_earlier_message(
    llm: Any, make_settings: Any
) -> None:
    """The model cannot book in the same turn it found the slots: the lead has not seen them."""
    calendar = FakeCalendar()
    engine = make_engine(llm, make_settings, checkpointer=saver(), calendar=calendar)
    await _qualified(engine, llm)
    llm.push(tool_calls=[tool_call("find_free_slots", after="2030-01-10")])
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Which of these suits you?"))
    result = await engine.run_turn(CONTACT, say("Book anything", "s1"))
    assert result.stage == "scheduling" and result.handoff is None
    assert calendar.bookings == {}
    refused = llm.chat_requests[-1]["messages"][-1]
    assert refused["role"] == "tool" and refused["content"].startswith("Not booked")
    # `after` is read in the lead's zone and respected.
    assert calendar.free_calls[-1] == dt.datetime(2030, 1, 10, 8, 0, tzinfo=dt.UTC)


async def test_slot_taken_between_offer_and_confirmation(llm: Any, make_settings: Any) -> None:
    calendar = FakeCalendar()
    engine = make_engine(llm, make_settings, checkpointer=saver(), calendar=calendar)
    await _qualified(engine, llm)
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("1, 2 or 3?"))
    await engine.run_turn(CONTACT, say("times?", "s1"))
    offered = (await engine.state(THREAD))["offered_slots"]
    calendar.taken.add(offered[0].start)
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Sorry, that one just went. Here are others."))
    result = await engine.run_turn(CONTACT, say("the first", "s2"))
    assert result.handoff is None and result.stage == "scheduling"
    assert "just taken" in llm.chat_requests[-1]["messages"][-1]["content"]


async def test_lead_hours_reach_the_calendar(llm: Any, make_settings: Any) -> None:
    calendar = FakeCalendar()
    engine = make_engine(
        llm, make_settings, checkpointer=saver(), calendar=calendar, LEAD_HOURS="09:30-18:00"
    )
    await _qualified(engine, llm)
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("1, 2 or 3?"))
    await engine.run_turn(CONTACT, say("times?", "s1"))
    assert calendar.windows == [
        DayWindow(timezone="America/Los_Angeles", start=dt.time(9, 30), end=dt.time(18))
    ]
    offered = (await engine.state(THREAD))["offered_slots"]
    # The fake's slots are on the hour (UTC): 17:00 is 09:00 in Los Angeles, before 09:30.
    assert [f"{s.start:%H:%M}" for s in offered] == ["18:00", "19:00", "20:00"]


async def _qualified(engine: Any, llm: Any) -> None:
    llm.push(json=agent_json(
        "Thanks, let's book a call.", name="Ana", need="a CRM", budget="5k USD",
        budget_amount=5000, budget_currency="USD", authority="I decide", authority_decides=True,
        timeline="next month",
    ))
    result = await engine.run_turn(CONTACT, say("Ana, a CRM, 5k USD, I decide, next month", "q1"))
    assert result.stage == "scheduling"

