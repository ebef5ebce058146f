"""The graph's lead sink in Postgres: lead updates and handoffs, each in one transaction.

Why it is shaped this way:

- Idempotence and concurrency come from the database, not from locks in Python. Every write of a
  contact starts with an upsert of its row, which locks it, so two workers handling one contact
  take turns; one open lead per contact is a partial unique index (`ON CONFLICT` upserts it); a
  handoff is unique per (lead, reason) while unresolved; the manager's email is an outbox row
  keyed by the handoff's id, written in the same transaction. A burst re-run or two concurrent
  `handed_off` calls therefore end with one lead row, one handoff and one email.
- A lead update never erases what is known: a missing profile item (the graph state expired after
  24 h, say) keeps the stored value, and the status only moves forward (new -> qualifying ->
  qualified -> booked -> handed_off) except when a handoff sets it, or the manager closes the lead.
- A handoff puts the contact in human mode (`integrations.leads.mode`). A handoff after an
  idle-expired stretch first ends that stretch (resolving its handoffs), so it is a new handoff
  with a new email, while a repeat within the stretch is absorbed.
- The CRM's lead events (`integrations.leads.events`) are written in the same transactions, from
  the lead as it was and as it is; with no CRM configured a lead update stays one statement.
- The booking the scheduling tools report (made, moved, cancelled) reaches the store here, so its
  reminders are set, moved or dropped here too, in the same transaction as the lead's booking
  (`integrations.leads.schedule.sync_reminders`).
- A booked call that the lead moves or cancels through the bot is a change of the lead row's
  booking (`domain.booking.booking_change`, against the row read under lock in the update's
  transaction): the manager gets an email of it through the outbox, and a cancellation sets the
  lead's status back from `booked` to what its profile says (the one move backwards a lead update
  makes). `record_booking_change` is that transaction's hook for whatever else a change must do.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import asyncpg

from domain.booking import BookingChange, booking_change
from domain.events import HandoffEvent, LeadUpdate
from integrations.leads.events import LeadEvents
from integrations.leads.mode import human_mode_active
from integrations.leads.records import (
    LeadStatus,
    booking_from_row,
    checked_number,
    lead_values,
    status_for_update,
)
from integrations.leads.schedule import sync_reminders
from integrations.leads.sql import (
    ENTER_HUMAN_MODE,
    INSERT_HANDOFF,
    LEAVE_HUMAN_MODE,
    RESOLVE_CONTACT_HANDOFFS,
    SELECT_OPEN_LEAD_BOOKING,
    UPSERT_CONTACT,
    UPSERT_CONTACT_AND_LEAD,
    UPSERT_LEAD,
)
from integrations.mail.booking_change import BookingChangeNotice
from integrations.mail.digest import NurtureDigest
from integrations.mail.quote import Attachment, QuoteRequest
from integrations.outbox import (
    MANAGER_BOOKING_KIND,
    MANAGER_DIGEST_KIND,
    MANAGER_EMAIL_KIND,
    enqueue,
)

__all__ = ["PostgresLeadSink", "record_booking_change"]


async def record_booking_change(
    conn: asyncpg.Connection, notice: BookingChangeNotice, *, contact_id: int
) -> None:
    """A booked call moved or was cancelled: the hook, run inside the lead update's transaction
    (so it happens exactly when the lead row says so, once however often the turn is re-run).
    It queues the manager's email; reminders and CRM events of the change belong here too."""
    after = notice.after
    await enqueue(
        conn,
        kind=MANAGER_BOOKING_KIND,
        dedup_key=(
            f"booking:{notice.lead_id}:{after.id}:{notice.change}:{after.start.isoformat()}"
        ),
        payload=notice.to_json(),
        contact_id=contact_id,
    )


