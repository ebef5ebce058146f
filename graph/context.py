"""What a turn runs with besides its state: LangGraph's run-time context (`Runtime.context`).

The engine builds one `TurnContext` per turn: the collaborators (settings, the business profile,
calendar, lead sink, models, clock), the contact, and the contact's mode as Postgres says it. None
of it is stored in the conversation's checkpoint: the mode has one owner, and the contact is the
thread's identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from domain.business import BusinessProfile
from domain.contact import ContactInfo, ContactMode
from domain.events import LeadSink

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from integrations.calendar.base import Calendar

__all__ = ["Clock", "TurnContext"]

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnContext:
    """The context of one turn (see the module docstring)."""

    settings: Settings
    business: BusinessProfile
    """What the business sells and how it qualifies leads (`BUSINESS_FILE`)."""
    calendar: Calendar | None
    sink: LeadSink
    models: Mapping[str, BaseChatModel | None]
    """Each agent's chat model by name (`integrations.llm.AGENT_NAMES`); None: fallback policy."""
    clock: Clock
    contact: ContactInfo
    """Who wrote this burst."""
    mode: ContactMode = ContactMode.BOT
    """Who has the conversation, read from Postgres for this burst."""
