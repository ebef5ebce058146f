"""The deterministic fallback policy: the conversation goes on without a model.

It runs when no LLM is configured, or for one turn when the LLM failed after its client's retries
(HTTP errors, timeouts, invalid JSON). It is a safety net, not the product (DESIGN.md), but one a
sales team can live with:

- It asks for the next missing item (name, then need, budget, authority, timeline) and stores
  only facts that pass their field's validator (`agents.fallback.validators`), all of them, from
  any message ("Sam, Sam's Bakery. We need an online shop, budget 3000 dollars...").
- A message that gives nothing is a non-answer: the question is asked once more in other words
  (`ask_again.*`), then skipped; the turn reports `resolved=False`, so `HANDOFF_UNRESOLVED`
  non-answers in a row hand the lead to a person (`graph.triggers`).
- The WhatsApp profile name is the name until the lead gives one; questions are answered from
  the business profile's FAQ and prices (`agents.fallback.faq`).
- It offers numbered slots at most `MAX_OFFERS` times in a row and asks for confirmation before
  booking.

What it asked, and how many times in a row, travels in the conversation's `asked` value
(`asking`: "budget", "budget/2"). It always replies in the lead's language (the catalogue's,
`domain.texts`; English otherwise). Everything here is pure; the scheduling agent does the
calendar I/O the policy asks for. Every fallback turn is logged and counted in `FALLBACK_TURNS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from pydantic import ValidationError

from agents.fallback.faq import answer_question
from agents.fallback.parsers import parse_email, parse_slot_choice, parse_yes_no
from agents.fallback.validators import (
    MAX_INPUT,
    clauses,
    is_question,
    read_authority,
    read_budget,
    read_identity,
    read_need,
    read_timeline,
    valid_profile_name,
)
from domain.booking import Booking, Slot
from domain.business import BusinessProfile
from domain.language import detect_language
from domain.lead import LeadProfile, first_name
from domain.texts import supported, text
from integrations.calendar.slots import format_slot as _format_slot

__all__ = [
    "FALLBACK_TURNS",
    "ITEMS",
    "MAX_OFFERS",
    "FallbackStep",
    "Message",
    "SchedulingAction",
    "asking",
    "booked_reply",
    "confirm_reply",
    "format_slot",
    "format_slots",
    "next_item",
    "offer_reply",
    "qualify",
    "read_asked",
    "read_facts",
    "scheduling_action",
]

FALLBACK_TURNS = Counter(
    "wa_fallback_turns_total",
    "Turns answered by the deterministic fallback policy instead of the LLM.",
    ["agent", "cause"],
)
"""Labels: `agent` (the stage's agent) and `cause` (`no_model` or `llm_error`)."""

ITEMS: tuple[str, ...] = ("name", "need", "budget", "authority", "timeline")
"""The order the policy asks in."""

MAX_OFFERS = 2
"""Times in a row the scheduling fallback offers slots; the next time a person takes over."""


# --- Slots -----------------------------------------------------------------------------------
def format_slot(slot: Slot, zone: ZoneInfo, language: str | None) -> str:
    """"Tue 14 Jan, 10:00 (Europe/Madrid)" in the lead's zone and language."""
    return _format_slot(slot, zone.key, language)


def format_slots(slots: Sequence[Slot], zone: ZoneInfo, language: str | None) -> str:
    """The numbered list the lead picks from."""
    return "\n".join(
        f"{number}. {format_slot(slot, zone, language)}" for number, slot in enumerate(slots, 1)
    )


def offer_reply(slots: Sequence[Slot], zone: ZoneInfo, language: str | None) -> str:
    if not slots:
        return text("slots.none", language)
    return text("slots.offer", language, slots=format_slots(slots, zone, language))


def confirm_reply(
    slot: Slot, zone: ZoneInfo, language: str | None, *, move: bool = False
) -> str:
    key = "slots.confirm_move" if move else "slots.confirm"
    return text(key, language, slot=format_slot(slot, zone, language))


def booked_reply(
    booking: Booking, zone: ZoneInfo, language: str | None, *, moved: bool = False
) -> str:
    slot = Slot(start=booking.start, end=booking.end)
    key = "slots.moved" if moved else "slots.booked"
    reply = text(key, language, slot=format_slot(slot, zone, language))
    return f"{reply}\n{booking.link}" if booking.link else reply


SchedulingAction = tuple[Literal["offer", "confirm", "book"], int | None]
"""What the scheduling fallback does: offer fresh slots, ask to confirm slot n, or book slot n."""


def scheduling_action(
    texts: Iterable[str], *, offered: int, proposed: int | None, language: str | None = None
) -> SchedulingAction:
    """Confirmation before booking: a pick among the offered slots is asked back, and only a yes
    to that question books. Anything else gets fresh options."""
    said = "\n".join(texts)
    yes = parse_yes_no(said, language=language) is True
    if proposed is not None and 1 <= proposed <= offered and yes:
        choice = parse_slot_choice(said, offered)
        if choice is None or choice == proposed:
            return ("book", proposed)
    choice = parse_slot_choice(said, offered)
    if choice is not None:
        return ("confirm", choice)
    return ("offer", None)


@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackStep:
    """The policy's answer to one greeting or qualification turn."""

    reply: str
    profile: LeadProfile
    asked: str | None
    """What the reply asks for, as `asking` writes it (None once everything is known)."""
    language: str
    resolved: bool
    """False for a non-answer to the question asked: it counts toward `HANDOFF_UNRESOLVED`."""
    stuck: bool = False
    """Every question was asked (or skipped) and something is still missing: a person takes
    over (an unresolved handoff, not a request), since the graph moves only a complete lead to
    scheduling."""


# --- What was asked ----------------------------------------------------------------------------
def asking(item: str | None, times: int = 1) -> str | None:
    """The `asked` value of a reply that asks for `item` for the `times`-th time in a row:
    "budget", then "budget/2" (in other words). The graph stores it as it is; only the policy
    reads the count."""
    if item is None:
        return None
    return item if times <= 1 else f"{item}/{times}"


def read_asked(asked: str | None) -> tuple[str | None, int]:
    """`asking`'s value back as `(item, times)`; `(None, 0)` when nothing was asked."""
    if not asked:
        return None, 0
    item, _, times = asked.partition("/")
    return item, int(times) if times.isdigit() else 1


def next_item(profile: LeadProfile, *, after: int = 0) -> str | None:
    """The next item to ask for, in `ITEMS` order from position `after` (the items before it
    were asked and skipped)."""
    for item in ITEMS[after:]:
        if getattr(profile, item) is None:
            return item
    return None


def _with(profile: LeadProfile, **values: object) -> LeadProfile:
    """`profile` with `values` set, each validated on its own: an invalid one is dropped."""
    current = profile
    for key, value in values.items():
        try:
            current = LeadProfile.model_validate({**current.model_dump(), key: value})
        except ValidationError:
            continue
    return current


Message = tuple[str | None, str]
"""A message of the burst: its provider id and its text."""


def _source(words: str, messages: Sequence[Message]) -> str | None:
    """The id of the message `words` come from (the last one containing them)."""
    for message_id, body in reversed(messages):
        if words and words in body:
            return message_id
    return messages[-1][0] if messages else None


def read_facts(
    profile: LeadProfile,
    said: str,
    *,
    asked: str | None,
    messages: Sequence[Message],
    language: str | None,
) -> dict[str, object]:
    """Every fact `said` gives that passes its field's validator (`agents.fallback.validators`),
    as `LeadProfile` values. The item just asked (`asked`) may be replaced by a new answer; any
    other item is only filled when unknown, so a stray "in March" never overwrites a timeline."""
    parts = clauses(said)
    values: dict[str, object] = {}

    def evidence(words: str) -> dict[str, object]:
        return {"words": words[:1000], "message_id": _source(words, messages)}

    def open_(item: str) -> bool:
        return asked == item or getattr(profile, item) is None

    if email := parse_email(said):
        values["email"] = email
    name, company = read_identity(parts, asked=asked == "name")
    if name:
        values["name"] = name
    if company and profile.company is None:
        values["company"] = company
    if open_("need") and (need := read_need(parts, asked=asked == "need")):
        values["need"] = evidence(need)
    if open_("budget") and (budget := read_budget(parts, asked=asked == "budget")):
        values["budget"] = {
            **evidence(budget.words), "amount": budget.amount, "currency": budget.currency,
        }
    authority = read_authority(parts, asked=asked == "authority", text=said, language=language)
    if open_("authority") and authority:
        values["authority"] = {**evidence(authority[0]), "decides": authority[1]}
    timeline = read_timeline(parts, asked=asked == "timeline", language=language)
    if open_("timeline") and timeline:
        values["timeline"] = {**evidence(timeline[0]), "date": timeline[1]}
    return values


def qualify(
    profile: LeadProfile,
    *,
    asked: str | None,
    messages: Sequence[Message],
    language: str | None,
    first_turn: bool,
    profile_name: str | None = None,
    business: BusinessProfile | None = None,
) -> FallbackStep:
    """One greeting/qualification turn (see the module docstring).

    Every fact the lead gives is taken (`read_facts`); the WhatsApp profile name stands in for
    the name until the lead gives one. A question is answered from the business profile's FAQ
    or prices (`agents.fallback.faq`), then the pending question is asked again. A message that
    gives nothing is a non-answer (`resolved=False`): the question is asked once more in other
    words (`ask_again.*`), then skipped. When nothing is left to ask but something is missing,
    the lead goes to a person (`stuck`)."""
    said = "\n".join(body.strip() for _, body in messages if body.strip())[:MAX_INPUT]
    lang = supported(detect_language(said) or language)
    item, times = read_asked(asked)
    if item not in ITEMS:
        item, times = None, 0
    stand_in = valid_profile_name(profile_name)
    values = read_facts(profile, said, asked=item, messages=messages, language=lang)
    if "name" in values and profile.name not in (None, stand_in) and item != "name":
        del values["name"]  # a name the lead gave is not replaced in passing
    updated = _with(profile, **values)
    progress = updated.model_dump(exclude={"language"}) != profile.model_dump(exclude={"language"})
    if updated.name is None and stand_in:
        updated = _with(updated, name=stand_in)
    updated = updated.model_copy(update={"language": lang})

    parts = clauses(said)
    answer = answer_question(parts, business) if business is not None else None
    position = ITEMS.index(item) if item else 0
    head: list[str] = []
    if first_turn:
        called = first_name(updated.name)
        head.append(text("greeting.hello", lang, name=f" {called}" if called else ""))
    unknown = not progress and answer is None and any(is_question(clause) for clause in parts)
    if unknown:
        head.append(text("faq.unknown", lang))
    if progress or answer is not None or item is None:
        resolved = True
        if progress and not first_turn:
            head.append(text("greeting.thanks", lang))
        ask = next_item(updated, after=position)
        ask_times = times if ask == item else 1
    elif unknown:
        # A question the profile does not answer is no failed answer to ours: ours again, as it
        # was last worded (unresolved, so a lead whose questions go unanswered reaches a person).
        resolved = False
        ask, ask_times = item, times
    else:
        resolved = False
        if times < 2:
            ask, ask_times = item, times + 1
        else:
            head.append(text("ask.skip", lang))
            ask, ask_times = next_item(updated, after=position + 1), 1
    if ask is None and next_item(updated) is not None:
        return FallbackStep(
            reply="", profile=updated, asked=None, language=lang, resolved=resolved,
            stuck=True,
        )
    if ask is None:
        question = text("ask.ready", lang)
    else:
        question = text(f"ask.{ask}" if ask_times <= 1 else f"ask_again.{ask}", lang)
    if answer is None:
        reply = " ".join([*head, question])
    else:
        said_back = answer.text if answer.kind == "faq" else text(
            "faq.prices", lang, prices=answer.text
        )
        reply = "\n\n".join(filter(None, [" ".join(head), said_back, question]))
    return FallbackStep(
        reply=reply, profile=updated, asked=asking(ask, ask_times), language=lang,
        resolved=resolved,
    )
