"""Handoff trigger rules: when the bot gives the conversation to a person. Pure functions.

Reasons, in order of precedence when several hold in one turn:

- `booked`: a call was booked this turn (scheduling -> handoff).
- `requested`: the lead asked for a person: the agent's `wants_human`, a `/human` message, or the
  keyword safety net below (English, Spanish, Portuguese), which runs before any model call.
- `unresolved`: `HANDOFF_UNRESOLVED` turns in a row the agent could not resolve.
- `low_confidence`: the agent's confidence under `HANDOFF_CONFIDENCE`, once past greeting (a
  greeting is small talk; a shaky one is no reason to bother a person).

The streak counts turns (a burst is answered by one agent call with one `resolved` flag). Fallback
turns report neither confidence nor resolution, so they neither fire nor reset these two rules.

`booking_change_request` is the other keyword net: "can we move it?" / "cancel my call" from a
lead whose call is booked. It decides whether the bot may speak during a `booked` handoff (see
`graph.routing`), so it is phrases about moving or cancelling, never a bare "change" or "time".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Literal

from graph.events import HandoffReason, Stage

__all__ = [
    "HUMAN_COMMAND", "BookingChange", "asks_for_human", "booking_change_request", "evaluate",
    "next_streak",
]

BookingChange = Literal["reschedule", "cancel"]

HUMAN_COMMAND = "/human"

# Phrases, not single words: "agent", "human" or "pessoa" alone appear in ordinary sales talk
# ("we need an AI agent", "human resources"). Matched on lower-cased text without accents.
_TARGETS_EN = (
    r"(?:a |an |the |some |your |real |live |actual )*"
    r"(?:human|person|someone|somebody|agent|representative|rep|salesperson|sales ?rep|"
    r"manager|operator|consultant)"
)
_TARGETS_ES = (
    r"(?:un |una |el |la |algun |alguna |alguien |persona |humano |asesor |agente |vendedor |"
    r"representante |ejecutivo |operador )*"
    r"(?:humano|persona|alguien|asesor|agente|vendedor|representante|ejecutivo|operador)"
)
_TARGETS_PT = (
    r"(?:um |uma |o |a |algum |alguma |alguem |pessoa |humano |atendente )*"
    r"(?:humano|pessoa|alguem|atendente|vendedor|representante|consultor|operador)"
)
_HUMAN_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # English
        rf"\b(?:talk|speak|chat)(?:ing)? (?:to|with) {_TARGETS_EN}\b",
        rf"\b(?:connect|transfer|put) me (?:to|with|through to) {_TARGETS_EN}\b",
        r"\b(?:real|live|actual) (?:human|person|agent)\b",
        r"\bhuman (?:agent|support|operator)\b",
        # Spanish
        rf"\b(?:hablar|conversar|comunicarme|charlar) con {_TARGETS_ES}\b",
        r"\bpersona real\b",
        r"\b(?:asesor|agente|operador) humano\b",
        r"\bun humano\b",
        # Portuguese
        rf"\b(?:falar|conversar) com {_TARGETS_PT}\b",
        r"\bpessoa real\b",
        r"\b(?:atendente|atendimento) humano\b",
        r"\bum humano\b",
    )
)


# What a booked lead writes to move or cancel the call, matched like `_HUMAN_PATTERNS`. Cancelling
# needs the call named ("cancel it"), so "can I cancel the subscription?" stays the human's.
_CALL_EN = (
    r"(?:it|this|that|the call|our call|my call|the meeting|our meeting|my meeting|"
    r"the appointment|my appointment|the demo|tomorrow'?s call)"
)
_CALL_ES = r"(?:la llamada|la reunion|la cita|la videollamada|la demo)"
_CALL_PT = r"(?:a ligacao|a reuniao|a chamada|a call|o horario|a demo)"
_CANCEL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\bcancel(?:l?ed|l?ing)? {_CALL_EN}\b",
        r"^(?:please )?cancel(?: please)?[.!]*$",
        rf"\bcall {_CALL_EN} off\b",
        rf"\b(?:cancelar|cancela|cancele|cancelen|cancelemos) {_CALL_ES}\b",
        r"\b(?:cancelala|cancelarla|cancelenla)\b",
        rf"\b(?:cancelar|cancela|cancele|desmarcar|desmarca|desmarque) {_CALL_PT}\b",
        r"\b(?:cancela-la|cancelar ela|desmarcar)\b",
    )
)
_RESCHEDULE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # English
        r"\bre-?schedul(?:e|ed|ing)\b",
        rf"\b(?:move|shift|push|postpone|bring) {_CALL_EN}\b",
        r"\bpostpone\b",
        r"\bchange (?:the |my |our )?(?:time|date|day|hour|slot|call|meeting|appointment)\b",
        r"\b(?:another|a different|other) (?:time|day|date|slot)\b",
        r"\b(?:can ?not|can'?t|won'?t|will not|not able to) make it\b",
        # Spanish
        r"\breprogram(?:ar|emos|amos|a|e)\b",
        rf"\b(?:mover|movamos|cambiar|cambiemos|pasar) {_CALL_ES}\b",
        r"\b(?:cambiar|cambiemos) (?:la hora|el horario|la fecha|el dia)\b",
        r"\b(?:otro (?:dia|horario)|otra (?:hora|fecha))\b",
        r"\b(?:posponer|pospongamos|aplazar|aplacemos)\b",
        r"\bno (?:voy a poder|puedo) (?:ir|asistir|a esa hora|ese dia)\b",
        # Portuguese
        r"\b(?:remarcar|remarca|remarque|reagendar|reagenda|reagende)\b",
        rf"\b(?:mudar|mude|trocar|troque|passar) {_CALL_PT}\b",
        r"\b(?:mudar|mude|trocar|troque) (?:a hora|a data|o dia)\b",
        r"\b(?:outro (?:dia|horario)|outra (?:hora|data))\b",
        r"\b(?:adiar|adie|adiamos)\b",
        r"\bnao vou (?:poder|conseguir)\b",
    )
)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", plain).strip()


def asks_for_human(texts: Iterable[str]) -> bool:
    """The cheap safety net: `/human`, or a plain request for a person in en/es/pt."""
    for text in texts:
        normalized = _normalize(text)
        if normalized == HUMAN_COMMAND:
            return True
        if any(pattern.search(normalized) for pattern in _HUMAN_PATTERNS):
            return True
    return False


def booking_change_request(texts: Iterable[str]) -> BookingChange | None:
    """Whether a lead with a booked call asks to cancel it or to move it (en/es/pt phrases);
    cancelling wins when a message says both ("cancel it, or move it to Friday" is settled by
    the agent, which confirms first)."""
    normalized = [_normalize(text) for text in texts]
    if any(p.search(text) for text in normalized for p in _CANCEL_PATTERNS):
        return "cancel"
    if any(p.search(text) for text in normalized for p in _RESCHEDULE_PATTERNS):
        return "reschedule"
    return None


def next_streak(streak: int, resolved: bool | None) -> int:
    """The unresolved streak after a turn: reset by a resolved turn, kept by a fallback turn."""
    if resolved is None:
        return streak
    return 0 if resolved else streak + 1


def evaluate(
    *,
    stage: Stage,
    booked_now: bool,
    wants_human: bool,
    texts: Iterable[str],
    confidence: float | None,
    streak: int,
    confidence_threshold: float,
    unresolved_limit: int,
) -> HandoffReason | None:
    """The handoff this turn triggers, or None.

    `stage` is the stage whose agent answered; `streak` the unresolved streak after this turn."""
    if booked_now:
        return "booked"
    if wants_human or asks_for_human(texts):
        return "requested"
    if streak >= unresolved_limit:
        return "unresolved"
    if stage != "greeting" and confidence is not None and confidence < confidence_threshold:
        return "low_confidence"
    return None
