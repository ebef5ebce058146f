"""The inbox, one conversation, what the team does to it, and the live event stream.

Routes are thin: read through `integrations.leads.inbox`, act through `pipeline.actions` (the
same functions as the admin API), answer with a page or a redirect back to it (post, redirect,
get: a reload never repeats an action). Pages update themselves from `/console/events`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from console.deps import AdminDep, ConsoleDep, FormDep, SessionDep
from console.pages import render
from console.state import Console
from console.views import MODE_LABELS, STATUS_LABELS, reply_window
from core.logs import mask_phone
from core.text import without_lone_surrogates
from domain.contact import ContactMode
from integrations.calendar.base import CalendarError
from integrations.leads import ContactNotFound, LeadNotFound
from integrations.leads.inbox import ConversationDetail
from integrations.leads.records import Outcome
from integrations.media import MediaError
from integrations.whatsapp.errors import ChannelError
from integrations.whatsapp.types import MediaRef
from pipeline import actions

__all__ = ["ERRORS", "NOTICES", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)

ContactId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ChannelName = Literal["twilio", "meta"]
CHANNELS: tuple[str, ...] = get_args(ChannelName)
KEEPALIVE_SECONDS = 15.0
"""An SSE comment this often keeps proxies from closing an idle stream."""
DISCONNECT_CHECK_SECONDS = 1.0

# Fixed texts for the notice after an action (the query names one; nothing is echoed).
NOTICES = {
    "taken": "You have the conversation: the bot stays silent.",
    "replied": "Sent.",
    "released": "The conversation is back with the bot.",
    "won": "Marked won.",
    "lost": "Marked lost.",
    "password": "Your password is set.",
    "erased": "The contact is erased.",
}
ERRORS = {
    "window": "Not sent: the 24-hour window is closed (see above).",
    "empty": "Not sent: write a message first.",
    "refused": "Not sent: WhatsApp refused the message. Try again, or check the logs.",
    "no_lead": "This conversation has no open lead.",
    "calendar": "Not erased: the calendar could not be reached to remove the lead's call. "
    "Try again in a moment.",
}


# --- Inbox -------------------------------------------------------------------------------------


def _filters(
    mode: str | None, status_: str | None, channel: str | None, q: str | None
) -> dict[str, Any]:
    """The inbox's filters from the query, unknown values dropped (a stale link still works)."""
    return {
        "mode": ContactMode(mode) if mode in MODE_LABELS else None,
        "status": status_ if status_ in STATUS_LABELS else None,
        "channel": channel if channel in CHANNELS else None,
        "search": (q or "").strip()[:200] or None,
    }


Filter = Annotated[str | None, Query(max_length=200)]


@router.get("")
async def inbox(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    mode: Filter = None,
    status_: Annotated[str | None, Query(alias="status", max_length=40)] = None,
    channel: Filter = None,
    q: Filter = None,
    done: Filter = None,
) -> HTMLResponse:
    """Conversations, newest first, filtered; they update live."""
    filters = _filters(mode, status_, channel, q)
    rows = await console.inbox.conversations(**filters)
    return render(
        request, "inbox.html", session=session, conversations=rows, filters=filters,
        modes=MODE_LABELS, statuses=STATUS_LABELS, channels=CHANNELS,
        query=request.url.query, notice=NOTICES.get(done or ""), now=console.clock(),
    )


@router.get("/conversations")
async def conversations_fragment(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    mode: Filter = None,
    status_: Annotated[str | None, Query(alias="status", max_length=40)] = None,
    channel: Filter = None,
    q: Filter = None,
) -> HTMLResponse:
    """The inbox's list alone, for the live update."""
    rows = await console.inbox.conversations(**_filters(mode, status_, channel, q))
    return render(
        request, "_conversations.html", session=session, conversations=rows,
        now=console.clock(),
    )


