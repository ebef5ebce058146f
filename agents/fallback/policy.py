"""The deterministic fallback policy: the conversation goes on without a model.

It runs when no LLM is configured, or for one turn when the LLM failed after its client's retries
(HTTP errors, timeouts, invalid JSON). It is a safety net, not the product (DESIGN.md): it asks for
the next missing item (name, then need, budget, authority, timeline), reads obvious answers
(`agents.fallback.parsers`), offers numbered slots and asks for confirmation before booking, and
always replies in the lead's language (the catalogue's, `domain.texts`; English otherwise).
Everything here is pure; the scheduling agent does the calendar I/O the policy asks for. Every
fallback turn is logged and counted in `FALLBACK_TURNS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from pydantic import ValidationError

from agents.fallback.parsers import (
    MAX_PARSED_CHARS,
    parse_budget,
    parse_date,
    parse_decides,
    parse_email,
    parse_name,
    parse_slot_choice,
    parse_yes_no,
)
from domain.booking import Booking, Slot
from domain.language import detect_language, plain
from domain.lead import LeadProfile
from domain.texts import supported, text
from integrations.calendar.slots import format_slot as _format_slot

__all__ = [
    "FALLBACK_TURNS",
    "ITEMS",
    "FallbackStep",
    "SchedulingAction",
    "booked_reply",
    "confirm_reply",
    "format_slot",
    "format_slots",
    "next_item",
    "offer_reply",
    "qualify",
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
    texts: Iterable[str], *, offered: int, proposed: int | None
) -> SchedulingAction:
    """Confirmation before booking: a pick among the offered slots is asked back, and only a yes
    to that question books. Anything else gets fresh options."""
    said = "\n".join(texts)
    if proposed is not None and 1 <= proposed <= offered and parse_yes_no(said) is True:
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
    """The item the reply asks for (None once everything is known)."""
    language: str


_NEED_CUES = re.compile(
    r"\b(?:need|want|looking for|interested in|we'd like|i'd like|necesito|necesitamos|quiero|"
    r"queremos|busco|buscamos|me interesa|preciso|precisamos|quero|queremos|procuro|procuramos|"
    r"tenho interesse)\b"
)


def next_item(profile: LeadProfile) -> str | None:
    """The next item to ask for, in `ITEMS` order."""
    for item in ITEMS:
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


def qualify(
    profile: LeadProfile,
    *,
    asked: str | None,
    texts: Sequence[str],
    message_id: str | None,
    language: str | None,
    first_turn: bool,
) -> FallbackStep:
    """One greeting/qualification turn: read what the lead said as the answer to what was asked
    (plus anything obvious anywhere), then ask the next missing item."""
    said = "\n".join(t.strip() for t in texts if t.strip())[:MAX_PARSED_CHARS]
    lang = supported(detect_language(said) or language)
    words = said[:1000]
    before = profile
    updates: dict[str, object] = {}
    if email := parse_email(said):
        updates["email"] = email
    if name := parse_name(said, asked=asked == "name"):
        updates["name"] = name
    if words:
        if budget := parse_budget(said, bare=asked == "budget"):
            amount, currency = budget
            updates["budget"] = {
                "words": words, "amount": amount, "currency": currency, "message_id": message_id,
            }
        elif asked == "budget":
            updates["budget"] = {"words": words, "message_id": message_id}
        if asked == "need" or (profile.need is None and _NEED_CUES.search(plain(said))):
            updates["need"] = {"words": words, "message_id": message_id}
        if asked == "authority":
            updates["authority"] = {
                "words": words, "decides": parse_decides(said), "message_id": message_id,
            }
        if asked == "timeline":
            updates["timeline"] = {
                "words": words, "date": parse_date(said, language=lang), "message_id": message_id,
            }
    updated = _with(profile, **updates).model_copy(update={"language": lang})
    item = next_item(updated)
    parts: list[str] = []
    if first_turn:
        parts.append(text("greeting.hello", lang, name=f" {updated.name}" if updated.name else ""))
    elif updated.model_dump(exclude={"language"}) != before.model_dump(exclude={"language"}):
        parts.append(text("greeting.thanks", lang))
    parts.append(text(f"ask.{item}", lang) if item else text("ask.ready", lang))
    return FallbackStep(reply=" ".join(parts), profile=updated, asked=item, language=lang)
