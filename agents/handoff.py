"""The handoff agent: what the lead reads when a person takes over, and the bot after release.

The hand-over message is a fixed text per reason and language, not a model call: the turn already
spent its one call, and a handoff must never fail because the model does. After a human releases
the contact, this agent answers in the `handoff` stage (a booked lead with a follow-up question):
it knows a person already talked with the lead and does not announce a handoff again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from agents import AgentReply, AgentSpec, ContactFields, run_single_call
from graph.events import HandoffReason

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from langchain_core.language_models import BaseChatModel

    from core.config import Settings
    from graph.state import Draft

__all__ = ["HANDOFF_MESSAGES", "PROMPT", "SPEC", "FollowUpReply", "handoff_message", "run"]

HANDOFF_MESSAGES: dict[str, dict[HandoffReason, str]] = {
    "en": {
        "requested": (
            "Of course! A member of our team will continue the conversation with you here shortly."
        ),
        "low_confidence": (
            "I want to make sure you get the right answer, so a member of our team will reply to "
            "you here shortly."
        ),
        "unresolved": (
            "I'm passing your messages to a member of our team, who will reply to you here "
            "shortly."
        ),
        "booked": "A member of our team will follow up with you here before the call.",
    },
    "es": {
        "requested": (
            "¡Claro! Alguien de nuestro equipo seguirá la conversación contigo por aquí en breve."
        ),
        "low_confidence": (
            "Quiero asegurarme de que recibas la respuesta correcta: alguien de nuestro equipo te "
            "responderá por aquí en breve."
        ),
        "unresolved": (
            "Le paso tus mensajes a alguien de nuestro equipo, que te responderá por aquí en "
            "breve."
        ),
        "booked": "Alguien de nuestro equipo te escribirá por aquí antes de la llamada.",
    },
    "pt": {
        "requested": (
            "Claro! Alguém da nossa equipe vai continuar a conversa com você por aqui em breve."
        ),
        "low_confidence": (
            "Quero ter certeza de que você receba a resposta certa: alguém da nossa equipe vai "
            "responder por aqui em breve."
        ),
        "unresolved": (
            "Vou passar suas mensagens para alguém da nossa equipe, que vai responder por aqui em "
            "breve."
        ),
        "booked": "Alguém da nossa equipe vai falar com você por aqui antes da ligação.",
    },
}


def handoff_message(reason: HandoffReason, language: str | None) -> str:
    """What the lead reads when the conversation goes to a person (English when unsupported)."""
    table = HANDOFF_MESSAGES.get(language or "en", HANDOFF_MESSAGES["en"])
    return table[reason]


PROMPT = """\
You assist a lead on WhatsApp after the sales team has taken over their case (a call may already
be booked; see the context). Answer follow-up questions briefly, confirm details you know, and
note anything new they tell you. If they want to move or cancel the call, or ask something only
the team can answer, say so and set a lower confidence."""


class FollowUpReply(AgentReply):
    """The handoff-stage agent's answer."""

    lead: ContactFields = Field(description="Contact details the lead gave (null if not said).")


SPEC = AgentSpec(name="handoff", prompt=PROMPT, output=FollowUpReply)


async def run(
    state: Mapping[str, Any], *, model: BaseChatModel | None, settings: Settings, now: datetime
) -> Draft:
    """One turn after a release: one model call, or the fallback policy."""
    booking = state.get("booking")
    extra = [f"Booked call: {booking.start:%Y-%m-%d %H:%M %Z}"] if booking is not None else []
    return await run_single_call(
        SPEC, state, model=model, settings=settings, now=now, extra_context=extra
    )
