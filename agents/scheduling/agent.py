"""The scheduling agent's turn: its prompts, the model-and-tools loop, and its draft.

It is the one agent that may make more than one model call in a turn: its calendar tools are
bound next to its structured answer (`agents.model_call.structured_or_tool_calls`), so a turn is
"call, tool, call" at most a few times (`MAX_CALLS`). Before a booking it has `find_free_slots`
and `book_slot`; with a confirmed booking, `find_free_slots`, `reschedule_booking`,
`cancel_booking` and `keep_booking`. A tap on a slot of the list offered earlier (the lead's
message carries its payload, `AgentInput.taps`) books or moves to exactly that slot in code,
before any model call; the model is asked for words only if the calendar refused it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import Field

from agents.draft import Draft, make_draft
from agents.extraction import LeadMessages, invented_fact, merge_profile
from agents.fallback.policy import booked_reply, format_slots
from agents.inputs import AgentInput
from agents.intents import hint_context
from agents.model_call import LLM_ERRORS, structured_or_tool_calls
from agents.output import AgentReply, ContactFields
from agents.prompts import context_block, prompt_messages
from agents.scheduling.fallback import fallback_turn
from agents.scheduling.tools import (
    CHANGE_TOOLS,
    TOOLS,
    CalendarTools,
    lead_zone,
    tapped_option,
)
from domain.booking import confirmed

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from integrations.calendar.base import Calendar

__all__ = ["CHANGE_PROMPT", "MAX_CALLS", "PROMPT", "SchedulingReply", "run"]

log = logging.getLogger(__name__)

MAX_CALLS = 4
"""Model calls in one scheduling turn at most (tool rounds included)."""

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


class SchedulingReply(AgentReply[ContactFields]):
    """The scheduling agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


def _with_zone_and_link(reply: str, tools: CalendarTools, *, changed: bool) -> str:
    """The reply with the zone named when it offers times found this turn, and with the link
    when it confirms a booking made or moved this turn (models drop both now and then)."""
    if tools.offered_now and tools.zone.key not in reply:
        reply = f"{reply}\n({tools.zone.key})"
    link = tools.booking.link if tools.booking is not None and confirmed(tools.booking) else None
    if changed and link and link not in reply:
        reply = f"{reply}\n{link}"
    return reply


async def run(
    view: AgentInput,
    *,
    model: BaseChatModel | None,
    settings: Settings,
    calendar: Calendar | None,
) -> Draft:
    """One scheduling turn: model and tools, or the fallback policy. With a confirmed booking the
    turn is about changing it (the graph routes only such turns here then)."""
    booking = view.booking
    managing = confirmed(booking)
    contact = view.contact.contact
    tools = CalendarTools(
        calendar=calendar,
        thread_id=view.contact.thread_id,
        profile=view.profile,
        contact=contact,
        zone=lead_zone(view.profile.timezone, contact, settings.TIMEZONE),
        hours=settings.lead_hours,
        language=view.language,
        now=view.now,
        seen=list(view.offered_slots),
        offered=list(view.offered_slots),
        booking=booking,
        changing=managing,
    )
    if model is None:
        return await fallback_turn(view, tools, cause="no_model")
    extra = [f"The lead's time zone: {tools.zone.key}"]
    if (tapped := tapped_option(view.taps, tools.seen)) is not None:
        # A tap names its slot and confirms it: code books it; words only if it failed.
        outcome = await (tools.reschedule_booking if managing else tools.book_slot)(
            {"option": tapped}
        )
        if tools.booking is not booking and confirmed(tools.booking):
            return _booked_by_tap(view, tools, moved=managing)
        extra.append(f"The lead tapped slot {tapped} of the list offered earlier: {outcome}")
    if managing and booking is not None:
        extra.append(f"The lead's booked call: {tools.when(booking)}")
    if tools.seen:
        offered = format_slots(tools.seen, tools.zone, view.language)
        extra.append(f"Slots offered earlier:\n{offered}")
    extra.extend(hint_context(view))
    messages: list[BaseMessage] = prompt_messages(
        CHANGE_PROMPT if managing else PROMPT, view, context=context_block(view, extra=extra),
        history_limit=2 * settings.HISTORY_KEEP,
    )
    actions: dict[str, Callable[[Mapping[str, Any]], Awaitable[str]]] = (
        {
            "find_free_slots": tools.find_free_slots,
            "reschedule_booking": tools.reschedule_booking,
            "cancel_booking": tools.cancel_booking,
            "keep_booking": tools.keep_booking,
        }
        if managing
        else {"find_free_slots": tools.find_free_slots, "book_slot": tools.book_slot}
    )
    try:
        while True:
            if tools.calls >= MAX_CALLS:
                raise ValueError(f"no answer after {MAX_CALLS} calls")
            tools.calls += 1
            result = await structured_or_tool_calls(
                model, SchedulingReply, messages, tools=CHANGE_TOOLS if managing else TOOLS
            )
            if isinstance(result, AIMessage):
                messages.append(result)
                for call in result.tool_calls:
                    action = actions.get(call["name"])
                    output = (
                        await action(call["args"]) if action else f"Unknown tool {call['name']}."
                    )
                    messages.append(ToolMessage(output, tool_call_id=call["id"] or call["name"]))
                continue
            answer = result
            break
    except LLM_ERRORS as exc:
        log.warning("scheduling agent: LLM failed (%s: %s); fallback policy for this turn",
                    type(exc).__name__, exc)
        return await fallback_turn(view, tools, cause="llm_error")
    said = LeadMessages.of(view.burst, view.earlier)
    merged = merge_profile(view.profile, answer.lead, messages=said, today=view.now.date())
    language = answer.language or view.language
    if language:
        merged = merged.model_copy(update={"language": language})
    return make_draft(
        view, agent="scheduling",
        reply=_with_zone_and_link(answer.reply, tools, changed=tools.booking is not booking),
        profile=merged, language=language, confidence=answer.confidence,
        resolved=answer.resolved, wants_human=answer.wants_human, answered=answer.answered,
        fallback=False, invented=invented_fact(answer.reply, answer.lead, messages=said),
        llm_calls=tools.calls, asked=None, offered_slots=tools.offered,
        offered_now=tools.offered_now, booking=tools.booking, changing_booking=tools.changing,
    )


def _booked_by_tap(view: AgentInput, tools: CalendarTools, *, moved: bool) -> Draft:
    """The draft of a turn whose slot tap booked (or moved) the call: the catalogue's
    confirmation, no model call (nothing is left for it to decide)."""
    assert tools.booking is not None
    return make_draft(
        view, agent="scheduling",
        reply=booked_reply(tools.booking, tools.zone, view.language, moved=moved),
        profile=view.profile, language=view.language, resolved=True, fallback=False,
        llm_calls=0, asked=None, offered_slots=tools.offered, booking=tools.booking,
        changing_booking=tools.changing,
    )
