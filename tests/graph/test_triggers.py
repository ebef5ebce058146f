"""Handoff trigger rules: each fires on its own, none fires when it should not."""

from __future__ import annotations

from typing import Any

import pytest

from graph.triggers import evaluate, next_streak

BASE: dict[str, Any] = {
    "stage": "qualification",
    "booked_now": False,
    "wants_human": False,
    "texts": ["ok"],
    "confidence": 0.9,
    "streak": 0,
    "confidence_threshold": 0.7,
    "unresolved_limit": 3,
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"booked_now": True}, "booked"),
        ({"wants_human": True}, "requested"),
        ({"texts": ["/human"]}, "requested"),
        ({"texts": ["can I speak to a person?"]}, "requested"),
        ({"texts": ["/humain"]}, "requested"),
        # A hint is the model's to decide: only its `wants_human` hands off.
        ({"texts": ["can I talk to someone about pricing?"]}, None),
        ({"texts": ["can I talk to someone about pricing?"], "wants_human": True}, "requested"),
        ({"texts": ["we need software for a call center where customers speak to an operator"]},
         None),
        ({"streak": 3}, "unresolved"),
        ({"streak": 4}, "unresolved"),
        ({"streak": 2}, None),
        ({"confidence": 0.69}, "low_confidence"),
        ({"confidence": 0.7}, None),
        ({"confidence": 0.0}, "low_confidence"),
        ({"confidence": None}, None),  # fallback turn
        ({"stage": "greeting", "confidence": 0.5}, None),
        ({"stage": "scheduling", "confidence": 0.5}, "low_confidence"),
        ({"stage": "handoff", "confidence": 0.5}, "low_confidence"),
        ({"stage": "greeting", "wants_human": True}, "requested"),
        ({"stage": "greeting", "streak": 3}, "unresolved"),
        # Precedence: booked > requested > unresolved > low confidence.
        ({"booked_now": True, "wants_human": True}, "booked"),
        ({"wants_human": True, "streak": 3, "confidence": 0.1}, "requested"),
        ({"streak": 3, "confidence": 0.1}, "unresolved"),
        ({"confidence_threshold": 0.95}, "low_confidence"),
        ({"unresolved_limit": 1, "streak": 1}, "unresolved"),
        # The fallback policy gave up: unresolved, not a request the lead never made.
        ({"stuck": True}, "unresolved"),
        ({"stuck": True, "wants_human": True}, "requested"),
    ],
)
def test_evaluate(changes: dict[str, Any], expected: str | None) -> None:
    assert evaluate(**(BASE | changes)) == expected


@pytest.mark.parametrize(
    ("streak", "resolved", "expected"),
    [(0, False, 1), (2, False, 3), (2, True, 0), (0, True, 0), (2, None, 2), (0, None, 0)],
)
def test_next_streak(streak: int, resolved: bool | None, expected: int) -> None:
    assert next_streak(streak, resolved) == expected


def test_two_unresolved_then_one_resolved_does_not_fire() -> None:
    streak = 0
    for resolved in (False, False, True, False, False):
        streak = next_streak(streak, resolved)
        assert evaluate(**(BASE | {"streak": streak})) is None
