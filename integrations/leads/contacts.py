"""Contacts in Postgres as the pipeline and the admin API use them: the transcript, who has the
conversation (the contact's mode: its one owner), human takeover and release, opt-out, erasure.

Every write of a contact starts with an upsert of its row (one statement with the transcript line
on the hot path, `RECORD_MESSAGE`), which locks it, so two workers handling one contact take turns.
A lead's message also sets the contact's `last_inbound_at` and moves its follow-up on, in the same
statement (`RECORD_INBOUND`; `integrations.leads.schedule`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from domain.contact import ContactMode
from integrations.leads.errors import ContactNotFound, InvalidValue
from integrations.leads.events import LeadEvents
from integrations.leads.mode import mode_of_row
from integrations.leads.records import (
    ContactRecord,
    checked_number,
    contact_from_row,
    inbound_details,
)
from integrations.leads.schedule import SCHEDULED
from integrations.leads.sql import (
    DELETE_CONTACT,
    DELETE_CONTACT_OUTBOX,
    ENTER_HUMAN_MODE,
    LEAVE_HUMAN_MODE,
    RECORD_INBOUND,
    RECORD_MESSAGE,
    RECORD_REPLY_PART,
    RESOLVE_CONTACT_HANDOFFS,
    SELECT_CONTACT,
    SELECT_CONTACT_EMAILS,
    SELECT_CONTACT_FOR_UPDATE,
    SELECT_CONTACT_LEADS_FOR_UPDATE,
    SELECT_CONTACT_MODE,
    SELECT_HUMAN_NOTES,
    SELECT_SENT_PARTS,
    SET_OPT_OUT,
    TOUCH_HUMAN,
    UPSERT_CONTACT,
)
from integrations.whatsapp.types import InboundMessage

__all__ = ["ContactStore", "ErasedContact"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasedContact:
    """What `ContactStore.delete_contact` erased."""

    existed: bool
    outbox: list[tuple[int, str]]
    """`(id, dedup_key)` of every erased outbox row: what names the emails a mailer may have
    kept (`integrations.outbox.stable_message_id`), sent or not."""


class ContactStore:
    """Contacts, their transcript and their mode (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        human_idle: timedelta,
        clock: Callable[[], datetime],
        events: LeadEvents | None = None,
        follow_up_after: timedelta | None = None,
    ) -> None:
        """`follow_up_after`: how long after a lead's message their follow-up is due (None:
        follow-ups are off)."""
        self._pool = pool
        self._idle = human_idle
        self._clock = clock
        self._events = events or LeadEvents((), clock=clock)
        self._follow_up_seconds = follow_up_after.total_seconds() if follow_up_after else None

    async def upsert_contact(
        self,
        channel: str,
        number: str,
        *,
        profile_name: str | None = None,
        language: str | None = None,
    ) -> ContactRecord:
        """Create the contact or refresh its profile name and language; returns its state."""
        number = checked_number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(UPSERT_CONTACT, channel, number, profile_name, language)
            row = await conn.fetchrow(SELECT_CONTACT, channel, number)
        return contact_from_row(row)

    async def get_contact(self, channel: str, number: str) -> ContactRecord | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_CONTACT, channel, checked_number(number))
        return None if row is None else contact_from_row(row)

    async def record_inbound(self, message: InboundMessage) -> bool:
        """Store an inbound message (also while a human has the conversation), the contact's
        last message time and its follow-up; False when it was already stored (same provider
        message id)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                RECORD_INBOUND, message.channel, checked_number(message.contact),
                message.profile_name, None, "in", "lead", message.kind, message.text,
                json.dumps([asdict(m) for m in message.media]),
                json.dumps(inbound_details(message)), message.message_id or None, [],
                message.timestamp, self._follow_up_seconds, message.address,
            )
        if row is not None and row["answered"]:
            SCHEDULED.labels(kind=row["answered"], outcome="answered", reason="").inc()
        return row is not None

    async def record_outbound(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        author: Literal["bot", "human"] = "bot",
        message_ids: Sequence[str] = (),
        kind: str = "text",
        at: datetime | None = None,
        details: Mapping[str, object] | None = None,
    ) -> bool:
        """Store a message sent to the contact (a reply may be split: `message_ids` are all its
        provider ids; the first one makes re-recording a no-op). A human message also starts
        or refreshes human mode. `details`: kept with the line (who of the team wrote it).
        False when it was already stored."""
        if author not in ("bot", "human"):
            raise InvalidValue(f"outbound author must be 'bot' or 'human', not {author!r}")
        number = checked_number(number)
        now = self._clock()
        human = author == "human"  # the line and human mode together, or neither
        async with self._pool.acquire() as conn, (
            conn.transaction() if human else contextlib.nullcontext()
        ):
            row = await conn.fetchrow(
                RECORD_MESSAGE, channel, number, None, None, "out", author, kind, text, "[]",
                json.dumps(dict(details or {})), message_ids[0] if message_ids else None,
                list(message_ids), at or now,
            )
            if human and row is not None:
                await conn.execute(ENTER_HUMAN_MODE, row["contact_id"], now)
        return row is not None

    async def record_reply_part(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        burst: str,
        part: int,
        message_ids: Sequence[str],
        at: datetime | None = None,
    ) -> bool:
        """Store one part of the bot's reply to a burst, as soon as the provider accepted it: the
        durable record that it went out (`sent_parts`), unique per burst and part. False when it
        was already stored."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                RECORD_REPLY_PART, channel, checked_number(number), None, None, text,
                message_ids[0] if message_ids else None, list(message_ids), at or self._clock(),
                burst, part,
            )
        return row is not None

    async def sent_parts(self, channel: str, burst: str) -> dict[int, list[str]]:
        """The parts of `burst`'s reply stored as sent, by index, with their provider ids: what a
        retry must not send again, even when Redis lost its own mark of them."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_SENT_PARTS, channel, burst)
        return {row["part"]: list(row["message_ids"]) for row in rows}

    # --- Human takeover and opt-out -------------------------------------------------------------

    async def mode(
        self, channel: str, number: str, *, now: datetime | None = None
    ) -> ContactMode:
        """Who has the conversation (`domain.contact.ContactMode`), in one read; `bot` for a
        contact never seen."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_CONTACT_MODE, channel, checked_number(number))
        if row is None:
            return ContactMode.BOT
        return mode_of_row(row, now=now or self._clock(), idle=self._idle)

    async def touch_human(self, channel: str, number: str) -> None:
        """A human wrote to the contact: (re)start human mode and its idle clock."""
        async with self._pool.acquire() as conn:
            row_id = await conn.fetchval(
                TOUCH_HUMAN, channel, checked_number(number), self._clock()
            )
        if row_id is None:
            raise ContactNotFound(f"no {channel} contact with that number")

    async def human_notes(
        self, channel: str, number: str, *, limit: int = 5, max_chars: int = 600
    ) -> str:
        """What the business wrote to the contact during the current human stretch (the last
        `limit` messages, oldest first, at most `max_chars`): the bot reads it on release so it
        does not ask again what the human settled. Empty when the human wrote nothing."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_HUMAN_NOTES, channel, checked_number(number), limit)
        notes = " / ".join(row["text"].strip() for row in reversed(rows))
        return notes if len(notes) <= max_chars else notes[: max_chars - 1] + "…"

    async def release(self, channel: str, number: str) -> bool:
        """Give the contact back to the bot and resolve its open handoffs; returns whether a
        human stretch was on (active or idle)."""
        number = checked_number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_CONTACT_FOR_UPDATE, channel, number)
            if row is None:
                raise ContactNotFound(f"no {channel} contact with that number")
            await conn.execute(RESOLVE_CONTACT_HANDOFFS, row["id"], self._clock())
            await conn.execute(LEAVE_HUMAN_MODE, row["id"])
        return row["human_since"] is not None

    async def set_opt_out(self, channel: str, number: str, opted_out: bool) -> bool:
        """Opt the contact out (or back in), creating it if needed; returns whether anything
        changed, so the confirmation is sent once."""
        number = checked_number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            contact = await conn.fetchrow(UPSERT_CONTACT, channel, number, None, None)
            changed = await conn.fetchval(SET_OPT_OUT, contact["id"], opted_out, self._clock())
        return changed is not None

    async def delete_contact(
        self, channel: str, number: str, *, emails: Collection[str] = ()
    ) -> ErasedContact:
        """Erase the contact and everything of it, in one transaction: leads, handoffs,
        transcript, undelivered CRM events, and every outbox row that names it (its own, and
        those written to one of its email addresses, or to `emails`, without a contact id: the
        local calendar's invitations); then write `contact.erased` for the CRM. The
        conversation state in Redis, the calendar and the mail files are the caller's
        (`pipeline.erasure`)."""
        number = checked_number(number)
        async with self._pool.acquire() as conn, conn.transaction():
            contact = await conn.fetchrow(SELECT_CONTACT_LEADS_FOR_UPDATE, channel, number)
            rows = await conn.fetch(SELECT_CONTACT_EMAILS, channel, number)
            known = [row["email"] for row in rows]
            addresses = sorted({e.strip().lower() for e in [*known, *emails] if e.strip()})
            outbox = await conn.fetch(
                DELETE_CONTACT_OUTBOX, contact["id"] if contact else None, addresses
            )
            if contact is not None:
                await conn.execute(DELETE_CONTACT, channel, number)
                await self._events.erased(conn, contact["id"], contact["lead_ids"])
        return ErasedContact(
            existed=contact is not None,
            outbox=[(row["id"], row["dedup_key"]) for row in outbox],
        )
