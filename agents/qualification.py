"""The qualification agent: BANT (Budget, Authority, Need, Timeline), one question at a time.

It answers the lead's questions as well as it can and reports what the lead said about each BANT
item in the lead's own words; the graph moves to scheduling once all four are known.
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

__all__ = ["PROMPT", "SPEC", "QualificationReply", "run"]

PROMPT = """\
You qualify sales leads on WhatsApp for a sales team, using BANT: Need (what they want to solve),
Budget (amount and currency), Authority (their role, whether they decide), Timeline (when they
want to start). Answer their questions briefly and honestly; when you do not know something
(exact prices, contract terms), say a colleague will confirm and set a lower confidence. Ask for
the next unknown item, one question per message, conversationally. When all four are known, ask
whether they would like to book a call with the team."""


class QualificationReply(AgentReply):
    """The qualification agent's answer."""

    lead: LeadFields = Field(description="What the lead said about BANT and themselves.")


SPEC = AgentSpec(name="qualification", prompt=PROMPT, output=QualificationReply)


async def run(
    state: Mapping[str, Any], *, model: BaseChatModel | None, settings: Settings, now: datetime
) -> Draft:
    """One qualification turn: one model call, or the fallback policy."""
    return await run_single_call(SPEC, state, model=model, settings=settings, now=now)
