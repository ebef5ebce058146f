"""How what the model reports about the lead enters the `LeadProfile`: field by field, validated.

An invalid value is dropped and logged, never allowed to fail the turn; each BANT item keeps the
lead's words and the id of the message they came from (`evidence_id`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ValidationError

from domain.lead import LeadProfile

__all__ = ["evidence_id", "merge_profile"]

log = logging.getLogger(__name__)


def evidence_id(words: str, burst: Sequence[HumanMessage]) -> str | None:
    """The id of the message `words` came from: the last message of the burst that contains
    them, else the burst's last message (the model paraphrased)."""
    needle = words.casefold().strip()
    for message in reversed(burst):
        if needle and needle in message.text.casefold():
            return message.id
    return burst[-1].id if burst else None


def _known_zone(name: object) -> bool:
    """An IANA zone name this machine knows (LeadProfile takes any string)."""
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _item_values(fields: BaseModel) -> dict[str, dict[str, Any] | Any]:
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


def merge_profile(
    profile: LeadProfile, fields: BaseModel, *, burst: Sequence[HumanMessage]
) -> LeadProfile:
    """`profile` with the agent's extractions merged in, each item validated on its own.

    An invalid item is retried without its parsed extras (a bad amount keeps the lead's words),
    then dropped; a new value replaces the old one (the lead corrected themselves)."""
    current = profile
    for key, value in _item_values(fields).items():
        candidates: list[Any] = [value]
        if isinstance(value, dict):
            value["message_id"] = evidence_id(value["words"], burst)
            candidates.append({"words": value["words"], "message_id": value["message_id"]})
        for candidate in candidates:
            try:
                current = LeadProfile.model_validate({**current.model_dump(), key: candidate})
                break
            except ValidationError:
                log.info("dropped an invalid %s from the model's extraction", key)
    return current
