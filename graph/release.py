"""Giving a contact back to the bot: the conversation's side of it, a pure function.

Postgres owns the contact's mode, so releasing is there first (`integrations.leads`); the
conversation then remembers that a person handled a stretch (and its notes), so the agents neither
announce a handoff again nor ask what the person settled, and its stage is recomputed from the
profile (a lead handed over mid-qualification goes on qualifying).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.booking import confirmed
from domain.contact import HumanStretch
from domain.lead import LeadProfile
from graph.routing import stage_for

__all__ = ["released"]


def released(state: Mapping[str, Any], *, notes: str | None, now: datetime) -> dict[str, Any]:
    """The update that gives the conversation `state` back to the bot at `now`."""
    handoff = state.get("handoff")
    profile: LeadProfile = state.get("profile") or LeadProfile()
    return {
        "human_stretch": HumanStretch(
            started_at=handoff.at if handoff else None, released_at=now, notes=notes
        ),
        "stage": stage_for(
            profile, booked=confirmed(state.get("booking")),
            fit=qualification.fit if (qualification := state.get("qualification")) else None,
        ),
        "changing_booking": False,
        "unresolved": 0,
        "last_confidence": None,
        "proposed_slot": None,
    }
