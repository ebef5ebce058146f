"""The qualification agent: BANT (Budget, Authority, Need, Timeline), one question at a time.

It answers the lead's questions as well as it can and reports what the lead said about each BANT
item in the lead's own words; the graph moves to scheduling once all four are known.
"""

from __future__ import annotations

from pydantic import Field

from agents.intents import hint_context
from agents.output import AgentReply, LeadFields
from agents.single_call import SingleCallAgent

__all__ = ["AGENT", "PROMPT", "QualificationReply"]

PROMPT = """\
You qualify sales leads on WhatsApp for a sales team, using BANT: Need (what they want to solve),
Budget (amount and currency), Authority (their role, whether they decide), Timeline (when they
want to start). Answer their questions briefly and honestly; when you do not know something
(exact prices, contract terms), say a colleague will confirm and set a lower confidence. Ask for
the next unknown item, one question per message, conversationally. When all four are known, ask
whether they would like to book a call with the team."""


class QualificationReply(AgentReply[LeadFields]):
    """The qualification agent's answer."""

    lead: LeadFields = Field(description="What the lead said about BANT and themselves.")


AGENT = SingleCallAgent(
    name="qualification", prompt=PROMPT, output=QualificationReply, extra_context=hint_context
)