@router.get("/events")
async def events(request: Request, console: ConsoleDep, session: SessionDep) -> Response:
    """Server-sent events: `change` with `{"contact": id, "kind": ...}` for every change."""

    # Subscribed before the response starts: once the browser sees the stream open, no change
    # is missed.
    queue = console.feed.subscribe()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            idle = 0.0
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), DISCONNECT_CHECK_SECONDS)
                except TimeoutError:
                    # (Starlette also ends the stream on a disconnect under uvicorn; servers of
                    # ASGI spec 2.4 tell only when asked.)
                    if await request.is_disconnected():
                        return
                    idle += DISCONNECT_CHECK_SECONDS
                    if idle >= KEEPALIVE_SECONDS:
                        idle = 0.0
                        yield ": keep-alive\n\n"
                    continue
                idle = 0.0
                yield f"event: change\ndata: {json.dumps(event)}\n\n"
        finally:
            console.feed.unsubscribe(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(console.feed.unsubscribe, queue),
    )


# --- One conversation --------------------------------------------------------------------------


async def _detail(console: Console, contact_id: int) -> ConversationDetail:
    detail = await console.inbox.conversation(contact_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such conversation (it may be erased).")
    return detail


def _context(console: Console, detail: ConversationDetail) -> dict[str, Any]:
    now = console.clock()
    lead = detail.lead
    return {
        "name": (lead.profile.name if lead else None) or detail.contact.profile_name or "(no name)",
        "c": detail,
        "contact": detail.contact,
        "lead": detail.lead,
        "window": reply_window(
            detail.last_inbound_at, now=now, opted_out=detail.mode is ContactMode.OPTED_OUT
        ),
        "can_take_over": detail.mode in (ContactMode.BOT, ContactMode.RETURNING)
        or detail.handoff_waiting,
        "can_release": detail.contact.human_since is not None,
        "lead_open": detail.lead is not None and detail.lead.status not in ("won", "lost"),
        "now": now,
    }


@router.get("/c/{contact_id}")
async def conversation(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    contact_id: ContactId,
    done: Filter = None,
    error: Filter = None,
) -> HTMLResponse:
    """The whole conversation, the lead, and what the team can do."""
    detail = await _detail(console, contact_id)
    return render(
        request, "conversation.html", session=session, notice=NOTICES.get(done or ""),
        error=ERRORS.get(error or ""), **_context(console, detail),
    )


@router.get("/c/{contact_id}/live")
async def conversation_fragment(
    request: Request, console: ConsoleDep, session: SessionDep, contact_id: ContactId
) -> HTMLResponse:
    """The parts of the conversation page that change, for the live update."""
    detail = await _detail(console, contact_id)
    return render(request, "_conversation_live.html", session=session, **_context(console, detail))


def _back(contact_id: int, **query: str) -> RedirectResponse:
    suffix = "&".join(f"{key}={value}" for key, value in query.items())
    return RedirectResponse(
        f"/console/c/{contact_id}" + (f"?{suffix}" if suffix else ""),
        status_code=status.HTTP_303_SEE_OTHER,
    )


@router.post("/c/{contact_id}/takeover")
async def take_over(
    console: ConsoleDep, session: SessionDep, form: FormDep, contact_id: ContactId
) -> Response:
    """Take the conversation: the bot goes silent."""
    contact = (await _detail(console, contact_id)).contact
    await actions.take_over(console.pipeline, contact.channel, contact.number)
    log.info("console: user %d took over %s", session.user.id, mask_phone(contact.number))
    return _back(contact_id, done="taken")


@router.post("/c/{contact_id}/reply")
async def reply(
    console: ConsoleDep, session: SessionDep, form: FormDep, contact_id: ContactId
) -> Response:
    """Write to the lead as the business, through the contact's channel."""
    detail = await _detail(console, contact_id)
    # As the admin API takes it: no NUL (Postgres refuses it), no lone surrogate.
    text = without_lone_surrogates(form.get("text", "")).replace("\x00", "").strip()
    if not text or len(text) > 4096:
        return _back(contact_id, error="empty")
    window = reply_window(
        detail.last_inbound_at, now=console.clock(),
        opted_out=detail.mode is ContactMode.OPTED_OUT,
    )
    if not window.open:
        return _back(contact_id, error="window")
    contact = detail.contact
    try:
        await actions.reply_as_business(
            console.pipeline, contact.channel, contact.number, text, sent_by=session.user.name
        )
    except ContactNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such conversation.") from None
    except ChannelError as exc:
        log.warning("console reply to %s failed: %s", mask_phone(contact.number), exc)
        return _back(contact_id, error="refused")
    return _back(contact_id, done="replied")


@router.post("/c/{contact_id}/release")
async def release(
    console: ConsoleDep, session: SessionDep, form: FormDep, contact_id: ContactId
) -> Response:
    """Give the conversation back to the bot."""
    contact = (await _detail(console, contact_id)).contact
    try:
        await actions.release_to_bot(console.pipeline, contact.channel, contact.number)
    except ContactNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such conversation.") from None
    return _back(contact_id, done="released")


@router.post("/c/{contact_id}/outcome")
async def outcome(
    console: ConsoleDep, session: SessionDep, form: FormDep, contact_id: ContactId
) -> Response:
    """Close the conversation's lead as won or lost."""
    detail = await _detail(console, contact_id)
    result: Outcome
    if form.get("outcome") == "won":
        result = "won"
    elif form.get("outcome") == "lost":
        result = "lost"
    else:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "The outcome is won or lost.")
    if detail.lead is None:
        return _back(contact_id, error="no_lead")
    try:
        await actions.close_lead(console.pipeline, detail.lead.id, result)
    except LeadNotFound:
        return _back(contact_id, error="no_lead")
    log.info("console: user %d marked lead %d %s", session.user.id, detail.lead.id, result)
    return _back(contact_id, done=result)


