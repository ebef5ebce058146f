"""Who has a contact's conversation, from what Postgres holds: pure functions of a row and `now`.

Human takeover lives on the contact (`human_since`, `human_last_activity`): a handoff or a person
writing starts a stretch, and it ends when the person releases the contact or has been idle for
`HUMAN_IDLE_HOURS`. Within a stretch nobody of the team has acted on yet, the reason of the open
handoff decides whether the bot still looks after a booked call (`ContactMode.CALL_BOOKED`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from domain.contact import ContactMode

__all__ = ["contact_mode", "human_mode_active", "mode_of_row"]


def human_mode_active(
    human_since: datetime | None,
    last_activity: datetime | None,
    *,
    now: datetime,
    idle: timedelta,
) -> bool:
    """Whether a person has the conversation: a stretch started and the last human activity is
    less than `idle` ago."""
    if human_since is None:
        return False
    return now - (last_activity or human_since) < idle


def contact_mode(
    *,
    opted_out: bool,
    human_since: datetime | None,
    human_last_activity: datetime | None,
    human_wrote: bool,
    open_handoff: str | None,
    now: datetime,
    idle: timedelta,
) -> ContactMode:
    """The contact's mode (`domain.contact.ContactMode`) from its stored flags.

    `human_wrote`: a person of the team wrote to the lead during the current stretch;
    `open_handoff`: the reason of the contact's newest unresolved handoff, if any."""
    if opted_out:
        return ContactMode.OPTED_OUT
    if human_mode_active(human_since, human_last_activity, now=now, idle=idle):
        # Nobody of the team has acted since a handoff began the stretch (the handoff set both
        # times; a human message or a takeover moves the last one on, or wrote the message that
        # began it). A stretch without an open handoff was begun by a person: a takeover.
        untouched = (
            open_handoff is not None
            and human_last_activity in (None, human_since)
            and not human_wrote
        )
        if not untouched:
            return ContactMode.HUMAN
        return ContactMode.CALL_BOOKED if open_handoff == "booked" else ContactMode.WAITING
    if human_since is not None:  # a stretch went idle and was not released yet
        return ContactMode.RETURNING
    return ContactMode.BOT


def mode_of_row(row: Mapping[str, Any], *, now: datetime, idle: timedelta) -> ContactMode:
    """`contact_mode` of a row that selected `sql.MODE_INPUTS`."""
    return contact_mode(
        opted_out=row["opted_out"],
        human_since=row["human_since"],
        human_last_activity=row["human_last_activity"],
        human_wrote=row["human_wrote"],
        open_handoff=row["open_handoff"],
        now=now,
        idle=idle,
    )
