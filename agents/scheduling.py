"""The scheduling agent: proposes free call slots, confirms one with the lead, books it.

It is the one agent that may make more than one model call in a turn: its calendar tools (find
free slots, book a slot) are bound with `bind_tools` next to its structured answer, so a turn is
"call, tool, call" at most a few times (`MAX_CALLS`).

Confirmation before booking is enforced here, not only asked of the model: `book_slot` accepts
only a slot that was offered to the lead in an earlier message (the lead has seen it and answered),
and the booking key is derived from the thread and the slot, so a re-run books the same event.
A slot taken meanwhile makes the tool say so, and the model offers fresh ones. Times are shown in
the lead's zone (their profile, else their number's country, else the business's), zone named.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from phonenumbers import timezone as phone_timezones
from pydantic import BaseModel, Field

from agents import (
    LLM_ERRORS,
    AgentReply,
    ContactFields,
    burst_messages,
    burst_texts,
    context_block,
    merge_profile,
    prompt_messages,
)
from graph.fallback import (
    FALLBACK_TURNS,
    LANGUAGES,
    booked_reply,
    confirm_reply,
    detect_language,
    format_slot,
    format_slots,
    offer_reply,
    scheduling_action,
    text_for,
)
from graph.lead import LeadProfile
from integrations.calendar.base import (
    Attendee,
    Booking,
    Calendar,
    CalendarUnavailable,
    Slot,
    SlotTaken,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from graph.state import Draft

__all__ = [
    "MAX_CALLS",
    "PROMPT",
    "BookSlot",
    "FindFreeSlots",
    "SchedulingReply",
    "TOOLS",
    "booking_key",
    "lead_zone",
    "run",
]

log = logging.getLogger(__name__)

MAX_CALLS = 4
"""Model calls in one scheduling turn at most (tool rounds included)."""

SLOTS_OFFERED = 3

PROMPT = """\
You book a call between a qualified lead and the sales team, on WhatsApp. Use `find_free_slots` to
get free times and offer them as a numbered list (up to three), in the lead's time zone, naming
the zone. When the lead clearly picks or confirms one of the slots you offered in an earlier
message ("the second", "Tuesday at 4" when that was offered, "yes"), call `book_slot` with its
number; if unsure which one they mean, ask. Never book a slot you have not offered, never claim a
booking the tool did not confirm. If they want other days, search again with `after`. After
booking, confirm the time (with zone) and the link if there is one. Ask for their email for the
invitation if unknown, but do not insist."""


class FindFreeSlots(BaseModel):
    """Find free call slots (up to three) in the sales team's calendar."""

    after: str | None = Field(
        description="Earliest start the lead wants, as YYYY-MM-DD or YYYY-MM-DDTHH:MM in the "
        "lead's time zone; null for as soon as possible."
    )


class BookSlot(BaseModel):
    """Book one of the slots offered to the lead in an earlier message, once they confirmed it."""

    option: int = Field(description="The slot's number in the list offered to the lead (1-based).")


def _tool(name: str, schema: type[BaseModel]) -> dict[str, Any]:
    """`schema` as an OpenAI tool named `name` (snake_case, as the prompt calls it)."""
    tool = convert_to_openai_tool(schema, strict=True)
    tool["function"]["name"] = name
    return tool


TOOLS: list[dict[str, Any]] = [
    _tool("find_free_slots", FindFreeSlots),
    _tool("book_slot", BookSlot),
]
"""The calendar tools bound next to the structured answer."""


class SchedulingReply(AgentReply):
    """The scheduling agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


# --- Pure helpers ------------------------------------------------------------------------------
def lead_zone(profile_zone: str | None, contact: str | None, default: str) -> ZoneInfo:
    """The lead's time zone: their own (profile), else their number's when it has exactly one
    (`phonenumbers`), else the business's."""
    candidates: list[str] = []
    if profile_zone:
        candidates.append(profile_zone)
    if contact:
        try:
            zones = phone_timezones.time_zones_for_number(phonenumbers.parse(contact))
        except phonenumbers.NumberParseException:
            zones = ()
        if len(zones) == 1:
            candidates.append(zones[0])
    candidates.append(default)
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def booking_key(thread_id: str, slot: Slot) -> str:
    """The idempotency key of a booking: one event per thread and slot, however often re-run."""
    return f"{thread_id}|{slot.start.astimezone(dt.UTC).isoformat()}"


