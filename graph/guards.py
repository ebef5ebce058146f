"""Guards on the model's words before a lead reads them: no booking the code did not make, no wall
of text. Pure; `graph.nodes.apply_rules` applies them and counts each in `REPLY_GUARDS`.

- A reply that claims a booking ("Done! You're booked for Tuesday") when no call stands and none
  was booked in this turn, or a move or cancellation ("I've moved your call") that this turn did
  not make, is not sent as such: the lead gets the slots offered instead (or, with none, a
  neutral text asking for a time). The claims are phrases in the past or perfect ("is booked",
  "quedó agendada", "foi marcada"), not words ("book", "confirm"), so a question about booking
  stays untouched.
- A reply that states a fact the lead never gave (a name they did not write, a budget amount
  their words do not hold: `agents.extraction.invented_fact`) is not sent either: the lead is
  asked for that fact instead (`graph.nodes.without_invented`).
- A reply longer than `REPLY_MAX_CHARS` is cut at the last sentence end before the limit (or at
  a word, with an ellipsis) before it is split into WhatsApp messages.
"""

from __future__ import annotations

import re

from prometheus_client import Counter

from domain.language import plain

__all__ = ["REPLY_GUARDS", "claims_booking", "claims_change", "shorten"]

REPLY_GUARDS = Counter(
    "wa_reply_guards_total",
    "Model replies changed before sending, by guard.",
    ["guard"],
)
"""Guards: `false_booking` (a claimed booking or change replaced), `invented_fact` (a reply
stating a fact the lead never gave, replaced), `too_long` (cut)."""

_BOOKED = re.compile(
    "|".join((
        # English
        r"\bi(?:'ve| have)? (?:just )?(?:booked|scheduled|reserved)\b",
        r"\byou(?:'re| are) (?:all )?(?:booked|scheduled|set for)\b",
        r"\b(?:is|are|has been|have been|was|got) (?:now )?"
        r"(?:booked|scheduled|confirmed|reserved)\b",
        r"\bbooked (?:you|it|your call|the call) (?:for|on|at|in)\b",
        # Spanish (no accents)
        r"\b(?:quedo|queda|esta|fue|ha sido|ya esta) "
        r"(?:agendad|reservad|programad|confirmad)[ao]s?\b",
        r"\b(?:ya|te|la|lo) (?:agende|reserve|programe)\b",
        # Portuguese
        r"\b(?:esta|foi|fica|ficou|ja esta) (?:agendad|marcad|reservad|confirmad)[ao]s?\b",
        r"\b(?:agendei|marquei|reservei)\b",
        # French
        r"\b(?:est|a ete|sont) (?:bien )?(?:reserve|planifie|confirme|programme)e?s?\b",
        r"\bj'ai (?:bien )?(?:reserve|planifie|programme)\b",
        # German
        r"\b(?:ist|wurde|sind) (?:jetzt )?(?:gebucht|eingetragen|bestatigt|reserviert)\b",
        r"\bhabe (?:\w+ )?(?:gebucht|eingetragen|reserviert)\b",
        # Italian
        r"\b(?:e|e stata|e stato|sono) (?:prenotat|confermat|fissat)[aoie]\b",
        r"\bho (?:prenotato|fissato)\b",
    ))
)
_CHANGED = re.compile(
    "|".join((
        r"\b(?:i(?:'ve| have)?|has been|have been|is|was|been) (?:now )?"
        r"(?:moved|rescheduled|cancel+ed)\b",
        r"\b(?:movi|cambie|cancele|reprograme)\b",
        r"\b(?:quedo|fue|esta|ha sido) (?:movid|cancelad|reprogramad|cambiad)[ao]\b",
        r"\b(?:mudei|remarquei|cancelei|reagendei)\b",
        r"\b(?:foi|esta|ficou) (?:remarcad|cancelad|reagendad|mudad)[ao]\b",
        r"\b(?:est|a ete) (?:deplace|annule|reporte)e?\b|\bj'ai (?:deplace|annule|reporte)\b",
        r"\b(?:ist|wurde) (?:verschoben|storniert|abgesagt)\b",
        r"\b(?:e stat[ao]|ho) (?:spostat|annullat|cancellat)[oa]\b",
    ))
)
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)|\n")


def claims_booking(reply: str) -> bool:
    """The reply says a call is booked."""
    return _BOOKED.search(plain(reply)) is not None


def claims_change(reply: str) -> bool:
    """The reply says a booked call was moved or cancelled."""
    return _CHANGED.search(plain(reply)) is not None


def shorten(reply: str, limit: int) -> str:
    """`reply` within `limit` characters, cut at the last sentence end that fits (or at a word,
    with an ellipsis, when no sentence end does)."""
    reply = reply.strip()
    if len(reply) <= limit:
        return reply
    head = reply[:limit]
    ends = [match.end() for match in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]].rstrip()
    cut = head[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return cut + "…"
