"""The console's view of the conversations: the inbox (one row per contact, newest message first)
and one conversation with everything the manager acts on.

Who has a conversation is decided by `integrations.leads.mode.contact_mode`, from the same
inputs the pipeline reads (`sql.MODE_INPUTS`): the mode has one owner and one rule. Filtering by
mode therefore happens here, after the rule, over the newest conversations SQL could narrow down
by channel, status and text; a cheap necessary condition in SQL (`MODE_HINT`) keeps that set
small.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from domain.contact import ContactMode
from domain.events import HandoffReason, HandoffRecord
from integrations.leads.mode import mode_of_row
from integrations.leads.records import (
    Author,
    ContactRecord,
    LeadRecord,
    LeadStatus,
    TranscriptEntry,
    contact_from_row,
    lead_from_row,
)
from integrations.leads.sql import (
    CONTACT_COLUMNS,
    LEAD_COLUMNS,
    MODE_INPUTS,
    SELECT_HANDOFFS,
)

__all__ = [
    "Conversation",
    "ConversationDetail",
    "InboxQueries",
    "LIST_CONVERSATIONS",
    "MODE_HINT",
    "SELECT_CONTACT_BY_ID",
    "SELECT_CONTACT_LEAD",
    "SELECT_CONVERSATION",
    "SELECT_LAST_INBOUND",
    "SELECT_MEDIA",
]

# A necessary condition of each mode, on the contact's own columns ($4 of LIST_CONVERSATIONS):
# the rule itself (`contact_mode`) decides afterwards.
MODE_HINT = """
($4::text IS NULL
 OR ($4 = 'opted_out' AND c.opted_out)
 OR ($4 = 'bot' AND NOT c.opted_out)
 OR ($4 IN ('waiting', 'call_booked', 'human', 'returning')
     AND NOT c.opted_out AND c.human_since IS NOT NULL))"""

# Contacts with at least one message, newest message first; $1 channel, $2 lead status, $3 an
# ILIKE pattern over the names, the number and the messages, $4 the mode (MODE_HINT), $5 limit.
LIST_CONVERSATIONS = f"""
SELECT c.id AS contact_id, c.channel, c.number, c.profile_name,
       {MODE_INPUTS},
       last.at AS last_at, last.text AS last_text, last.kind AS last_kind,
       last.author AS last_author, last.media::text AS last_media,
       lead.id AS lead_id, lead.status, lead.name, lead.score
FROM contacts AS c
CROSS JOIN LATERAL (
    SELECT t.at, t.text, t.kind, t.author, t.media FROM transcript AS t
    WHERE t.contact_id = c.id ORDER BY t.at DESC, t.id DESC LIMIT 1
) AS last
LEFT JOIN LATERAL (
    SELECT l.id, l.status, l.name, l.score FROM leads AS l
    WHERE l.contact_id = c.id ORDER BY l.created_at DESC, l.id DESC LIMIT 1
) AS lead ON true
WHERE ($1::text IS NULL OR c.channel = $1)
  AND ($2::text IS NULL OR lead.status = $2)
  AND ($3::text IS NULL
       OR c.profile_name ILIKE $3 OR lead.name ILIKE $3 OR c.number LIKE $3
       OR EXISTS (
           SELECT 1 FROM transcript AS s WHERE s.contact_id = c.id AND s.text ILIKE $3
       ))
  AND {MODE_HINT}