class PostgresLeadSink:
    """The graph's `LeadSink` (`domain.events`) on Postgres."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        human_idle: timedelta,
        clock: Callable[[], datetime],
        attachments: Callable[[HandoffEvent], Sequence[Attachment]] | None = None,
        events: LeadEvents | None = None,
    ) -> None:
        """`attachments` returns files to attach to the manager's email of a handoff (the
        calendar's `.ics`); `events` writes the CRM's lead events."""
        self._pool = pool
        self._idle = human_idle
        self._clock = clock
        self._attachments = attachments
        self._events = events or LeadEvents((), clock=clock)

    async def lead_updated(self, update: LeadUpdate) -> None:
        """Upsert the contact's open lead from the profile, stage and score (idempotent), in the
        same transaction as what it implies: a lead to nurture queues the manager's digest, once;
        a booked call moved or cancelled queues the manager's email of it, once, and a
        cancellation sets the lead's status back (see the module docstring)."""
        number = checked_number(update.contact)
        status = status_for_update(update)
        contact = (update.channel, number, update.profile_name, update.profile.language)
        events = self._events.enabled
        booking = update.booking
        # Only a turn whose state holds a booking can change one: the others skip the read.
        watch = booking is not None
        async with self._pool.acquire() as conn, (
            conn.transaction() if watch or events or status == "nurture"
            else contextlib.nullcontext()
        ):
            change: BookingChange | None = None
            stored = None
            if watch:
                booked = await conn.fetchrow(SELECT_OPEN_LEAD_BOOKING, update.channel, number)
                stored = booking_from_row(booked) if booked is not None else None
                change = booking_change(stored, booking)
            if change == "cancelled":
                status = status_for_update(dataclasses.replace(update, booking=None))
            nurture = status == "nurture"
            force = change == "cancelled"  # the one move backwards a lead update makes
            values = lead_values(
                stage=update.stage, profile=update.profile, summary=update.summary,
                booking=booking, qualification=update.qualification,
            )
            if events:
                contact_id = await conn.fetchval(UPSERT_CONTACT, *contact)
                before = await self._events.open_lead(conn, contact_id)
                row = await conn.fetchrow(UPSERT_LEAD, contact_id, status, force, *values)
                await self._events.changed(conn, before, row["id"])
            else:
                row = await conn.fetchrow(UPSERT_CONTACT_AND_LEAD, *contact, status, force, *values)
            if booking is not None:
                await sync_reminders(
                    conn, contact_id=row["contact_id"], booking=booking, now=self._clock()
                )
            if change is not None and stored is not None and booking is not None:
                notice = BookingChangeNotice(
                    lead_id=row["id"], channel=update.channel, contact=number,
                    name=update.profile.name or update.profile_name,
                    company=update.profile.company, change=change, before=stored,
                    after=booking,
                )
                await record_booking_change(conn, notice, contact_id=row["contact_id"])
            if nurture:
                digest = NurtureDigest.from_update(update, lead_id=row["id"])
                await enqueue(
                    conn, kind=MANAGER_DIGEST_KIND, dedup_key=f"nurture:{row['id']}",
                    payload=digest.to_json(), contact_id=row["contact_id"],
                )

    async def handed_off(self, event: HandoffEvent) -> None:
        """Record a handoff: the lead (status handed_off, or booked), the handoff, human mode for
        the contact, and one manager-email outbox row, in one transaction. A repeat of an
        unresolved handoff (re-run, concurrent call) changes nothing more."""
        number = checked_number(event.contact)
        async with self._pool.acquire() as conn, conn.transaction():
            now = self._clock()
            contact = await conn.fetchrow(
                UPSERT_CONTACT, event.channel, number, event.profile_name, event.profile.language
            )
            contact_id: int = contact["id"]
            before = await self._events.open_lead(conn, contact_id)
            since, last = contact["human_since"], contact["human_last_activity"]
            if since is not None and not human_mode_active(
                since, last, now=now, idle=self._idle
            ):
                # The last human stretch went idle: this is a new handoff, not a repeat.
                await conn.execute(RESOLVE_CONTACT_HANDOFFS, contact_id, now)
                await conn.execute(LEAVE_HUMAN_MODE, contact_id)
            status: LeadStatus = "booked" if event.reason == "booked" else "handed_off"
            lead_id: int = await conn.fetchval(
                UPSERT_LEAD, contact_id, status, True,
                *lead_values(
                    stage="handoff", profile=event.profile, summary=event.summary,
                    booking=event.booking, qualification=event.qualification,
                ),
            )
            if event.booking is not None:
                await sync_reminders(conn, contact_id=contact_id, booking=event.booking, now=now)
            handoff_id: int | None = await conn.fetchval(
                INSERT_HANDOFF, lead_id, event.reason, event.at
            )
            await self._events.changed(
                conn, before, lead_id, handoff=event.reason if handoff_id is not None else None
            )
            if handoff_id is None:
                return
            await conn.execute(ENTER_HUMAN_MODE, contact_id, now)
            files = list(self._attachments(event)) if self._attachments else []
            request = QuoteRequest.from_event(event, lead_id=lead_id, attachments=files)
            await enqueue(
                conn,
                kind=MANAGER_EMAIL_KIND,
                dedup_key=f"handoff:{handoff_id}",
                payload=request.to_json(),
                contact_id=contact_id,
            )
