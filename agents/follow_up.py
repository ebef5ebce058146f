"""The follow-up agent: answers once the lead's case is settled: in the `handoff` stage after a
person gave the contact back, and in the `closed` stage (a lead to nurture, or one the business
does not serve, who writes again).

A booked lead with a follow-up question gets answered here; the agent knows a person already
talked with the lead and does not announce a handoff again. A closed lead gets short, friendly
answers from the business profile, without a new sales push. (What the lead reads at the moment of
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
You assist a lead on WhatsApp whose case is settled (see the context): the sales team has taken
over (a call may already be booked), or the lead was told we will be in touch later, or that we
cannot help with what they need. Answer follow-up questions briefly from the Business block,
confirm details you know, and note anything new they tell you; do not start selling again. If
they want to move or cancel a call, or ask something only the team can answer, say so and set a
lower confidence."""


class FollowUpReply(AgentReply[ContactFields]):
    """The follow-up agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


_CLOSED = {
    "nurture": "The lead was told we are not the right fit just yet and that a colleague will be "
    "in touch when it makes sense.",
    "disqualified": "The lead was told we are not the right fit for them at the moment.",
}


def _settled(view: AgentInput) -> Sequence[str]:
    """The booked call, or why the case was closed; and a hint of a request for a person."""
    lines: list[str] = []
    if view.booking is not None:
        lines.append(f"Booked call: {view.booking.start:%Y-%m-%d %H:%M %Z}")
    if view.stage == "closed" and view.fit in _CLOSED:
        lines.append(_CLOSED[view.fit])
    return [*lines, *hint_context(view)]


def _fallback(agent: str, view: AgentInput) -> Draft:
    """Without a model: thank the lead; the team has their details (and, for a closed lead,
    nothing more is promised)."""
    language = supported(detect_language(" ".join(view.texts)) or view.language)
    key = "closing.after" if view.stage == "closed" else "handoff.after"
    return make_draft(
        view, agent=agent, reply=text(key, language), profile=view.profile,
        language=language, fallback=True, llm_calls=0, asked=view.asked,
        proposed_slot=view.proposed_slot,
    )


AGENT = SingleCallAgent(
    name="follow_up", prompt=PROMPT, output=FollowUpReply, extra_context=_settled,
    fallback=_fallback,
)