ORDER BY last.at DESC, c.id DESC
LIMIT $5"""
SELECT_CONTACT_BY_ID = f"""
SELECT {CONTACT_COLUMNS}, {MODE_INPUTS} FROM contacts AS c WHERE c.id = $1"""
SELECT_CONTACT_LEAD = f"""
SELECT {LEAD_COLUMNS} FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE l.contact_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT 1"""
SELECT_LAST_INBOUND = """
SELECT max(at) FROM transcript WHERE contact_id = $1 AND direction = 'in'"""
# The newest $2 messages in the order they were stored: a provider's timestamp has whole seconds,
# so a lead's message can carry an earlier time than the bot's reply it came after.
SELECT_CONVERSATION = """
SELECT * FROM (
    SELECT id, direction, author, kind, text, media::text AS media, details::text AS details,
           provider_message_id, message_ids, at
    FROM transcript WHERE contact_id = $1
    ORDER BY id DESC
    LIMIT $2
) AS latest
ORDER BY id"""
SELECT_MEDIA = """
SELECT t.channel, t.media::text AS media FROM transcript AS t
WHERE t.id = $1 AND t.contact_id = $2"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """One row of the inbox: a contact, who has it, its newest message and its lead."""

    contact_id: int
    channel: str
    number: str
    name: str | None
    """The lead's name, when they gave it."""
    profile_name: str | None
    """The WhatsApp profile name (the lead chose it: any text)."""
    mode: ContactMode
    open_handoff: HandoffReason | None
    """The reason of the newest unresolved handoff: a person is awaited while one is open."""
    last_at: datetime
    last_text: str | None
    last_kind: str
    last_author: Author
    last_media: list[dict[str, Any]]
    lead_id: int | None
    status: LeadStatus | None
    score: int | None

    @property
    def handoff_waiting(self) -> bool:
        """A handoff nobody of the team has acted on yet."""
        return self.open_handoff is not None and self.mode in (
            ContactMode.WAITING, ContactMode.CALL_BOOKED
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationDetail:
    """One conversation: the contact, who has it, its newest lead, transcript and handoffs."""

    contact: ContactRecord
    mode: ContactMode
    open_handoff: HandoffReason | None
    lead: LeadRecord | None
    handoffs: list[HandoffRecord]
    transcript: list[TranscriptEntry]
    last_inbound_at: datetime | None
    """The lead's last message: WhatsApp's 24-hour window for free-form replies starts here."""

    @property
    def handoff_waiting(self) -> bool:
        """A handoff nobody of the team has acted on yet."""
        return self.open_handoff is not None and self.mode in (
            ContactMode.WAITING, ContactMode.CALL_BOOKED
        )


class InboxQueries:
    """Conversations as the console lists and shows them (see the module docstring)."""

    def __init__(
        self, pool: asyncpg.Pool, *, human_idle: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._pool = pool
        self._idle = human_idle
        self._clock = clock

    async def conversations(
        self,
        *,
        mode: ContactMode | None = None,
        status: LeadStatus | None = None,
        channel: str | None = None,
        search: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        """The newest `limit` conversations that match every filter given (`search`: a part of
        a name, the number or any message, case-insensitive)."""
        pattern = None
        if search and search.strip():
            escaped = search.strip().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
            pattern = f"%{escaped}%"
        # The SQL hint narrows by mode; the rule may still drop rows, so read a margin more.
        fetch = limit if mode is None else limit * 4
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                LIST_CONVERSATIONS, channel, status, pattern,
                mode.value if mode is not None else None, fetch,
            )
        now = self._clock()
        found = [self._conversation(row, now) for row in rows]
        return [c for c in found if mode is None or c.mode is mode][:limit]

    async def conversation(
        self, contact_id: int, *, transcript_limit: int = 500
    ) -> ConversationDetail | None:
        """One conversation by its contact's id; None when there is no such contact."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_CONTACT_BY_ID, contact_id)
            if row is None:
                return None
            lead_row = await conn.fetchrow(SELECT_CONTACT_LEAD, contact_id)
            handoffs = (
                await conn.fetch(SELECT_HANDOFFS, lead_row["id"]) if lead_row is not None else []
            )
            messages = await conn.fetch(SELECT_CONVERSATION, contact_id, transcript_limit)
            last_in: datetime | None = await conn.fetchval(SELECT_LAST_INBOUND, contact_id)
        return ConversationDetail(
            contact=contact_from_row(row),
            mode=self._mode(row, self._clock()),
            open_handoff=row["open_handoff"],
            lead=lead_from_row(lead_row) if lead_row is not None else None,
            handoffs=[
                HandoffRecord(
                    id=h["id"], reason=h["reason"], at=h["at"], resolved_at=h["resolved_at"]
                )
                for h in handoffs
            ],
            transcript=[_entry(m) for m in messages],
            last_inbound_at=last_in,
        )

    async def media(self, contact_id: int, entry_id: int) -> tuple[str, list[dict[str, Any]]]:
        """The channel and the media list of one stored message of the contact; an empty list
        when there is no such message."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_MEDIA, entry_id, contact_id)
        if row is None:
            return "", []
        return row["channel"], list(json.loads(row["media"]))

    def _mode(self, row: asyncpg.Record, now: datetime) -> ContactMode:
        return mode_of_row(row, now=now, idle=self._idle)

    def _conversation(self, row: asyncpg.Record, now: datetime) -> Conversation:
        return Conversation(
            contact_id=row["contact_id"],
            channel=row["channel"],
            number=row["number"],
            name=row["name"],
            profile_name=row["profile_name"],
            mode=self._mode(row, now),
            open_handoff=row["open_handoff"],
            last_at=row["last_at"],
            last_text=row["last_text"],
            last_kind=row["last_kind"],
            last_author=row["last_author"],
            last_media=list(json.loads(row["last_media"])),
            lead_id=row["lead_id"],
            status=row["status"],
            score=row["score"],
        )


def _entry(row: asyncpg.Record) -> TranscriptEntry:
    return TranscriptEntry(
        id=row["id"], direction=row["direction"], author=row["author"], kind=row["kind"],
        text=row["text"], media=json.loads(row["media"]), details=json.loads(row["details"]),
        provider_message_id=row["provider_message_id"], message_ids=list(row["message_ids"]),
        at=row["at"],
    )
