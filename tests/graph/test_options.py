"""Which options a reply carries is the graph's rule over the draft (`graph.options`): the model
writes words only, code names what the lead can tap."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from langchain_core.messages import HumanMessage

from agents.draft import Draft, make_draft
from agents.inputs import AgentInput
from domain.booking import Slot
from domain.business import BusinessProfile, load_business
from domain.contact import ContactInfo
from domain.events import Stage
from domain.reply import NO, YES, slot_choice_id, tapped_slot_start
from graph.options import reply_options

NOW = dt.datetime(2030, 1, 7, 8, tzinfo=dt.UTC)
ZONE = ZoneInfo("America/New_York")
SLOTS = [Slot(start=NOW + dt.timedelta(days=1, hours=h), end=NOW + dt.timedelta(days=1, hours=h,
                                                                                 minutes=30))
         for h in (6, 7, 8)]
RANGES = ["Under 3,000 USD", "3,000-10,000 USD", "Over 10,000 USD"]


def business(ranges: list[str] | None = None) -> BusinessProfile:
    profile = load_business()
    qualification = profile.qualification.model_copy(update={"budget_ranges": ranges or []})
    return profile.model_copy(update={"qualification": qualification})


def draft(**values: Any) -> Draft:
    view = AgentInput(
        contact=ContactInfo(channel="meta", contact="+12125550100"), now=NOW,
        business=load_business(), burst=[HumanMessage("hi", id="m1")],
    )
    base: dict[str, Any] = {
        "agent": "scheduling", "reply": "words", "profile": view.profile, "language": "en",
        "fallback": True, "llm_calls": 0, "asked": None,
    }
    return make_draft(view, **(base | values))


def options(d: Draft, *, before: Stage = "scheduling", after: Stage = "scheduling",
            ranges: list[str] | None = None, booking_changed: bool = False,
            reoffered: bool = False, language: str = "en") -> Any:
    return reply_options(
        d, before=before, after=after, booking_changed=booking_changed, reoffered=reoffered,
        business=business(ranges), zone=ZONE, language=language,
    )


def test_slots_offered_in_this_turn_are_a_list_naming_each_slot() -> None:
    found = options(draft(offered_slots=SLOTS, offered_now=True))
    assert found.kind == "slots" and found.button == "Choose a time"
    assert [c.id for c in found.choices] == [slot_choice_id(s) for s in SLOTS]
    assert [c.title for c in found.choices] == [
        "Tue 8 Jan, 09:00", "Tue 8 Jan, 10:00", "Tue 8 Jan, 11:00"  # the lead's zone
    ]
    assert {c.description for c in found.choices} == {"America/New_York"}
    assert [tapped_slot_start(c.id) for c in found.choices] == [s.start for s in SLOTS]


def test_slots_offered_earlier_are_not_shown_again_unless_the_guard_reoffers_them() -> None:
    earlier = draft(offered_slots=SLOTS, offered_now=False)
    assert options(earlier) is None
    assert options(earlier, reoffered=True).kind == "slots"


@pytest.mark.parametrize(
    ("values", "before", "after"),
    [
        ({"proposed_slot": 2, "offered_slots": SLOTS}, "scheduling", "scheduling"),  # confirm
        ({"asked": None}, "qualification", "scheduling"),  # "shall we book a call?"
    ],
)
def test_yes_no_questions_the_graph_knows_get_yes_and_no(
    values: dict[str, Any], before: Stage, after: Stage
) -> None:
    found = options(draft(**values), before=before, after=after, language="es")
    assert found.kind == "yes_no"
    assert [(c.id, c.title) for c in found.choices] == [(YES, "Sí"), (NO, "No")]


def test_budget_ranges_come_from_the_profile_when_the_budget_is_asked() -> None:
    asks_budget = draft(agent="qualification", asked="budget/2")
    found = options(asks_budget, before="qualification", after="qualification", ranges=RANGES)
    assert found.kind == "budget"
    assert [(c.id, c.title) for c in found.choices] == [
        ("budget:1", RANGES[0]), ("budget:2", RANGES[1]), ("budget:3", RANGES[2])
    ]
    # No ranges in the profile, or another question: words alone.
    assert options(asks_budget, before="qualification", after="qualification") is None
    asks_name = draft(agent="qualification", asked="name")
    assert options(asks_name, before="greeting", after="qualification", ranges=RANGES) is None


def test_no_options_on_a_closing_or_a_booking() -> None:
    offered = draft(offered_slots=SLOTS, offered_now=True)
    assert options(offered, after="closed") is None
    assert options(offered, booking_changed=True) is None