def parse_after(value: str | None, *, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The `after` argument as an aware datetime, never earlier than now."""
    if value:
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone)
            return max(parsed, now)
    return now


# --- The turn ------------------------------------------------------------------------------------
_NO_CALENDAR = (
    "No calendar is connected. Tell the lead a team member will contact them to schedule."
)
_UNAVAILABLE = (
    "The calendar is unavailable right now. Apologise and say we will write back with times."
)

@dataclass(kw_only=True)
class _Turn:
    """What the tools did during one turn."""

    calendar: Calendar | None
    thread_id: str
    profile: LeadProfile
    contact: str
    zone: ZoneInfo
    language: str | None
    now: dt.datetime
    seen: list[Slot]
    """Slots offered in an earlier message: the only ones that may be booked."""
    offered: list[Slot]
    booking: Booking | None
    calls: int = 0
    notes: list[str] = field(default_factory=list)

    async def find_free_slots(self, args: Mapping[str, Any]) -> str:
        if self.calendar is None:
            return _NO_CALENDAR
        after = parse_after(args.get("after"), zone=self.zone, now=self.now)
        try:
            slots = await self.calendar.free_slots(after=after, limit=SLOTS_OFFERED)
        except CalendarUnavailable:
            return _UNAVAILABLE
        self.offered = list(slots)
        if not slots:
            return "No free slots from that time. Ask for another day or week."
        return "Free slots (offer them with these numbers):\n" + format_slots(
            slots, self.zone, self.language
        )

    async def book_slot(self, args: Mapping[str, Any]) -> str:
        if self.booking is not None:
            booked = format_slot(_slot(self.booking), self.zone, self.language)
            return f"Already booked: {booked}."
        if self.calendar is None:
            return _NO_CALENDAR
        try:
            option = int(args.get("option", 0))
        except (TypeError, ValueError):
            option = 0
        if not 1 <= option <= len(self.seen):
            return (
                f"Not booked: option {option} was not offered to the lead in an earlier message. "
                "Offer slots and wait for the lead to confirm one."
            )
        slot = self.seen[option - 1]
        attendee = Attendee(name=self.profile.name, email=self.profile.email, phone=self.contact)
        title = f"Call with {self.profile.name or self.contact}"
        if self.profile.company:
            title += f" ({self.profile.company})"
        need = self.profile.need
        description = f"Need: {need.summary or need.words}" if need is not None else ""
        try:
            self.booking = await self.calendar.book(
                slot, attendee=attendee, key=booking_key(self.thread_id, slot),
                title=title, description=description,
            )
        except SlotTaken:
            self.seen = [s for s in self.seen if s != slot]
            return "Not booked: that slot was just taken. Find fresh slots and offer them."
        except CalendarUnavailable:
            return "Not booked: " + _UNAVAILABLE
        link = f" Link: {self.booking.link}" if self.booking.link else ""
        return f"Booked {format_slot(slot, self.zone, self.language)}.{link}"


def _slot(booking: Booking) -> Slot:
    return Slot(start=booking.start, end=booking.end)


def _thread_id(state: Mapping[str, Any]) -> str:
    contact = state.get("contact") or {}
    return f"{contact.get('channel', '?')}:{contact.get('contact', '?')}"


async def run(
    state: Mapping[str, Any],
    *,
    model: BaseChatModel | None,
    settings: Settings,
    now: dt.datetime,
    calendar: Calendar | None,
    thread_id: str | None = None,
) -> Draft:
    """One scheduling turn: model and tools, or the fallback policy."""
    profile: LeadProfile = state.get("profile") or LeadProfile()
    contact = (state.get("contact") or {}).get("contact", "")
    language = state.get("language")
    turn = _Turn(
        calendar=calendar,
        thread_id=thread_id or _thread_id(state),
        profile=profile,
        contact=contact,
        zone=lead_zone(profile.timezone, contact, settings.TIMEZONE),
        language=language,
        now=now,
        seen=list(state.get("offered_slots") or []),
        offered=list(state.get("offered_slots") or []),
        booking=state.get("booking"),
    )
    if model is None:
        return await _fallback(state, turn, cause="no_model")
    extra = [f"The lead's time zone: {turn.zone.key}"]
    if turn.seen:
        offered = format_slots(turn.seen, turn.zone, language)
        extra.append(f"Slots offered earlier:\n{offered}")
    messages: list[BaseMessage] = prompt_messages(
        PROMPT, state, keep=settings.HISTORY_KEEP,
        context=context_block(state, now=now, extra=extra),
    )
    runnable = model.with_structured_output(
        SchedulingReply, method="json_schema", strict=True, include_raw=True,
        tools=TOOLS,
    )
    tools = {"find_free_slots": turn.find_free_slots, "book_slot": turn.book_slot}
    try:
        while True:
            if turn.calls >= MAX_CALLS:
                raise ValueError(f"no answer after {MAX_CALLS} calls")
            turn.calls += 1
            result = cast(dict[str, Any], await runnable.ainvoke(messages))
            raw = result["raw"]
            if isinstance(raw, AIMessage) and raw.tool_calls:
                messages.append(raw)
                for call in raw.tool_calls:
                    tool = tools.get(call["name"])
                    output = await tool(call["args"]) if tool else f"Unknown tool {call['name']}."
                    messages.append(ToolMessage(output, tool_call_id=call["id"] or call["name"]))
                continue
            if result.get("parsing_error") is not None:
                raise result["parsing_error"]
            answer = result["parsed"]
            if not isinstance(answer, SchedulingReply):
                raise ValueError("the model gave no structured answer")
            break
    except LLM_ERRORS as exc:
        log.warning("scheduling agent: LLM failed (%s: %s); fallback policy for this turn",
                    type(exc).__name__, exc)
        return await _fallback(state, turn, cause="llm_error")
    merged = merge_profile(profile, answer.lead, burst=burst_messages(state))
    lang = answer.language or language
    if lang:
        merged = merged.model_copy(update={"language": lang})
    return {
        "agent": "scheduling",
        "reply": answer.reply,
        "profile": merged,
        "language": lang,
        "confidence": answer.confidence,
        "resolved": answer.resolved,
        "wants_human": answer.wants_human,
        "fallback": False,
        "llm_calls": turn.calls,
        "asked": None,
        "offered_slots": turn.offered,
        "proposed_slot": None,
        "booking": turn.booking,
    }


async def _fallback(state: Mapping[str, Any], turn: _Turn, *, cause: str) -> Draft:
    """The policy's scheduling turn: offer numbered slots, ask to confirm a pick, book on yes.
    A booking the model's tools already made this turn is confirmed, never made twice."""
    FALLBACK_TURNS.labels(agent="scheduling", cause=cause).inc()
    log.info("scheduling agent: fallback policy (%s)", cause)
    texts = burst_texts(state)
    lang = detect_language(" ".join(texts)) or turn.language or "en"
    lang = lang if lang in LANGUAGES else "en"
    turn.language = lang
    proposed: int | None = None
    already = state.get("booking")
    if turn.booking is not None and turn.booking is not already:
        reply = booked_reply(turn.booking, turn.zone, lang)
    else:
        action, option = scheduling_action(
            texts, offered=len(turn.seen), proposed=state.get("proposed_slot")
        )
        reply = ""
        if action == "book" and option is not None:
            outcome = await turn.book_slot({"option": option})
            if turn.booking is not None and turn.booking is not already:
                reply = booked_reply(turn.booking, turn.zone, lang)
            else:
                log.info("scheduling fallback: booking failed: %s", outcome)
                reply = text_for("taken", lang) + " "
                action = "offer"
        elif action == "confirm" and option is not None:
            proposed = option
            reply = confirm_reply(turn.seen[option - 1], turn.zone, lang)
        if action == "offer":
            reply += await _offer(turn, lang)
    return {
        "agent": "scheduling",
        "reply": reply,
        "profile": turn.profile.model_copy(update={"language": lang}),
        "language": lang,
        "confidence": None,
        "resolved": None,
        "wants_human": False,
        "fallback": True,
        "llm_calls": turn.calls,
        "asked": None,
        "offered_slots": turn.offered,
        "proposed_slot": proposed,
        "booking": turn.booking,
    }


async def _offer(turn: _Turn, language: str) -> str:
    if turn.calendar is None:
        return text_for("no_calendar", language)
    outcome = await turn.find_free_slots({"after": None})
    if outcome == _UNAVAILABLE:
        return text_for("no_slots", language)
    return offer_reply(turn.offered, turn.zone, language)
