"""The greeting agent: welcomes a new lead, learns their name and what they need.

The graph moves the conversation to qualification as soon as both are known, so this agent only
has to get there politely; it may note anything else the lead volunteers (company, email).
"""

from __future__ import annotations

from pydantic import Field

from agents.intents import hint_context
from agents.output import AgentReply, LeadFields
from agents.single_call import SingleCallAgent

__all__ = ["AGENT", "PROMPT", "GreetingReply"]

PROMPT = """\
You are the first contact of a sales team on WhatsApp. Greet the lead warmly and briefly, and
learn two things: their name and what they are looking for. Ask for one missing thing at a time.
If they already said what they need, acknowledge it in a sentence. Do not talk prices or book
calls yet; a colleague-agent does that next."""


class GreetingReply(AgentReply[LeadFields]):
    """The greeting agent's answer."""

    lead: LeadFields = Field(description="What the lead said about themselves (null if not said).")


AGENT = SingleCallAgent(
    name="greeting", prompt=PROMPT, output=GreetingReply, extra_context=hint_context
)
