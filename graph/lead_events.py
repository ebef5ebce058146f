"""What the lead sink receives, built from a conversation's state: pure functions.

The `record` step tells the sink with these, and the engine builds the turn's `HandoffEvent` for
its caller with the same function, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from domain.contact import ContactInfo
from domain.events import HandoffEvent, LeadUpdate, TranscriptLine
from domain.lead import LeadProfile

__all__ = ["handoff_event", "lead_update", "recent_transcript"]


def recent_transcript(messages: Sequence[AnyMessage]) -> list[TranscriptLine]:
    """The messages as transcript lines for the manager (tool rounds and empty ones left out)."""
    lines: list[TranscriptLine] = []
    for message in messages:
        if isinstance(message, (HumanMessage, AIMessage)) and message.text.strip():
            role: Literal["lead", "bot"] = "lead" if isinstance(message, HumanMessage) else "bot"
            lines.append(TranscriptLine(role=role, text=message.text, message_id=message.id))
    return lines


def lead_update(contact: ContactInfo, state: Mapping[str, Any]) -> LeadUpdate:
    """The lead as the state holds it after a turn."""
    return LeadUpdate(
        thread_id=contact.thread_id,
        channel=contact.channel,
        contact=contact.contact,
        profile_name=contact.profile_name,
        stage=state.get("stage") or "greeting",
        profile=state.get("profile") or LeadProfile(),
        summary=state.get("summary") or "",
        booking=state.get("booking"),
        qualification=state.get("qualification"),
    )


def handoff_event(contact: ContactInfo, state: Mapping[str, Any]) -> HandoffEvent:
    """The event of the state's last handoff. Its transcript is every message not folded into
    the summary yet (bounded by the folding, `graph.summarize`): with the summary, the manager
    reads the whole conversation, nothing left out between the two."""
    record = state["handoff"]
    return HandoffEvent(
        thread_id=contact.thread_id,
        channel=contact.channel,
        contact=contact.contact,
        profile_name=contact.profile_name,
        reason=record.reason,
        at=record.at,
        profile=state.get("profile") or LeadProfile(),
        summary=state.get("summary") or "",
        recent=recent_transcript(state.get("messages") or ()),
        booking=state.get("booking"),
        qualification=state.get("qualification"),
    )
