"""What the service says to a lead in one message: the words, and the options a lead can tap.

The model (or the fallback policy) writes the words; the options never come from it. They come
from code: the calendar's slots, the fallback's yes/no questions, the business profile's budget
ranges (`graph.options` decides which, from the turn). A channel shows them as WhatsApp reply
buttons or a list message where they fit, and otherwise sends the words alone, which always
read on their own (a slot offer lists its numbered slots in the text too).

A tap comes back as the lead's message with the tapped option's `Choice.id` as its payload
(`InboundMessage.payload`): `slot:<start in UTC, ISO 8601>` names exactly one slot, so a tap
books that slot and never "option 2" of a list that changed since; `yes` and `no`; `budget:<n>`.

Plain frozen dataclasses: the conversation's checkpoint stores them (`graph.state`), and the burst
state in Redis stores them as JSON (`to_json`, `from_json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from domain.booking import Slot

__all__ = [
    "NO",
    "YES",
    "Choice",
    "Options",
    "OptionsKind",
    "OutgoingReply",
    "budget_choice_id",
    "slot_choice_id",
    "tapped_slot_start",
]

OptionsKind = Literal["slots", "yes_no", "budget"]

YES = "yes"
"""The payload of a "yes" button."""
NO = "no"
"""The payload of a "no" button."""
_SLOT = "slot:"
_BUDGET = "budget:"


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """One option: what the lead sees and the payload a tap sends back."""

    id: str
    """The payload of a tap (at most 200 characters, WhatsApp's limit for a list row id)."""
    title: str
    """What the button or the list row shows."""
    description: str | None = None
    """A list row's second line, when the list layout is used."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The options of one message, in order."""

    kind: OptionsKind
    choices: tuple[Choice, ...]
    button: str
    """The label of the button that opens a list message."""

    def to_json(self) -> str:
        data = {
            "kind": self.kind,
            "button": self.button,
            "choices": [
                {"id": c.id, "title": c.title, "description": c.description} for c in self.choices
            ],
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Options:
        data: dict[str, Any] = json.loads(text)
        return cls(
            kind=data["kind"],
            button=data["button"],
            choices=tuple(Choice(**choice) for choice in data["choices"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OutgoingReply:
    """One reply to a lead: its words, and the options to show with them, if any."""

    text: str
    options: Options | None = None

    def as_text(self) -> str:
        """The message as words alone, for when the options cannot be shown: a slot offer whose
        words do not name every slot gets them as a numbered list, which the lead answers with
        a number (the scheduling agents read it so). Yes/no and budget questions read as they
        are: the lead types the answer."""
        options = self.options
        if options is None or options.kind != "slots":
            return self.text
        if all(choice.title in self.text for choice in options.choices):
            return self.text
        lines = [
            f"{number}. {choice.title}" + (f" ({choice.description})" if choice.description else "")
            for number, choice in enumerate(options.choices, 1)
        ]
        return "\n".join([self.text, *lines])


def slot_choice_id(slot: Slot) -> str:
    """The payload of a slot's row: its start in UTC, so it names one slot whatever list it was
    in (`slot:2030-01-07T13:00:00+00:00`)."""
    return _SLOT + slot.start.astimezone(UTC).isoformat()


def tapped_slot_start(payload: str | None) -> datetime | None:
    """The start of the slot a tap's payload names; None for any other payload."""
    if not payload or not payload.startswith(_SLOT):
        return None
    try:
        start = datetime.fromisoformat(payload.removeprefix(_SLOT))
    except ValueError:
        return None
    return start if start.tzinfo is not None else None


def budget_choice_id(index: int) -> str:
    """The payload of the business profile's `index`-th budget range (1-based)."""
    return f"{_BUDGET}{index}"
