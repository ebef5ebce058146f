"""`make chat`: talk to the agent in the terminal, as a WhatsApp contact would see it.

Same graph, engine and configuration as the app (`core.config.get_settings()`): the model when
`OPENAI_API_KEY` is set, the fallback policy otherwise; the business profile of `BUSINESS_FILE`;
Redis checkpoints when `REDIS_URL` is set, in memory otherwise. The calendar keeps its bookings
in memory (nothing is written to the team's calendar from a terminal) but offers slots by the
service's own rules: `TIMEZONE`, business hours and days, meeting length, buffer and notice, and
the lead's `LEAD_HOURS`; the chat says so when it starts. Commands: `/state` prints what the bot
knows and where the conversation is, `/reset` forgets it, `/release` gives the contact back to the
bot after a handoff, `/quit` leaves.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.config import Settings, get_settings
from core.logs import configure_logging
from domain.booking import Attendee, Booking, DayWindow, Slot
from domain.business import load_business
from domain.contact import ContactInfo, ContactMode
from domain.events import NullLeadSink
from domain.lead import LeadProfile
from graph.engine import ConversationEngine
from graph.state import CHECKPOINT_PREFIX, SERDE_ALLOWLIST
from integrations.calendar.base import SlotTaken
from integrations.calendar.slots import Interval, SlotRules, free_slots, in_window

__all__ = ["MemoryCalendar", "main"]

CONTACT = ContactInfo(channel="chat", contact="+14155550100", profile_name="Terminal")
THREAD = CONTACT.thread_id


class MemoryCalendar:
    """Bookings kept in memory. With `rules` (the service's, `SlotRules.from_settings`) slots
    follow them exactly as the real calendars do; without, free slots on the hour, 9:00 to 17:00
    UTC, Monday to Friday, searched two weeks ahead. Either way inside the lead's hours when
    given."""

    def __init__(self, *, minutes: int = 30, rules: SlotRules | None = None) -> None:
        self._minutes = minutes
        self._rules = rules
        self._bookings: dict[str, Booking] = {}

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
        if self._rules is not None:
            busy: list[Interval] = [(b.start, b.end) for b in self._bookings.values()]
            return free_slots(
                self._rules, busy=busy, after=after, now=after, limit=limit, within=within
            )
        start = after.astimezone(UTC) + timedelta(hours=2)
        start = start.replace(minute=0, second=0, microsecond=0)
        horizon = start + timedelta(days=14)
        # A call being moved (`moving`) stays taken: it is not offered, and without a buffer
        # around bookings here nothing next to it is blocked.
        taken = {booking.start for booking in self._bookings.values()}
        slots: list[Slot] = []
        while len(slots) < limit and start < horizon:
            start += timedelta(hours=1)
            slot = Slot(start=start, end=start + timedelta(minutes=self._minutes))
            if (
                start.weekday() < 5 and 9 <= start.hour < 17 and start not in taken
                and (within is None or in_window(slot, within))
            ):
                slots.append(slot)
        return slots

    async def book(
        self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
    ) -> Booking:
        if key in self._bookings:
            return self._bookings[key]
        if any(booking.start == slot.start for booking in self._bookings.values()):
            raise SlotTaken("that slot is booked")
        booking = Booking(id=uuid.uuid4().hex, start=slot.start, end=slot.end, calendar="local")
        self._bookings[key] = booking
        return booking

    async def cancel(self, booking_id: str) -> None:
        self._bookings = {k: b for k, b in self._bookings.items() if b.id != booking_id}

    async def reschedule(self, booking_id: str, slot: Slot) -> Booking:
        raise SlotTaken("rescheduling is not supported by the terminal calendar")

    async def erase_attendee(self, phone: str) -> set[str]:
        # Keys are "<thread>|<slot>" (agents.scheduling.tools.booking_key); the thread names
        # the number.
        self._bookings = {k: b for k, b in self._bookings.items() if phone not in k}
        return set()


def _checkpointer(settings: Settings) -> Any:
    serde = JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)
    if settings.REDIS_URL:
        from core.connections import open_redis
        from graph.checkpoint import AsyncRedisSaver

        return AsyncRedisSaver(
            open_redis(settings.REDIS_URL),
            ttl_seconds=settings.CONVERSATION_TTL_SECONDS,
            serde=serde,
            prefix=CHECKPOINT_PREFIX,
        )
    return InMemorySaver(serde=serde)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _prompt() -> None:
    sys.stdout.write("you> ")
    sys.stdout.flush()


def _words(item: Any) -> str:
    return f' ("{item.words}")' if item is not None else ""


def describe(state: dict[str, Any], mode: ContactMode) -> str:
    """What the bot knows and where the conversation is, as readable lines (`/state`)."""
    if not state:
        return "(a new conversation: nothing known yet)"
    profile: LeadProfile = state.get("profile") or LeadProfile()
    budget = profile.budget
    amount = ""
    if budget is not None and budget.amount is not None:
        amount = f"{budget.amount:,.0f} {budget.currency or ''}".strip()
    authority = profile.authority
    decides = "" if authority is None or authority.decides is None else (
        "decides" if authority.decides else "does not decide alone"
    )
    timeline = profile.timeline
    need = (profile.need.summary or "stated") if profile.need else "-"
    when = timeline.date if timeline and timeline.date else ("stated" if timeline else "-")
    lines = [
        f"stage: {state.get('stage') or 'greeting'}    who has it: {mode.value}    "
        f"language: {state.get('language') or '-'}",
        f"name: {profile.name or '-'}    company: {profile.company or '-'}    "
        f"email: {profile.email or '-'}",
        f"need: {need}{_words(profile.need)}",
        f"budget: {amount or ('stated' if budget else '-')}{_words(budget)}",
        f"authority: {decides or ('stated' if authority else '-')}{_words(authority)}",
        f"timeline: {when}{_words(timeline)}",
    ]
    if (judged := state.get("qualification")) is not None:
        lines.append(
            f"score: {judged.score}/100 ({judged.fit or 'still qualifying'}): "
            + "; ".join(judged.reasons)
        )
    if (booking := state.get("booking")) is not None:
        lines.append(f"call: {booking.start:%a %d %b %H:%M %Z} ({booking.status})")
    if offered := state.get("offered_slots"):
        lines.append("slots offered: " + ", ".join(f"{s.start:%a %H:%M %Z}" for s in offered))
    if handoff := state.get("handoff"):
        lines.append(f"last handoff: {handoff.reason}")
    if summary := state.get("summary"):
        lines.append(f"summary: {summary}")
    lines.append(f"messages kept: {len(state.get('messages') or ())}")
    return "\n".join(lines)


def _calendar_note(settings: Settings) -> str:
    where = (
        "Google Calendar" if settings.google_calendar_configured
        else "the calendar in Postgres"
    )
    days = ",".join(settings.BUSINESS_DAYS)
    return (
        f"calendar: in memory here (the service books in {where}); slots by the service's rules: "
        f"{settings.BUSINESS_HOURS_START:%H:%M}-{settings.BUSINESS_HOURS_END:%H:%M} "
        f"{settings.TIMEZONE} on {days}, {settings.MEETING_MINUTES} min, lead's hours "
        f"{settings.LEAD_HOURS}"
    )


async def main() -> None:
    settings = get_settings()
    configure_logging("WARNING")
    engine = ConversationEngine(
        checkpointer=_checkpointer(settings),
        settings=settings,
        calendar=MemoryCalendar(
            minutes=settings.MEETING_MINUTES, rules=SlotRules.from_settings(settings)
        ),
        sink=NullLeadSink(),
        business=load_business(settings.BUSINESS_FILE),
    )
    brain = "LLM " + settings.LLM_MODEL if settings.llm_configured else "fallback policy (no key)"
    _print(f"Chatting as {CONTACT.contact} ({brain}). /state, /reset, /release, /quit")
    _print(_calendar_note(settings))
    loop = asyncio.get_running_loop()
    # Without a database the chat is the owner of the contact's mode: a handoff makes it the
    # person's until /release, as Postgres would.
    mode = ContactMode.BOT
    while True:
        _prompt()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            return
        if text == "/state":
            _print(describe(await engine.state(THREAD), mode))
            continue
        if text == "/reset":
            await engine.reset(THREAD)
            mode = ContactMode.BOT
            _print("(conversation erased)")
            continue
        if text == "/release":
            if mode is not ContactMode.BOT:
                await engine.release_to_bot(THREAD, human_notes=None)
            mode = ContactMode.BOT
            _print("(back to the bot)")
            continue
        message = HumanMessage(text, id=f"chat-{uuid.uuid4().hex}")
        if mode is ContactMode.WAITING:
            _print("(a person has this conversation: the bot stays silent; /release)")
            continue
        result = await engine.run_turn(CONTACT, [message], mode=mode)
        if result.handoff is not None:
            booked = result.handoff.reason == "booked"
            mode = ContactMode.CALL_BOOKED if booked else ContactMode.WAITING
        if result.reply is None:
            _print("(a person has this conversation: the bot stays silent; /release)")
        else:
            _print(f"bot: {result.reply}")
            if result.options is not None:  # buttons or a list on WhatsApp; here, their titles
                _print("     " + "  ".join(f"[{c.title}]" for c in result.options.choices))
        tags = [result.stage] + (["fallback"] if result.fallback else [])
        if result.handoff:
            tags.append(f"handoff:{result.handoff.reason}")
        _print(f"     [{', '.join(tags)}]")
        await engine.summarize(THREAD, history=result.history)


if __name__ == "__main__":
    asyncio.run(main())