@router.get("/c/{contact_id}/erase")
async def erase_form(
    request: Request, console: ConsoleDep, session: AdminDep, contact_id: ContactId
) -> HTMLResponse:
    """Ask before erasing (admins only)."""
    detail = await _detail(console, contact_id)
    return render(request, "erase.html", session=session, c=detail, contact=detail.contact)


@router.post("/c/{contact_id}/erase")
async def erase(
    console: ConsoleDep, session: AdminDep, form: FormDep, contact_id: ContactId
) -> Response:
    """Erase the contact and everything of it (admins only, after the confirmation page)."""
    contact = (await _detail(console, contact_id)).contact
    if form.get("confirm") != "erase":
        return RedirectResponse(
            f"/console/c/{contact_id}/erase", status_code=status.HTTP_303_SEE_OTHER
        )
    try:
        await actions.erase_contact(console.pipeline, contact.channel, contact.number)
    except CalendarError as exc:
        log.warning("console: erasing %s stopped at the calendar: %s",
                    mask_phone(contact.number), exc)
        return _back(contact_id, error="calendar")
    log.info("console: user %d erased %s", session.user.id, mask_phone(contact.number))
    return RedirectResponse("/console?done=erased", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/c/{contact_id}/media/{entry_id}/{index}")
async def media(
    console: ConsoleDep,
    session: SessionDep,
    contact_id: ContactId,
    entry_id: ContactId,
    index: Annotated[int, Path(ge=0, le=20)],
) -> Response:
    """A file the lead sent, fetched from its channel, as a download (never shown inline on
    this origin: a file could be HTML)."""
    channel, items = await console.inbox.media(contact_id, entry_id)
    if index >= len(items):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such file.")
    item = items[index]
    ref = MediaRef(
        id=item.get("id"), url=item.get("url"), mime_type=item.get("mime_type"),
        filename=item.get("filename"), voice=bool(item.get("voice")),
    )
    try:
        file = await console.pipeline.media.download(channel, ref)
    except MediaError as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY, f"The file is not available: {exc}"
        ) from exc
    name = file.filename or ref.filename or f"file-{entry_id}-{index}"
    plain = "".join(ch for ch in name if 32 <= ord(ch) < 127 and ch not in '"\\') or "file"
    return Response(
        file.data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename=\"{plain}\"; "
            f"filename*=UTF-8''{quote(name, safe='')}"
        },
    )

