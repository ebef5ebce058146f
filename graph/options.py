"""Which options a turn's reply carries: a rule of the graph over the draft, decided by code.

The model writes words only; what a lead can tap comes from the turn's facts (`domain.reply`):

- the slots the scheduling agent found and offered in this turn (or offers again because the
  draft claimed a booking it did not make): a list, one row per slot, each naming its slot;
- a yes/no question the graph knows is one: the fallback policy asking to confirm a slot, and
  the reply of the turn that completed the lead's qualification ("shall we book a call?");
- the business profile's budget ranges (`qualification.budget_ranges`, when it defines them)
  under a reply that asks for the budget.

Nothing else gets options: a closing, a hand-over, a booking made or moved.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from agents.draft import Draft
from agents.fallback.policy import format_slot, read_asked
from domain.business import BusinessProfile
from domain.events import Stage
from domain.reply import (
    NO,
    YES,
    Choice,
    Options,
    budget_choice_id,
    slot_choice_id,
)
from domain.texts import text

__all__ = ["reply_options"]


def reply_options(
    draft: Draft,
    *,
    before: Stage,
    after: Stage,
    booking_changed: bool,
    reoffered: bool,
    business: BusinessProfile,
    zone: ZoneInfo,
    language: str | None,
) -> Options | None:
    """The options of the turn's reply (see the module docstring); None for words alone.

    `reoffered`: the guard replaced a false booking claim with the offered slots again."""
    if after == "closed" or booking_changed:
        return None
    slots = draft["offered_slots"]
    if slots and (draft["offered_now"] or reoffered):
        choices = []
        for slot in slots:
            label = format_slot(slot, zone, language)
            title = label.removesuffix(f" ({zone.key})")
            choices.append(Choice(id=slot_choice_id(slot), title=title, description=zone.key))
        return Options(
            kind="slots", choices=tuple(choices), button=text("options.choose_time", language)
        )
    qualified_now = after == "scheduling" and before in ("greeting", "qualification")
    if draft["proposed_slot"] is not None or qualified_now:
        return Options(
            kind="yes_no",
            choices=(
                Choice(id=YES, title=text("options.yes", language)),
                Choice(id=NO, title=text("options.no", language)),
            ),
            button=text("options.choose", language),
        )
    ranges = business.qualification.budget_ranges
    if ranges and read_asked(draft["asked"])[0] == "budget":
        return Options(
            kind="budget",
            choices=tuple(
                Choice(id=budget_choice_id(number), title=label)
                for number, label in enumerate(ranges, 1)
            ),
            button=text("options.choose", language),
        )
    return None
