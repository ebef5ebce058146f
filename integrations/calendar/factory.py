"""Which calendar the app books in: Google when it is configured, else the local one.

`make run` must book calls with nothing configured, so the absence of Google settings is not an
error: it selects the Postgres calendar. A half-configured Google (a key file without a calendar
id, or the reverse) also falls back to local; `/readyz` shows `google_calendar: false` then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.calendar.base import Calendar
from integrations.calendar.google import GoogleCalendar
from integrations.calendar.local import InvitationHook, LocalCalendar

if TYPE_CHECKING:
    import asyncpg

    from core.config import Settings

__all__ = ["calendar_from_settings"]


def calendar_from_settings(
    settings: Settings, pool: asyncpg.Pool, *, on_invitation: InvitationHook | None = None
) -> Calendar:
    """`GoogleCalendar` when `GOOGLE_SERVICE_ACCOUNT_FILE` and `GOOGLE_CALENDAR_ID` are set (its
    bookings serialized through `pool`), else `LocalCalendar` on `pool` (whose `.ics`
    invitations go to `on_invitation`)."""
    if settings.google_calendar_configured:
        return GoogleCalendar.from_settings(settings, pool)
    return LocalCalendar.from_settings(settings, pool, on_invitation=on_invitation)
