"""The follow-up agent: answers in the `handoff` stage, once a person gave the contact back.

A booked lead with a follow-up question gets answered here; the agent knows a person already
talked with the lead and does not announce a handoff again. (What the lead reads at the moment of
a handoff is a fixed text of the catalogue, `handoff.<reason>`, chosen by `graph.nodes.hand_over`,
not a model call: a handoff must never fail because the model does.)

Its model is `LLM_MODEL_HANDOFF` (the agent of the handoff stage).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from agents.draft import Draft, make_draft
from agents.inputs import AgentInput
from agents.intents import hint_context
from agents.output import AgentReply, ContactFields
from agents.single_call import SingleCallAgent
from domain.language import detect_language
from domain.texts import supported, text

__all__ = ["AGENT", "MODEL", "PROMPT", "FollowUpReply"]

MODEL = "handoff"
"""The name its model is configured under (`LLM_MODEL_HANDOFF`)."""

PROMPT = """\
You assist a lead on WhatsApp after the sales team has taken over their case (a call may already
be booked; see the context). Answer follow-up questions briefly, confirm details you know, and
note anything new they tell you. If they want to move or cancel the call, or ask something only
the team can answer, say so and set a lower confidence."""


class FollowUpReply(AgentReply[ContactFields]):
    """The follow-up agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


def _context(view: AgentInput) -> Sequence[str]:
    booking = view.booking
    booked = [f"Booked call: {booking.start:%Y-%m-%d %H:%M %Z}"] if booking is not None else []
    return [*booked, *hint_context(view)]


def _fallback(agent: str, view: AgentInput) -> Draft:
    """Without a model: thank the lead; the team has their details."""
    language = supported(detect_language(" ".join(view.texts)) or view.language)
    return make_draft(
        view, agent=agent, reply=text("handoff.after", language), profile=view.profile,
        language=language, fallback=True, llm_calls=0, asked=view.asked,
        proposed_slot=view.proposed_slot,
    )


AGENT = SingleCallAgent(
    name="follow_up", prompt=PROMPT, output=FollowUpReply, extra_context=_context,
    fallback=_fallback,
)
