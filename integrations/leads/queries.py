"""The manager's view of the leads: lists, one lead with its transcript and handoffs, and
closing a lead as won or lost (with its CRM event, `lead.won` or `lead.lost`, in the same
transaction)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import asyncpg

from domain.events import HandoffRecord
from integrations.leads.errors import InvalidValue, LeadNotFound
from integrations.leads.events import LeadEvents
from integrations.leads.records import (
    LEAD_STATUSES,
    LeadDetail,
    LeadRecord,
    LeadStatus,
    Outcome,
    TranscriptEntry,
    lead_from_row,
)
from integrations.leads.sql import (
    COUNT_LEADS,
    LIST_LEADS,
    RESOLVE_LEAD_HANDOFFS,
    SELECT_HANDOFFS,
    SELECT_LEAD,
    SELECT_LEAD_STATUS_FOR_UPDATE,
    SELECT_TRANSCRIPT,
    SET_OUTCOME,
)

__all__ = ["LeadQueries"]


class LeadQueries:
    """Leads as the manager reads and closes them (the admin API)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Callable[[], datetime],
        events: LeadEvents | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._events = events or LeadEvents((), clock=clock)

    async def list_leads(
        self,
        *,
        status: LeadStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LeadRecord]:
        """Leads newest first, filtered by status and by creation time (`since` <= t < `until`)."""
        self._check_filters(status, limit, offset)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(LIST_LEADS, status, since, until, limit, offset)
        return [lead_from_row(row) for row in rows]

    async def count_leads(
        self,
        *,
        status: LeadStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many leads `list_leads` would page through."""
        self._check_filters(status, 1, 0)
        async with self._pool.acquire() as conn:
            total: int = await conn.fetchval(COUNT_LEADS, status, since, until)
        return total

    async def get_lead(self, lead_id: int, *, transcript_limit: int = 200) -> LeadDetail:
        """One lead with its contact's last `transcript_limit` messages and its handoffs."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_LEAD, lead_id)
            if row is None:
                raise LeadNotFound(f"no lead {lead_id}")
            messages = await conn.fetch(SELECT_TRANSCRIPT, row["contact_id"], transcript_limit)
            handoffs = await conn.fetch(SELECT_HANDOFFS, lead_id)
        return LeadDetail(
            lead=lead_from_row(row),
            transcript=[
                TranscriptEntry(
                    id=m["id"], direction=m["direction"], author=m["author"], kind=m["kind"],
                    text=m["text"], media=json.loads(m["media"]), details=json.loads(m["details"]),
                    provider_message_id=m["provider_message_id"],
                    message_ids=list(m["message_ids"]), at=m["at"],
                )
                for m in messages
            ],
            handoffs=[
                HandoffRecord(
                    id=h["id"], reason=h["reason"], at=h["at"], resolved_at=h["resolved_at"]
                )
                for h in handoffs
            ],
        )

    async def set_outcome(self, lead_id: int, outcome: Outcome) -> None:
        """Close the lead as won or lost and resolve its open handoffs; the contact's next
        conversation starts a new lead. Setting the outcome it has already changes nothing."""
        if outcome not in ("won", "lost"):
            raise InvalidValue(f"outcome must be 'won' or 'lost', not {outcome!r}")
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            previous = await conn.fetchval(SELECT_LEAD_STATUS_FOR_UPDATE, lead_id)
            if previous is None:
                raise LeadNotFound(f"no lead {lead_id}")
            await conn.execute(SET_OUTCOME, lead_id, outcome, now)
            await conn.execute(RESOLVE_LEAD_HANDOFFS, lead_id, now)
            if previous != outcome:
                await self._events.closed(conn, lead_id, outcome)

    @staticmethod
    def _check_filters(status: str | None, limit: int, offset: int) -> None:
        if status is not None and status not in LEAD_STATUSES:
            raise InvalidValue(
                f"unknown lead status {status!r}; use one of {', '.join(LEAD_STATUSES)}"
            )
        if not 1 <= limit <= 500 or offset < 0:
            raise InvalidValue("limit must be 1 to 500 and offset at least 0")
