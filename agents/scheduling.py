"""The scheduling agent: proposes free call slots, confirms one with the lead, books it; and later
moves or cancels that call when the lead asks ("can we move it?").

It is the one agent that may make more than one model call in a turn: its calendar tools are
bound next to its structured answer (`agents.structured_or_tool_calls`), so a turn is "call, tool,
call" at most a few times (`MAX_CALLS`). Before a booking it has `find_free_slots` and
`book_slot`; with a confirmed booking, `find_free_slots`, `reschedule_booking`, `cancel_booking`
and `keep_booking`.

Confirmation before booking is enforced here, not only asked of the model: `book_slot` and
`reschedule_booking` accept only a slot that was offered to the lead in an earlier message (the
lead has seen it and answered), and the booking key is derived from the thread and the slot, so
a re-run books the same event (and a re-run move finds the event already moved). A slot taken
meanwhile makes the tool say so, and the model offers fresh ones; the booking in the state only
ever comes from the calendar's answer, so a taken slot can never turn into a confirmation.

Rescheduling after the booking: a booked call hands the conversation to the sales team (handoff
`booked`, human mode), yet the booking itself must stay manageable without a person. The graph
therefore routes a booked lead's requests to move or cancel the call here, also in that human
mode, and only in it: any other handoff, or a person of the team writing to the lead, keeps the
bot silent (`graph.routing`, `pipeline.processor`). The change stays open across turns (offer,
pick, confirm) until the call is moved, cancelled or kept (`changing_booking` in the draft).

Times are shown in the lead's zone (their profile, from what they said, else their number's
country via `integrations.calendar.slots.lead_timezone`, else the business's), the zone named:
the tool output names it, and a reply that offers new times without naming it gets it appended.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
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
    structured_or_tool_calls,
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
from graph.triggers import booking_change_request
from integrations.calendar.base import (
    Attendee,
    Booking,
    Calendar,
    CalendarError,
    CalendarUnavailable,
    Slot,
    SlotTaken,
)
from integrations.calendar.slots import lead_timezone

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from graph.state import Draft

__all__ = [
    "CHANGE_PROMPT",
    "CHANGE_TOOLS",
    "MAX_CALLS",
    "PROMPT",
    "BookSlot",
    "CancelBooking",
    "FindFreeSlots",
    "KeepBooking",
    "RescheduleBooking",
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

CHANGE_PROMPT = """\
You look after a call already booked between a lead and the sales team, on WhatsApp (the booked
time is in the context). The lead wants to move or cancel it. To move it: use `find_free_slots`
and offer new times as a numbered list (up to three), in the lead's time zone, naming the zone;
when the lead clearly picks or confirms one of the slots you offered in an earlier message, call
`reschedule_booking` with its number; if unsure which one they mean, ask. To cancel: make sure
they want it cancelled rather than moved, then call `cancel_booking`. If they decide to keep the
booked time, call `keep_booking`. Never claim a change the tool did not confirm; after a change,
give the new time (with zone) and the link if there is one."""


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


class RescheduleBooking(BaseModel):
    """Move the lead's booked call to one of the slots offered in an earlier message, once the
    lead confirmed it."""

    option: int = Field(description="The slot's number in the list offered to the lead (1-based).")


class CancelBooking(BaseModel):
    """Cancel the lead's booked call, once they confirmed they want it cancelled."""


class KeepBooking(BaseModel):
    """The lead keeps the booked time after all: end the change."""


TOOLS: list[dict[str, Any]] = [
    _tool("find_free_slots", FindFreeSlots),
    _tool("book_slot", BookSlot),
]
"""The calendar tools bound next to the structured answer, before a booking."""

CHANGE_TOOLS: list[dict[str, Any]] = [
    _tool("find_free_slots", FindFreeSlots),
    _tool("reschedule_booking", RescheduleBooking),
    _tool("cancel_booking", CancelBooking),
    _tool("keep_booking", KeepBooking),
]
"""The tools bound once the lead has a confirmed booking (they asked to change it)."""


