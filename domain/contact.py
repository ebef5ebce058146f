"""Who a conversation is with, and who has it: the contact and its mode.

The mode has one owner, the contacts table in Postgres (`integrations.leads`): it is read once per
burst and passed into the turn, never copied into the conversation state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["ContactInfo", "ContactMode", "HumanStretch"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactInfo:
    """Who wrote a burst, as the channel reported it."""

    channel: str
    """`twilio` or `meta` (`chat` in the terminal)."""
    contact: str
    """The lead's number in E.164."""
    profile_name: str | None = None
    """The WhatsApp profile name, when the provider sent one (a hint, not the lead's name)."""

    @property
    def thread_id(self) -> str:
        """The conversation's id: `<channel>:<E.164 number>`."""
        return f"{self.channel}:{self.contact}"


class ContactMode(StrEnum):
    """Who has the conversation with a contact right now."""

    BOT = "bot"
    """The bot answers."""
    WAITING = "waiting"
    """Handed to a person who has not acted yet: the bot records and stays silent."""
    CALL_BOOKED = "call_booked"
    """Handed over because a call was booked, and nobody has acted yet: the bot stays silent but
    still moves or cancels that call when the lead asks (`graph.routing`)."""
    HUMAN = "human"
    """A person of the team is talking with the lead: the bot records and stays silent."""
    RETURNING = "returning"
    """The person went idle for `HUMAN_IDLE_HOURS`: the contact goes back to the bot (with the
    person's notes) at its next message."""
    OPTED_OUT = "opted_out"
    """The lead sent STOP: nothing is sent until they send /start."""

    @property
    def silenced(self) -> bool:
        """The bot holds back its own messages: a person has the conversation (or is about to),
        or the lead opted out. (In `CALL_BOOKED` the bot still answers a booked call's change.)"""
        return self not in (ContactMode.BOT, ContactMode.RETURNING)


@dataclass(frozen=True, slots=True, kw_only=True)
class HumanStretch:
    """A stretch of the conversation a person handled; the conversation keeps the last one after
    the contact is given back to the bot, so the agents know a person already spoke."""

    started_at: datetime | None
    """When the handoff happened (None if the contact went to a person some other way)."""
    released_at: datetime
    """When the contact was given back to the bot."""
    notes: str | None
    """What the person settled, as they (or the admin API) wrote it; shown to the agents."""
