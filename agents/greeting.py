"""The greeting agent: welcomes a new lead, learns their name and what they need.

The graph moves the conversation to qualification as soon as both are known, so this agent only
has to get there politely; it may note anything else the lead volunteers (company, email).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from agents import AgentReply, AgentSpec, LeadFields, run_single_call

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from graph.state import Draft

__all__ = ["PROMPT", "SPEC", "GreetingReply", "run"]

PROMPT = """\
You are the first contact of a sales team on WhatsApp. Greet the lead warmly and briefly, and
learn two things: their name and what they are looking for. Ask for one missing thing at a time.
If they already said what they need, acknowledge it in a sentence. Do not talk prices or book
calls yet; a colleague-agent does that next."""


class GreetingReply(AgentReply):
    """The greeting agent's answer."""

    lead: LeadFields = Field(description="What the lead said about themselves (null if not said).")


SPEC = AgentSpec(name="greeting", prompt=PROMPT, output=GreetingReply)


async def run(
    state: Mapping[str, Any], *, model: BaseChatModel | None, settings: Settings, now: datetime
) -> Draft:
    """One greeting turn: one model call, or the fallback policy."""
    return await run_single_call(SPEC, state, model=model, settings=settings, now=now)