class SchedulingReply(AgentReply):
    """The scheduling agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


# --- Pure helpers ------------------------------------------------------------------------------
def lead_zone(profile_zone: str | None, contact: str | None, default: str) -> ZoneInfo:
    """The lead's time zone: their own (profile: what they said), else their number's
    (`lead_timezone`: the country's main zone where a prefix spans several), else `default`."""
    candidates: list[str] = []
    if profile_zone:
        candidates.append(profile_zone)
    if contact:
        candidates.append(lead_timezone(contact, default))
    candidates.append(default)
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def confirmed(booking: Booking | None) -> bool:
    """A booked call that stands (not cancelled)."""
    return booking is not None and booking.status == "confirmed"


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
    """Slots offered in an earlier message: the only ones that may be booked (or moved to)."""
    offered: list[Slot]
    booking: Booking | None
    changing: bool = False
    """A change of the confirmed booking is open (set at the start of a change turn)."""
    offered_now: bool = False
    """`find_free_slots` found slots in this turn (the reply offers them)."""
    calls: int = 0

    def when(self, booking: Booking) -> str:
        return format_slot(_slot(booking), self.zone, self.language)

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
        self.offered_now = True
        return "Free slots (offer them with these numbers):\n" + format_slots(
            slots, self.zone, self.language
        )

    def _offered_slot(self, args: Mapping[str, Any], verb: str) -> Slot | str:
        """The offered slot `args["option"]` names, or why there is none."""
        try:
            option = int(args.get("option", 0))
        except (TypeError, ValueError):
            option = 0
        if not 1 <= option <= len(self.seen):
            return (
                f"Not {verb}: option {option} was not offered to the lead in an earlier message. "
                "Offer slots and wait for the lead to confirm one."
            )
        return self.seen[option - 1]

    async def book_slot(self, args: Mapping[str, Any]) -> str:
        if self.booking is not None and confirmed(self.booking):
            return f"Already booked: {self.when(self.booking)}."
        if self.calendar is None:
            return _NO_CALENDAR
        slot = self._offered_slot(args, "booked")
        if isinstance(slot, str):
            return slot
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
        return f"Booked {self.when(self.booking)}.{link}"

    async def reschedule_booking(self, args: Mapping[str, Any]) -> str:
        current = self.booking
        if current is None or not confirmed(current):
            return "Not moved: the lead has no booked call. Offer slots and book one instead."
        if self.calendar is None:
            return _NO_CALENDAR
        slot = self._offered_slot(args, "moved")
        if isinstance(slot, str):
            return slot
        try:
            self.booking = await self.calendar.reschedule(current.id, slot)
        except SlotTaken:
            self.seen = [s for s in self.seen if s != slot]
            return (
                f"Not moved: that slot was just taken; the call stays {self.when(current)}. "
                "Find fresh slots and offer them."
            )
        except CalendarUnavailable:
            return "Not moved: " + _UNAVAILABLE
        except CalendarError as exc:  # the event is gone (the team deleted it), say
            log.warning("scheduling agent: could not move booking %s: %s", current.id, exc)
            return (
                "Not moved: the calendar refused the change. Tell the lead a team member will "
                "contact them about the call."
            )
        self.changing = False
        link = f" Link: {self.booking.link}" if self.booking.link else ""
        return f"Moved to {self.when(self.booking)}.{link}"

    async def cancel_booking(self, args: Mapping[str, Any]) -> str:
        current = self.booking
        if current is None or not confirmed(current):
            return "Nothing to cancel: the lead has no booked call."
        if self.calendar is None:
            return _NO_CALENDAR
        try:
            await self.calendar.cancel(current.id)
        except CalendarUnavailable:
            return "Not cancelled: " + _UNAVAILABLE
        except CalendarError as exc:
            log.warning("scheduling agent: could not cancel booking %s: %s", current.id, exc)
            return (
                "Not cancelled: the calendar refused the change. Tell the lead a team member "
                "will contact them about the call."
            )
        self.booking = dataclasses.replace(current, status="cancelled")
        self.changing = False
        return f"Cancelled the call of {self.when(current)}."

    async def keep_booking(self, args: Mapping[str, Any]) -> str:
        self.changing = False
        if self.booking is None or not confirmed(self.booking):
            return "The lead has no booked call."
        return f"The call stays {self.when(self.booking)}."


def _slot(booking: Booking) -> Slot:
    return Slot(start=booking.start, end=booking.end)


def _thread_id(state: Mapping[str, Any]) -> str:
    contact = state.get("contact") or {}
    return f"{contact.get('channel', '?')}:{contact.get('contact', '?')}"


def _with_zone_and_link(reply: str, turn: _Turn, *, changed: bool) -> str:
    """The reply with the zone named when it offers times found this turn, and with the link
    when it confirms a booking made or moved this turn (models drop both now and then)."""
    if turn.offered_now and turn.zone.key not in reply:
        reply = f"{reply}\n({turn.zone.key})"
    link = turn.booking.link if turn.booking is not None and confirmed(turn.booking) else None
    if changed and link and link not in reply:
        reply = f"{reply}\n{link}"
    return reply


async def run(
    state: Mapping[str, Any],
    *,
    model: BaseChatModel | None,
    settings: Settings,
    now: dt.datetime,
    calendar: Calendar | None,
    thread_id: str | None = None,
) -> Draft:
    """One scheduling turn: model and tools, or the fallback policy. With a confirmed booking in
    the state the turn is about changing it (the graph routes only such turns here then)."""
    profile: LeadProfile = state.get("profile") or LeadProfile()
    contact = (state.get("contact") or {}).get("contact", "")
    language = state.get("language")
    booking: Booking | None = state.get("booking")
    managing = confirmed(booking)
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
        booking=booking,
        changing=managing,
    )
    if model is None:
        return await _fallback(state, turn, cause="no_model")
    extra = [f"The lead's time zone: {turn.zone.key}"]
    if managing and booking is not None:
        extra.append(f"The lead's booked call: {turn.when(booking)}")
    if turn.seen:
        offered = format_slots(turn.seen, turn.zone, language)
        extra.append(f"Slots offered earlier:\n{offered}")
    messages: list[BaseMessage] = prompt_messages(
        CHANGE_PROMPT if managing else PROMPT, state, keep=settings.HISTORY_KEEP,
        context=context_block(state, now=now, extra=extra),
    )
    tools: dict[str, Callable[[Mapping[str, Any]], Awaitable[str]]] = (
        {
            "find_free_slots": turn.find_free_slots,
            "reschedule_booking": turn.reschedule_booking,
            "cancel_booking": turn.cancel_booking,
            "keep_booking": turn.keep_booking,
        }
        if managing
        else {"find_free_slots": turn.find_free_slots, "book_slot": turn.book_slot}
    )
    try:
        while True:
            if turn.calls >= MAX_CALLS:
                raise ValueError(f"no answer after {MAX_CALLS} calls")
            turn.calls += 1
            result = await structured_or_tool_calls(
                model, SchedulingReply, messages, tools=CHANGE_TOOLS if managing else TOOLS
            )
            if isinstance(result, AIMessage):
                messages.append(result)
                for call in result.tool_calls:
                    tool = tools.get(call["name"])
                    output = await tool(call["args"]) if tool else f"Unknown tool {call['name']}."
                    messages.append(ToolMessage(output, tool_call_id=call["id"] or call["name"]))
                continue
            answer = result
            break
    except LLM_ERRORS as exc:
        log.warning("scheduling agent: LLM failed (%s: %s); fallback policy for this turn",
                    type(exc).__name__, exc)
        return await _fallback(state, turn, cause="llm_error")
    merged = merge_profile(profile, answer.lead, burst=burst_messages(state))
    lang = answer.language or language
    if lang:
        merged = merged.model_copy(update={"language": lang})
    changed = turn.booking is not booking
    return {
        "agent": "scheduling",
        "reply": _with_zone_and_link(answer.reply, turn, changed=changed),
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
        "changing_booking": turn.changing,
    }


