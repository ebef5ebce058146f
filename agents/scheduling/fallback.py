"""The fallback policy's scheduling turn: offer numbered slots, ask to confirm a pick, book (or
move the booked call) on yes, or at once on a tap of the slot in the list (the tap is the
confirmation: it names exactly that slot). When no slot fits the lead's hours, it asks them for
a time that suits them (never a night slot). A booking the model's tools already made or changed
this turn is confirmed, never made twice. A request to cancel goes to a person (`wants_human`),
and so does a lead who picked none of the slots offered `MAX_OFFERS` times in a row: a third list
would only repeat the first two. A new offer after one the lead did not pick from is a non-answer
(`resolved=False`)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from agents.draft import Draft, make_draft
from agents.fallback.policy import (
    FALLBACK_TURNS,
    MAX_OFFERS,
    asking,
    booked_reply,
    confirm_reply,
    offer_reply,
    read_asked,
    scheduling_action,
)
from agents.inputs import AgentInput
from agents.intents import booking_change_request
from agents.scheduling.tools import UNAVAILABLE, CalendarTools, tapped_option
from domain.booking import confirmed
from domain.language import detect_language
from domain.texts import supported, text

__all__ = ["SLOTS", "fallback_turn"]

log = logging.getLogger(__name__)

SLOTS = "slots"
"""The `asked` item of a reply that offers slots (`asking(SLOTS, n)` after n offers in a row)."""


async def fallback_turn(
    view: AgentInput, tools: CalendarTools, *, cause: Literal["no_model", "llm_error"]
) -> Draft:
    """The policy's scheduling turn (see the module docstring)."""
    FALLBACK_TURNS.labels(agent="scheduling", cause=cause).inc()
    log.info("scheduling agent: fallback policy (%s)", cause)
    texts = view.texts
    lang = supported(detect_language(" ".join(texts)) or tools.language)
    tools.language = lang
    proposed: int | None = None
    already = view.booking
    managing = confirmed(already)
    wants_human = stuck = False
    item, times = read_asked(view.asked)
    offers = times if item == SLOTS else 0  # lists offered in a row (a pick to confirm keeps it)
    asked: str | None = None
    resolved = True
    if tools.booking is not already:  # the model's tools changed it before the model failed
        if tools.booking is not None and confirmed(tools.booking):
            reply = booked_reply(tools.booking, tools.zone, lang, moved=managing)
        else:
            reply, wants_human = "", True  # cancelled: a person confirms it to the lead
    elif managing and booking_change_request(texts) == "cancel":
        reply, wants_human = "", True  # the hand-over message tells the lead a person follows up
        tools.changing = False
    else:
        tapped = tapped_option(view.taps, tools.seen)
        action, option = ("book", tapped) if tapped is not None else scheduling_action(
            texts, offered=len(tools.seen), proposed=view.proposed_slot, language=lang
        )
        reply = ""
        if action == "book" and option is not None:
            act = tools.reschedule_booking if managing else tools.book_slot
            outcome = await act({"option": option})
            if tools.booking is not already and tools.booking is not None:
                reply = booked_reply(tools.booking, tools.zone, lang, moved=managing)
            else:
                log.info("scheduling fallback: booking failed: %s", outcome)
                reply = text("slots.taken", lang) + " "
                action = "offer"
        elif action == "confirm" and option is not None:
            proposed = option
            asked = view.asked if item == SLOTS else None
            reply = confirm_reply(tools.seen[option - 1], tools.zone, lang, move=managing)
        if action == "offer" and offers >= MAX_OFFERS:
            reply, stuck, resolved = "", True, False  # a person finds a time with them
        elif action == "offer":
            # Again after an offer the lead picked nothing from: the times after those.
            later = view.offered_slots[-1].end if offers and view.offered_slots else None
            reply += await _offer(tools, lang, after=later)
            asked, resolved = asking(SLOTS, offers + 1), offers == 0
    return make_draft(
        view, agent="scheduling", reply=reply,
        profile=tools.profile.model_copy(update={"language": lang}), language=lang,
        resolved=resolved, wants_human=wants_human, stuck=stuck, fallback=True,
        llm_calls=tools.calls,
        asked=asked, offered_slots=tools.offered, offered_now=tools.offered_now,
        proposed_slot=proposed, booking=tools.booking,
        changing_booking=tools.changing,
    )


async def _offer(tools: CalendarTools, language: str, *, after: datetime | None) -> str:
    if tools.calendar is None:
        return text("slots.no_calendar", language)
    outcome = await tools.find_free_slots({"after": after.isoformat() if after else None})
    if outcome == UNAVAILABLE:
        return text("slots.none", language)
    if not tools.offered:
        start, end = tools.hours
        return text("slots.ask_time", language, start=f"{start:%H:%M}", end=f"{end:%H:%M}")
    return offer_reply(tools.offered, tools.zone, language)
