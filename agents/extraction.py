"""How what the model reports about the lead enters the `LeadProfile`: only facts the lead stated,
each with the lead's own words as evidence, validated field by field.

The model is asked to quote the lead; the code checks it:

- Grounded: a fact (its words; a name, a company, an email) is kept only if those words occur in
  the lead's messages of this conversation, after normalising case, accents, punctuation and
  whitespace. Its evidence is the message that contains them (the last such of this burst, else
  of the earlier ones).
- New in this burst: a known fact is not overwritten, and its evidence is not moved, unless the
  lead corrects it in this burst (other words, found in this burst). A fact the model missed
  earlier may still be taken from an earlier message while the field is unknown.
- Consistent: a budget amount must be in the lead's words, and is the amount the words say (so
  "10k EUR" citing "when can we start?" is dropped; a figure that reads as no bounded amount
  keeps the words alone); a timeline date in the past is dropped.
- Valid: the `LeadProfile` validators (an email parses, an amount is positive...); an invalid item
  is retried without its parsed extras (a bad amount keeps the lead's words), then dropped.

Dropped facts are logged by field and reason, never with the lead's text, and counted in
`EXTRACTION_DROPPED`: an invalid value never fails the turn.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import HumanMessage
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from agents.fallback.parsers import parse_budget
from domain.language import plain
from domain.lead import Authority, Budget, LeadProfile, Need, Timeline

__all__ = [
    "EXTRACTION_DROPPED",
    "LeadMessages",
    "checked_disqualification",
    "evidence_id",
    "grounded",
    "invented_fact",
    "merge_profile",
]

log = logging.getLogger(__name__)

EXTRACTION_DROPPED = Counter(
    "wa_extraction_dropped_total",
    "Facts the model reported that were not kept, by field and reason.",
    ["field", "reason"],
)
"""Reasons: `ungrounded` (not the lead's words), `amount` (not the amount the lead gave),
`past_date` (a timeline in the past), `invalid` (refused by the profile's validators),
`unknown_rule` (a disqualifying rule the business does not have)."""

DropReason = Literal["ungrounded", "amount", "past_date", "invalid", "unknown_rule"]

_NOT_WORD = re.compile(r"[^\w@.+-]+|(?<!\w)[.+-]|[.+-](?!\w)")
_SPACES = re.compile(r"\s+")


def normalized(text: str) -> str:
    """Lower case, no accents, punctuation as spaces (an email's `@ . + -` kept), one space."""
    return _SPACES.sub(" ", _NOT_WORD.sub(" ", plain(text))).strip()


def _occurs(needle: str, haystack: str) -> bool:
    """`needle` in `haystack` on word boundaries (both normalized)."""
    return bool(needle) and f" {needle} " in f" {haystack} "


@dataclass(frozen=True, slots=True)
class LeadMessages:
    """The lead's messages of this conversation, normalized once per turn: this burst's and the
    earlier ones still in the history."""

    burst: tuple[tuple[str | None, str], ...]
    earlier: tuple[tuple[str | None, str], ...]

    @classmethod
    def of(cls, burst: Sequence[HumanMessage], earlier: Sequence[HumanMessage]) -> LeadMessages:
        return cls(
            burst=tuple((m.id, normalized(m.text)) for m in burst),
            earlier=tuple((m.id, normalized(m.text)) for m in earlier),
        )

    def find(self, words: str) -> tuple[str | None, bool] | None:
        """(the id of the message `words` occur in, whether it is of this burst), the latest
        first; None when the lead never wrote them."""
        needle = normalized(words)
        for messages, in_burst in ((self.burst, True), (self.earlier, False)):
            for message_id, text in reversed(messages):
                if _occurs(needle, text):
                    return message_id, in_burst
        return None


def grounded(words: str, messages: LeadMessages) -> bool:
    """Whether the lead wrote `words` in this conversation."""
    return messages.find(words) is not None


def evidence_id(words: str, burst: Sequence[HumanMessage]) -> str | None:
    """The id of the message of `burst` that contains `words` (the last one), or None."""
    found = LeadMessages.of(burst, ()).find(words)
    return found[0] if found else None


def _known_zone(name: object) -> bool:
    """An IANA zone name this machine knows (LeadProfile takes any string)."""
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _item_values(fields: BaseModel) -> dict[str, Any]:
    values = fields.model_dump()
    items: dict[str, Any] = {}
    for key in ("name", "company", "email"):
        if values.get(key) not in (None, ""):
            items[key] = values[key]
    if _known_zone(values.get("timezone")):
        items["timezone"] = values["timezone"]
    if values.get("need"):
        items["need"] = {"words": values["need"], "summary": values.get("need_summary")}
    if values.get("budget"):
        items["budget"] = {
            "words": values["budget"],
            "amount": values.get("budget_amount"),
            "currency": (values.get("budget_currency") or "").upper() or None,
        }
    if values.get("authority"):
        items["authority"] = {
            "words": values["authority"],
            "role": values.get("authority_role"),
            "decides": values.get("authority_decides"),
        }
    if values.get("timeline"):
        items["timeline"] = {"words": values["timeline"], "date": values.get("timeline_date")}
    return items


def _drop(key: str, reason: DropReason) -> None:
    EXTRACTION_DROPPED.labels(field=key, reason=reason).inc()
    log.info("dropped the model's %s: %s", key, reason)


def _same(known: str | Need | Budget | Authority | Timeline, words: str) -> bool:
    """The lead's fact as known says the same as `words` (one contains the other)."""
    said = normalized(known if isinstance(known, str) else known.words)
    new = normalized(words)
    return bool(said) and bool(new) and (_occurs(new, said) or _occurs(said, new))


def _consistent_budget(value: dict[str, Any]) -> dict[str, Any] | DropReason:
    """The budget with the amount of the lead's words (the model's reading of them may be off),
    or the drop reason when the model gave an amount the words do not hold."""
    if value.get("amount") is None:
        return value
    parsed = parse_budget(value["words"], bare=True)
    if parsed is None:
        if not any(char.isdigit() for char in value["words"]):
            return "amount"  # an amount the lead never wrote
        return {**value, "amount": None}  # a figure that is no amount (or out of bounds)
    amount, currency = parsed
    return {**value, "amount": amount, "currency": currency or value.get("currency")}


def _past(value: dict[str, Any], today: dt.date) -> bool:
    date = value.get("date")
    try:
        parsed = dt.date.fromisoformat(date) if isinstance(date, str) else date
    except ValueError:
        return False  # not a date: the validators drop the date and keep the words
    return isinstance(parsed, dt.date) and parsed < today


def merge_profile(
    profile: LeadProfile,
    fields: BaseModel,
    *,
    messages: LeadMessages,
    today: dt.date,
) -> LeadProfile:
    """`profile` with the facts of `fields` that pass the rules of the module docstring."""
    current = profile
    for key, value in _item_values(fields).items():
        if key == "timezone":  # the model's reading of a place or zone, validated above
            candidates: list[Any] = [value]
        else:
            words = value["words"] if isinstance(value, dict) else str(value)
            found = messages.find(words)
            if found is None:
                _drop(key, "ungrounded")
                continue
            message_id, in_burst = found
            known = getattr(current, key)
            if known is not None and (not in_burst or _same(known, words)):
                continue  # known, and not corrected in this burst: evidence stays where it is
            if not isinstance(value, dict):
                candidates = [value]
            else:
                if key == "budget":
                    checked = _consistent_budget(value)
                    if isinstance(checked, str):
                        _drop(key, checked)
                        continue
                    value = checked
                if key == "timeline" and _past(value, today):
                    _drop(key, "past_date")
                    continue
                value["message_id"] = message_id
                candidates = [value, {"words": value["words"], "message_id": message_id}]
        for candidate in candidates:
            try:
                current = LeadProfile.model_validate({**current.model_dump(), key: candidate})
                break
            except ValidationError:
                continue
        else:
            _drop(key, "invalid")
    return current


_CHECKED_IN_REPLY = frozenset({"name", "company", "email", "budget"})
"""The facts a reply must not state unless the lead gave them. (A need or a timeline the model
words its own way is dropped from the profile but may be said back: it paraphrases the lead.)"""


def invented_fact(reply: str, fields: BaseModel, *, messages: LeadMessages) -> str | None:
    """The fact (its field) that `reply` states although the lead never gave it: the words of a
    name, company, email or budget the lead never wrote ("Hi Jennifer!"), or a budget amount
    their words do not hold ("With 10k EUR you can start"). None when it states no such fact."""
    said = normalized(reply)
    for key, value in _item_values(fields).items():
        if key not in _CHECKED_IN_REPLY:
            continue
        words = value["words"] if isinstance(value, dict) else str(value)
        if messages.find(words) is None:
            if _occurs(normalized(words), said):
                return key
        elif key == "budget" and _consistent_budget(value) == "amount":
            stated = parse_budget(reply)
            if stated is not None and stated[0] == value["amount"]:
                return key
    return None


def checked_disqualification(
    fields: BaseModel, rules: Sequence[str], *, messages: LeadMessages
) -> str | None:
    """The business's rule (`rules`) the model says the lead meets, if it is one of them and the
    lead's quoted words are theirs; else None (and the drop is counted)."""
    values = fields.model_dump()
    rule, words = values.get("disqualified_by"), values.get("disqualified_words")
    if not rule:
        return None
    match = next((known for known in rules if normalized(known) == normalized(rule)), None)
    if match is None:
        _drop("disqualified_by", "unknown_rule")
        return None
    if not words or not grounded(words, messages):
        _drop("disqualified_by", "ungrounded")
        return None
    return match