async def _fallback(state: Mapping[str, Any], turn: _Turn, *, cause: str) -> Draft:
    """The policy's scheduling turn: offer numbered slots, ask to confirm a pick, book (or move
    the booked call) on yes. A booking the model's tools already made or changed this turn is
    confirmed, never made twice. A request to cancel goes to a person (`wants_human`)."""
    FALLBACK_TURNS.labels(agent="scheduling", cause=cause).inc()
    log.info("scheduling agent: fallback policy (%s)", cause)
    texts = burst_texts(state)
    lang = detect_language(" ".join(texts)) or turn.language or "en"
    lang = lang if lang in LANGUAGES else "en"
    turn.language = lang
    proposed: int | None = None
    already = state.get("booking")
    managing = confirmed(already)
    wants_human = False
    if turn.booking is not already:  # the model's tools changed it before the model failed
        if turn.booking is not None and confirmed(turn.booking):
            reply = booked_reply(turn.booking, turn.zone, lang, moved=managing)
        else:
            reply, wants_human = "", True  # cancelled: a person confirms it to the lead
    elif managing and booking_change_request(texts) == "cancel":
        reply, wants_human = "", True  # the hand-over message tells the lead a person follows up
        turn.changing = False
    else:
        action, option = scheduling_action(
            texts, offered=len(turn.seen), proposed=state.get("proposed_slot")
        )
        reply = ""
        if action == "book" and option is not None:
            act = turn.reschedule_booking if managing else turn.book_slot
            outcome = await act({"option": option})
            if turn.booking is not already and turn.booking is not None:
                reply = booked_reply(turn.booking, turn.zone, lang, moved=managing)
            else:
                log.info("scheduling fallback: booking failed: %s", outcome)
                reply = text_for("taken", lang) + " "
                action = "offer"
        elif action == "confirm" and option is not None:
            proposed = option
            reply = confirm_reply(turn.seen[option - 1], turn.zone, lang, move=managing)
        if action == "offer":
            reply += await _offer(turn, lang)
    return {
        "agent": "scheduling",
        "reply": reply,
        "profile": turn.profile.model_copy(update={"language": lang}),
        "language": lang,
        "confidence": None,
        "resolved": None,
        "wants_human": wants_human,
        "fallback": True,
        "llm_calls": turn.calls,
        "asked": None,
        "offered_slots": turn.offered,
        "proposed_slot": proposed,
        "booking": turn.booking,
        "changing_booking": turn.changing,
    }


async def _offer(turn: _Turn, language: str) -> str:
    if turn.calendar is None:
        return text_for("no_calendar", language)
    outcome = await turn.find_free_slots({"after": None})
    if outcome == _UNAVAILABLE:
        return text_for("no_slots", language)
    return offer_reply(turn.offered, turn.zone, language)
