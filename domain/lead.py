"""The lead profile the agents build up: BANT plus contact details, each item with its evidence.

Every item keeps the lead's own words and the id of the message it came from, so the manager sees
why the bot believes it. Values are validated here, before they enter the graph state: an email
must parse, a budget amount must be positive, a date must be a real date. Models are pydantic so
LangGraph's serializer stores them as they are.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Authority",
    "BANT_ITEMS",
    "Budget",
    "Fit",
    "LeadProfile",
    "Need",
    "Qualification",
    "Timeline",
    "first_name",
]

# Deliberately simple: one @, a dot in the domain, no spaces; deliverability is the mail
# server's job.
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[A-Za-z]{2,}$")

BANT_ITEMS: tuple[str, ...] = ("budget", "authority", "need", "timeline")
MAX_BUDGET_AMOUNT = 1e12
"""No real budget is larger; a model's 1e308 (printed as 309 digits) is dropped, the words kept."""


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    words: str = Field(min_length=1, max_length=1000)
    """The lead's own words this item was read from."""
    message_id: str | None = None
    """The id of the message those words came from (the provider's message id)."""


class Need(_Item):
    """What the lead wants to solve or buy."""

    summary: str | None = Field(default=None, max_length=300)
    """A short restatement for the manager; `words` keeps the original."""


class Budget(_Item):
    """What the lead can spend."""

    amount: float | None = Field(default=None, gt=0, le=MAX_BUDGET_AMOUNT)
    """A positive number up to `MAX_BUDGET_AMOUNT`, or None when the lead gave no figure."""
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    """ISO 4217 code (USD, EUR, BRL...)."""


class Authority(_Item):
    """Who decides the purchase."""

    role: str | None = Field(default=None, max_length=120)
    """The lead's role (CTO, owner, procurement...)."""
    decides: bool | None = None
    """Whether the lead makes the decision themselves."""


class Timeline(_Item):
    """When the lead wants to buy or start."""

    date: dt.date | None = None
    """A real date when the lead gave one."""


class LeadProfile(BaseModel):
    """What the bot knows about the lead. Absent items are None, never guessed."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=120)
    """The lead's name as they gave it (or their WhatsApp profile name)."""
    company: str | None = Field(default=None, max_length=160)
    """The lead's company or organisation."""
    email: str | None = None
    """A syntactically valid email address."""
    language: str | None = Field(default=None, max_length=8)
    """The lead's language as an ISO 639-1 code (en, es, pt...)."""
    timezone: str | None = None
    """The lead's IANA time zone, from their number or their words."""
    need: Need | None = None
    budget: Budget | None = None
    authority: Authority | None = None
    timeline: Timeline | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError("not an email address")
        return value

    def missing_bant(self) -> list[str]:
        """The BANT items not known yet, in the order the bot asks for them."""
        order: tuple[Literal["need", "budget", "authority", "timeline"], ...] = (
            "need",
            "budget",
            "authority",
            "timeline",
        )
        return [item for item in order if getattr(self, item) is None]

    @property
    def bant_complete(self) -> bool:
        return not self.missing_bant()


def first_name(name: str | None) -> str | None:
    """How the bot addresses the lead: the first word of their name ("Priya" of the WhatsApp
    profile name "Priya Raman"), as one would in a chat."""
    words = (name or "").split()
    return words[0] if words else None


Fit = Literal["qualified", "nurture", "disqualified"]
"""Whether a lead fits the business now: book a call, keep in touch for later, or close."""


class Qualification(BaseModel):
    """A lead's score against the business's qualification rules, and what follows from it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    score: int = Field(ge=0, le=100)
    """0-100: how well the lead fits (need, budget, authority, timeline)."""
    fit: Fit | None = None
    """None while the lead is still being qualified (BANT incomplete, nothing disqualifying)."""
    reasons: tuple[str, ...] = ()
    """Why, one short line each, for the manager."""
    disqualified_by: str | None = None
    """The business's rule the lead's own words met, when they did."""
