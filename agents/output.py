"""The structured answer every agent gives in its one model call, and the lead fields in it.

No stage, qualification or handoff field exists here on purpose: the system decides those from the
facts the model reports, and unknown keys a model (or a lead's injected text) adds are ignored.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AgentReply", "ContactFields", "LeadFields"]


class LeadFields(BaseModel):
    """Everything an agent may report about the lead; null when the lead did not say it."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(description="The lead's name as they gave it.")
    company: str | None = Field(description="The lead's company or organisation.")
    email: str | None = Field(description="The lead's email address.")
    need: str | None = Field(description="What they want to solve or buy, in their own words.")
    need_summary: str | None = Field(description="A short restatement of the need (max 20 words).")
    budget: str | None = Field(description="What they said about budget, in their own words.")
    budget_amount: float | None = Field(description="The budget as a number, if given.")
    budget_currency: str | None = Field(description="ISO 4217 code of that amount (USD, EUR...).")
    authority: str | None = Field(description="What they said about who decides, in their words.")
    authority_role: str | None = Field(description="The lead's role (CTO, owner...).")
    authority_decides: bool | None = Field(description="Whether the lead decides themselves.")
    timeline: str | None = Field(description="What they said about timing, in their own words.")
    timeline_date: str | None = Field(
        description="The date they mean, as YYYY-MM-DD, relative times resolved from today "
        "('next month': its first day; 'in two years': today's date in two years); null if "
        "they gave no time."
    )
    disqualified_by: str | None = Field(
        default=None,
        description="If the lead's own words meet one of the business's rules for leads we do "
        "not serve: that rule, copied exactly; else null.",
    )
    disqualified_words: str | None = Field(
        default=None, description="The lead's words that meet that rule, quoted exactly."
    )


class ContactFields(BaseModel):
    """What the scheduling and follow-up agents may still learn about the lead."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(description="The lead's name as they gave it.")
    email: str | None = Field(description="The lead's email address (for the invitation).")
    timezone: str | None = Field(
        description="The lead's IANA time zone if they named a place or zone."
    )


Fields = TypeVar("Fields", LeadFields, ContactFields)


class AgentReply(BaseModel, Generic[Fields]):
    """The structured answer of every agent; each agent's subclass narrows `lead` to what it
    collects (`LeadFields` or `ContactFields`) and describes it in its own words."""

    model_config = ConfigDict(extra="ignore")

    reply: str = Field(description="The message to send to the lead.")
    language: str | None = Field(description="ISO 639-1 code of the lead's language.")
    confidence: float = Field(description="0 to 1: how sure you are the reply is right.")
    resolved: bool = Field(description="Whether the reply handles what the lead wrote.")
    wants_human: bool = Field(description="The lead asked to talk to a person.")
    answered: bool = Field(
        default=True,
        description="Whether the lead answered what your previous message asked (false for an "
        "evasive answer); true when you had asked nothing.",
    )
    lead: Fields = Field(description="What the lead said (null where they did not say it).")

    @field_validator("confidence", mode="after")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return min(1.0, max(0.0, value))

    @field_validator("language", mode="after")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.strip().lower()[:2]
        return code if len(code) == 2 and code.isalpha() else None
