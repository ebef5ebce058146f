"""The scheduling agent's calendar tools, and the pure helpers they stand on.

Confirmation before booking is enforced here, not only asked of the model: `book_slot` and
`reschedule_booking` accept only a slot that was offered to the lead in an earlier message (the
lead has seen it and answered), and the booking key is derived from the thread and the slot, so
a re-run books the same event (and a re-run move finds the event already moved). A slot taken
meanwhile makes the tool say so, and the model offers fresh ones; the booking of the turn only
ever comes from the calendar's answer, so a taken slot can never turn into a confirmation.

Slots are searched inside the lead's own hours (`LEAD_HOURS` in their zone, `CalendarTools.window`)
as well as business hours. When none of the search window fits both, the tool says so and tells
the model to ask the lead for a time that suits them: it never widens the search into the lead's
night.

`CalendarTools` holds what the tools did during one turn (slots offered, the booking made, moved
or cancelled); the agent (`agents.scheduling.agent`) and its fallback (`agents.scheduling.fallback`)
read it when they write the turn's draft.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from agents.fallback.policy import format_slot, format_slots
from domain.booking import Attendee, Booking, DayWindow, Slot, confirmed
from domain.lead import LeadProfile
from domain.reply import tapped_slot_start
from integrations.calendar.base import Calendar, CalendarError, CalendarUnavailable, SlotTaken
from integrations.calendar.slots import lead_timezone

__all__ = [
    "CHANGE_TOOLS",
    "NO_CALENDAR",
    "SLOTS_OFFERED",
    "TOOLS",
    "UNAVAILABLE",
    "BookSlot",
    "CalendarTools",
    "CancelBooking",
    "FindFreeSlots",
    "KeepBooking",
    "RescheduleBooking",
    "booking_key",
    "lead_zone",
    "no_fit",
    "parse_after",
    "tapped_option",
]

log = logging.getLogger(__name__)

SLOTS_OFFERED = 3
"""Slots offered at a time."""


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

def tapped_option(taps: Sequence[str], seen: Sequence[Slot]) -> int | None:
    """The offered slot (1-based in `seen`) the lead's last slot tap names: a tap is the lead's
    pick, confirmed by the tap itself. None without a slot tap, or for a slot of an older list
    (the lead then reads as having written the slot's words)."""
    for payload in reversed(taps):
        start = tapped_slot_start(payload)
        if start is None:
            continue
        return next((n for n, slot in enumerate(seen, 1) if slot.start == start), None)
    return None


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


NO_CALENDAR = (
    "No calendar is connected. Tell the lead a team member will contact them to schedule."
)
UNAVAILABLE = (
    "The calendar is unavailable right now. Apologise and say we will write back with times."
)


def no_fit(window: DayWindow) -> str:
    """The tool's answer when no free slot of the search window lies inside the lead's hours."""
    return (
        "No free slot from that time fits both the team's hours and the lead's own hours "
        f"({window.start:%H:%M}-{window.end:%H:%M} in {window.timezone}). Offer no time and "
        "invent none: ask the lead which day and time would suit them."
    )


@dataclass(kw_only=True)
class CalendarTools:
    """The tools of one turn, and what they did."""

    calendar: Calendar | None
    thread_id: str
    profile: LeadProfile
    contact: str
    zone: ZoneInfo
    hours: tuple[dt.time, dt.time]
    """The hours of the lead's day a call may be offered in (`Settings.lead_hours`), in `zone`."""
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

    @property
    def window(self) -> DayWindow:
        """The lead's hours in the lead's zone: the only times slots are searched in."""
        return DayWindow(timezone=self.zone.key, start=self.hours[0], end=self.hours[1])

    def when(self, booking: Booking) -> str:
        return format_slot(booking.slot, self.zone, self.language)

    async def find_free_slots(self, args: Mapping[str, Any]) -> str:
        if self.calendar is None:
            return NO_CALENDAR
        after = parse_after(args.get("after"), zone=self.zone, now=self.now)
        # While a call is being moved, its own time counts as free: the slots next to it are
        # offered too.
        moving = self.booking if confirmed(self.booking) else None
        try:
            slots = await self.calendar.free_slots(
                after=after, limit=SLOTS_OFFERED, within=self.window, moving=moving
            )
        except CalendarUnavailable:
            return UNAVAILABLE
        self.offered = list(slots)
        if not slots:
            return no_fit(self.window)
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
            return NO_CALENDAR
        slot = self._offered_slot(args, "booked")
        if isinstance(slot, str):
            return slot
        attendee = Attendee(
            name=self.profile.name, email=self.profile.email, phone=self.contact,
            language=self.profile.language or self.language,  # the invitation email's
        )
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
            return "Not booked: " + UNAVAILABLE
        link = f" Link: {self.booking.link}" if self.booking.link else ""
        return f"Booked {self.when(self.booking)}.{link}"

    async def reschedule_booking(self, args: Mapping[str, Any]) -> str:
        current = self.booking
        if current is None or not confirmed(current):
            return "Not moved: the lead has no booked call. Offer slots and book one instead."
        if self.calendar is None:
            return NO_CALENDAR
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
            return "Not moved: " + UNAVAILABLE
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
            return NO_CALENDAR
        try:
            await self.calendar.cancel(current.id)
        except CalendarUnavailable:
            return "Not cancelled: " + UNAVAILABLE
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


