"""Answers to a lead's questions from the business profile, without a model: FAQ by word overlap,
prices from the offerings.

The scoring is deliberately simple and the same in every language. Both the lead's question and
each FAQ question become a set of stems: folded words (lower case, no accents) minus the words
every question has ("is", "there", "do", "you", "hay", "tem"...), each cut to its first
`STEM` letters ("integrate", "integration" and "integração" are all "integ"). An entry's score is
the share of its own stems the lead used (|lead ∩ entry| / |entry|); the best entry with a score
of at least `THRESHOLD` is the answer ("do you have a free trial?" meets "Is there a free
trial?" at 1.0). Ties go to the larger overlap, then to the earlier entry. A question about
prices that no entry answers gets the offerings' prices (those it names, else all).

Only questions are matched ("?" or a question word first): "we need WhatsApp integration" is a
need, not a question about WhatsApp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agents.fallback import words as w
from agents.fallback.validators import Clause, Phrases, is_question, tokens
from domain.business import BusinessProfile, Offering

__all__ = ["STEM", "THRESHOLD", "Answer", "answer_question", "best_entry", "stems"]

STEM = 5
"""Letters a word is cut to before comparing: a crude stem that works across languages."""

THRESHOLD = 0.5
"""The least share of an FAQ question's stems the lead's question must contain."""

_PRICE = Phrases(w.PRICE_CUES)


def stems(text: str) -> frozenset[str]:
    """The stems of `text`'s content words (see the module docstring)."""
    return frozenset(
        token.key[:STEM]
        for token in tokens(text)
        if token.letters and len(token.key) > 2 and token.key not in w.STOP_WORDS
    )


def best_entry(question: str, entries: Sequence[str]) -> int | None:
    """The index of the entry that best matches `question`, or None below `THRESHOLD`."""
    asked = stems(question)
    best: tuple[float, int, int] | None = None
    for index, entry in enumerate(entries):
        own = stems(entry)
        overlap = len(asked & own)
        if not own or not overlap:
            continue
        score = overlap / len(own)
        if score >= THRESHOLD and (best is None or (score, overlap) > best[:2]):
            best = (score, overlap, index)
    return best[2] if best else None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the business profile says to a question: an FAQ entry's answer, or a price list."""

    kind: Literal["faq", "prices"]
    text: str


def _prices(question: str, offerings: Sequence[Offering]) -> str:
    """"Name: price" of the offerings `question` names (every word of the name), else of all."""
    keys = {token.key for token in tokens(question)}
    named = [o for o in offerings if {t.key for t in tokens(o.name)} <= keys]
    return "\n".join(f"{o.name}: {o.price}" for o in named or offerings)


def answer_question(parts: Sequence[Clause], business: BusinessProfile) -> Answer | None:
    """The answer to the first question among `parts` that the profile answers: its FAQ entry,
    or the prices for a price question no entry answers. None when nothing matches."""
    entries = [entry.question for entry in business.faq]
    for clause in parts:
        if not is_question(clause):
            continue
        index = best_entry(clause.text, entries)
        if index is not None:
            return Answer("faq", business.faq[index].answer)
        if business.offerings and _PRICE.find(clause.keys) is not None:
            return Answer("prices", _prices(clause.text, business.offerings))
    return None
