"""`make chat`: talk to the agent in the terminal, as a WhatsApp contact would see it.

Same graph, engine and configuration as the app (`core.config.get_settings()`): the model when
`OPENAI_API_KEY` is set, the fallback policy otherwise; Redis checkpoints when `REDIS_URL` is set,
in memory otherwise. The calendar is a small in-memory one (free slots every business hour), so
bookings work with nothing configured. Commands: `/state` prints the conversation state, `/reset`
forgets it, `/release` gives the contact back to the bot after a handoff, `/quit` leaves.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pprint import pformat
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.config import Settings, get_settings
from core.logs import configure_logging
from domain.booking import Attendee, Booking, DayWindow, Slot
from domain.contact import ContactInfo, ContactMode
from domain.events import NullLeadSink
from graph.engine import ConversationEngine
from graph.state import CHECKPOINT_PREFIX, SERDE_ALLOWLIST
from integrations.calendar.base import SlotTaken
from integrations.calendar.slots import in_window

__all__ = ["MemoryCalendar", "main"]

CONTACT = ContactInfo(channel="chat", contact="+14155550100", profile_name="Terminal")
THREAD = CONTACT.thread_id


class MemoryCalendar:
    """Free slots on the hour, 9:00 to 17:00 UTC, Monday to Friday, searched two weeks ahead and
    inside the lead's hours when given; bookings kept in memory."""

    def __init__(self, *, minutes: int = 30) -> None:
        self._minutes = minutes
        self._bookings: dict[str, Booking] = {}

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
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


async def main() -> None:
    settings = get_settings()
    configure_logging("WARNING")
    engine = ConversationEngine(
        checkpointer=_checkpointer(settings),
        settings=settings,
        calendar=MemoryCalendar(minutes=settings.MEETING_MINUTES),
        sink=NullLeadSink(),
    )
    brain = "LLM " + settings.LLM_MODEL if settings.llm_configured else "fallback policy (no key)"
    _print(f"Chatting as {CONTACT.contact} ({brain}). /state, /reset, /release, /quit")
    loop = asyncio.get_running_loop()
    # Without a database the chat is the owner of the contact's mode: a handoff makes it the
    # person's until /release, as Postgres would.
    mode = ContactMode.BOT
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        if text == "/quit":
            return
        if text == "/state":
            _print(pformat(await engine.state(THREAD), width=100))
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
        tags = [result.stage] + (["fallback"] if result.fallback else [])
        if result.handoff:
            tags.append(f"handoff:{result.handoff.reason}")
        _print(f"     [{', '.join(tags)}]")
        await engine.summarize(THREAD)


if __name__ == "__main__":
    asyncio.run(main())
