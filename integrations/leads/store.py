"""The lead store: one Postgres pool, three roles, one class each.

- `sink`: the graph's `LeadSink` (`integrations.leads.sink.PostgresLeadSink`): lead updates and
  handoffs, with the manager's email queued in the same transaction.
- `contacts`: the pipeline's and the admin API's contacts (`integrations.leads.contacts`): the
  transcript, the contact's mode (its one owner), takeover, release, opt-out, erasure.
- `leads`: the manager's view (`integrations.leads.queries`): lists, details, won or lost.

They share the pool, the clock ("now" for takeover, opt-out and outcomes; tests move it) and the
CRM's lead events (`integrations.leads.events`), which each role writes in its transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from domain.events import HandoffEvent
from integrations.leads.contacts import ContactStore
from integrations.leads.events import EventDestination, LeadEvents
from integrations.leads.queries import LeadQueries
from integrations.leads.sink import PostgresLeadSink
from integrations.mail.quote import Attachment

__all__ = ["LeadStore"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LeadStore:
    """The three roles of the lead store on one pool (see the module docstring)."""

    sink: PostgresLeadSink
    contacts: ContactStore
    leads: LeadQueries

    @classmethod
    def open(
        cls,
        pool: asyncpg.Pool,
        *,
        human_idle_hours: float = 24.0,
        clock: Callable[[], datetime] | None = None,
        attachments: Callable[[HandoffEvent], Sequence[Attachment]] | None = None,
        event_destinations: Sequence[EventDestination] = (),
        follow_up_after_hours: float | None = None,
    ) -> LeadStore:
        """The store on `pool`. `attachments` returns files to attach to the manager's email of
        a handoff (the calendar's `.ics`); every lead event goes to each of
        `event_destinations` (none: no events are written); `follow_up_after_hours`: when a
        quiet lead's follow-up is due (None: no follow-ups)."""
        now = clock or _utc_now
        idle = timedelta(hours=human_idle_hours)
        events = LeadEvents(event_destinations, clock=now)
        follow_up = (
            timedelta(hours=follow_up_after_hours) if follow_up_after_hours is not None else None
        )
        return cls(
            sink=PostgresLeadSink(
                pool, human_idle=idle, clock=now, attachments=attachments, events=events
            ),
            contacts=ContactStore(
                pool, human_idle=idle, clock=now, events=events, follow_up_after=follow_up
            ),
            leads=LeadQueries(pool, clock=now, events=events),
        )
