"""Handoff trigger rules: when the bot gives the conversation to a person. Pure functions.

Reasons, in order of precedence when several hold in one turn:

- `booked`: a call was booked this turn (scheduling -> handoff).
- `requested`: the lead asked for a person: the agent's `wants_human` (the fallback policy sets it
  for a bare hint), or a certain request (`agents.intents.person_request`: a command or a curated
  phrase, which the routing already sends straight to the hand-over). A mere hint never hands off
  here: the model read it and decided (`wants_human`); "customers talk to an operator" is a need.
- `unresolved`: `HANDOFF_UNRESOLVED` turns in a row the agent could not resolve, or the fallback
  policy cannot go on (`stuck`: its questions skipped, its slot offers used up).
- `low_confidence`: the agent's confidence under `HANDOFF_CONFIDENCE`, once past greeting (a
  greeting is small talk; a shaky one is no reason to bother a person).

The streak counts turns (a burst is answered by one agent call with one `resolved` flag). Fallback
turns report no confidence, so they never fire `low_confidence`, but they do report resolution: a
non-answer to the policy's question is unresolved and an answer resolves
(`agents.fallback.policy`), so a lead who keeps answering "hmm" is handed over without a model too.
"""

from __future__ import annotations

from collections.abc import Iterable

from agents.intents import person_request
from domain.events import HandoffReason, Stage

__all__ = ["evaluate", "next_streak"]


def next_streak(streak: int, resolved: bool | None) -> int:
    """The unresolved streak after a turn: reset by a resolved turn, kept by a turn that does not
    say (`resolved=None`, as the follow-up agent's fallback thanks)."""
    if resolved is None:
        return streak
    return 0 if resolved else streak + 1


def evaluate(
    *,
    stage: Stage,
    booked_now: bool,
    wants_human: bool,
    texts: Iterable[str],
    stuck: bool = False,
    confidence: float | None,
    streak: int,
    confidence_threshold: float,
    unresolved_limit: int,
) -> HandoffReason | None:
    """The handoff this turn triggers, or None.

    `stage` is the stage whose agent answered; `streak` the unresolved streak after this turn."""
    if booked_now:
        return "booked"
    if wants_human or person_request(texts) == "certain":
        return "requested"
    if stuck or streak >= unresolved_limit:
        return "unresolved"
    if stage != "greeting" and confidence is not None and confidence < confidence_threshold:
        return "low_confidence"
    return None
