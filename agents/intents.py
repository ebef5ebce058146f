"""What the lead's words ask for, by keyword: a person, or a change of their booked call. Pure.

`asks_for_human` is the cheap safety net behind the model's own `wants_human` (English, Spanish,
Portuguese): `/human`, or a plain request for a person. It runs before any model call, so it is
phrases, not single words: "agent", "human" or "pessoa" alone appear in ordinary sales talk.

`booking_change_request` is the other net: "can we move it?" / "cancel my call" from a lead whose
call is booked. It decides whether the bot may speak during a `booked` handoff (`graph.routing`),
so it is phrases about moving or cancelling, never a bare "change" or "time".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from domain.language import plain

__all__ = ["HUMAN_COMMAND", "BookingChange", "asks_for_human", "booking_change_request"]

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


def asks_for_human(texts: Iterable[str]) -> bool:
    """The cheap safety net: `/human`, or a plain request for a person in en/es/pt."""
    for text in texts:
        normalized = plain(text)
        if normalized == HUMAN_COMMAND:
            return True
        if any(pattern.search(normalized) for pattern in _HUMAN_PATTERNS):
            return True
    return False


def booking_change_request(texts: Iterable[str]) -> BookingChange | None:
    """Whether a lead with a booked call asks to cancel it or to move it (en/es/pt phrases);
    cancelling wins when a message says both ("cancel it, or move it to Friday" is settled by
    the agent, which confirms first)."""
    normalized = [plain(text) for text in texts]
    if any(p.search(text) for text in normalized for p in _CANCEL_PATTERNS):
        return "cancel"
    if any(p.search(text) for text in normalized for p in _RESCHEDULE_PATTERNS):
        return "reschedule"
    return None
