"""Test doubles for the graph tests: an in-memory calendar, a recording lead sink, and builders
of the JSON the scripted LLM answers with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.booking import Attendee, Booking, DayWindow, Slot
from domain.events import HandoffEvent, LeadUpdate
from integrations.calendar.base import SlotTaken
from integrations.calendar.slots import in_window

__all__ = [
    "NOW", "FakeCalendar", "RecordingSink", "agent_json", "is_summary_request", "lead",
    "lead_lines", "make_engine", "non_system", "saver", "system_text", "tool_call",
]

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
"""A Monday morning: the tests' clock."""


class FakeCalendar:
    """Free slots every hour from 10:00 UTC on the day after `after`, for a week, inside the
    lead's hours when given; bookings by key."""

    def __init__(self) -> None:
        self.bookings: dict[str, Booking] = {}
        self.taken: set[datetime] = set()
        self.free_calls: list[datetime] = []
        self.windows: list[DayWindow | None] = []

    async def free_slots(
        self,
        *,
        after: datetime,
        limit: int = 3,
        within: DayWindow | None = None,
        moving: Booking | None = None,
    ) -> list[Slot]:
        self.free_calls.append(after)
        self.windows.append(within)
        day = (after.astimezone(UTC) + timedelta(days=1)).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        slots: list[Slot] = []
        start = day
        while len(slots) < limit and start < day + timedelta(days=7):
            slot = Slot(start=start, end=start + timedelta(minutes=30))
            if start not in self.taken and (within is None or in_window(slot, within)):
                slots.append(slot)
            start += timedelta(hours=1)
        return slots

    async def book(
        self, slot: Slot, *, attendee: Attendee, key: str, title: str, description: str
    ) -> Booking:
        if key in self.bookings:
            return self.bookings[key]
        if slot.start in self.taken:
            raise SlotTaken("taken")
        self.taken.add(slot.start)
        booking = Booking(
            id=f"evt{len(self.bookings) + 1}", start=slot.start, end=slot.end, calendar="local",
            link="https://meet.example/abc",
        )
        self.bookings[key] = booking
        return booking

    async def cancel(self, booking_id: str) -> None:
        return None

    async def reschedule(self, booking_id: str, slot: Slot) -> Booking:
        raise NotImplementedError

    async def erase_attendee(self, phone: str) -> set[str]:
        self.bookings = {k: b for k, b in self.bookings.items() if phone not in k}
        return set()


class RecordingSink:
    """Keeps every update and handoff; `fail` makes the next call raise."""

    def __init__(self) -> None:
        self.updates: list[LeadUpdate] = []
        self.handoffs: list[HandoffEvent] = []
        self.fail = False

    async def lead_updated(self, update: LeadUpdate) -> None:
        if self.fail:
            raise RuntimeError("sink down")
        self.updates.append(update)

    async def handed_off(self, event: HandoffEvent) -> None:
        if self.fail:
            raise RuntimeError("sink down")
        self.handoffs.append(event)


_LEAD_KEYS = (
    "name", "company", "email", "need", "need_summary", "budget", "budget_amount",
    "budget_currency", "authority", "authority_role", "authority_decides", "timeline",
    "timeline_date", "timezone", "disqualified_by", "disqualified_words",
)


def lead(**fields: Any) -> dict[str, Any]:
    """Every key of LeadFields and ContactFields (null unless given): the strict schema requires
    them all, and the extra ones are ignored."""
    return {key: fields.get(key) for key in _LEAD_KEYS} | fields


def agent_json(
    reply: str,
    *,
    confidence: float = 0.9,
    resolved: bool = True,
    wants_human: bool = False,
    answered: bool = True,
    language: str | None = "en",
    **fields: Any,
) -> dict[str, Any]:
    """A complete structured answer of an agent."""
    return {
        "reply": reply,
        "language": language,
        "confidence": confidence,
        "resolved": resolved,
        "wants_human": wants_human,
        "answered": answered,
        "lead": lead(**fields),
    }


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    """One scripted tool call."""
    return {"name": name, "arguments": arguments}


def is_summary_request(body: dict[str, Any]) -> bool:
    """The summarization call is the one without a structured output format."""
    return "response_format" not in body


def non_system(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation messages of a recorded request (system messages left out)."""
    return [m for m in body["messages"] if m["role"] != "system"]


def saver() -> Any:
    """An in-memory checkpointer whose serializer loads only registered types, so a state type
    missing from `SERDE_ALLOWLIST` fails the tests instead of warning in production."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from graph.state import SERDE_ALLOWLIST

    return InMemorySaver(serde=JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST))


def make_engine(
    llm: Any,
    make_settings: Any,
    *,
    checkpointer: Any,
    sink: Any = None,
    calendar: Any = None,
    with_llm: bool = True,
    **overrides: Any,
) -> Any:
    """A `ConversationEngine` on the scripted LLM (real langchain-openai client), no retries."""
    from domain.events import NullLeadSink
    from graph.engine import ConversationEngine

    values: dict[str, Any] = {"LLM_MAX_RETRIES": 0, "LLM_TIMEOUT_SECONDS": 5.0, **overrides}
    if with_llm:
        values |= {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.base_url}
    settings = make_settings(**values)
    return ConversationEngine(
        checkpointer=checkpointer,
        settings=settings,
        calendar=calendar,
        sink=sink if sink is not None else NullLeadSink(),
        clock=lambda: NOW,
    )


def system_text(request: dict[str, Any]) -> str:
    """Every system message of a chat request, joined: the stable part and the turn's context."""
    return "\n".join(
        str(m["content"]) for m in request["messages"] if m["role"] == "system"
    )


def lead_lines(request: dict[str, Any]) -> list[str]:
    """What the lead wrote, as a chat request carries it: the user messages, without the note of
    the lead's WhatsApp profile name."""
    return [
        str(m["content"]) for m in non_system(request)
        if m["role"] == "user" and not str(m["content"]).startswith("(My WhatsApp profile name")
    ]
