"""Qualified, nurture or disqualified: the lead's score against the business's rules. Pure.

The code decides, from facts the lead stated (`domain.lead.LeadProfile`, each with the lead's own
words) and the business's `qualification` rules (`domain.business.Qualification`); the model
only reports which plain-language `disqualify_when` rule the lead's words meet, and even that
is checked against the lead's words before it counts (`agents.extraction`).

    score   25 per BANT item, less when an item tells against the lead (a budget under the
            minimum, someone else decides, a start beyond `max_timeline_months`); 0-100
    fit     disqualified  a `disqualify_when` rule was met (at any point of the conversation)
            nurture       BANT known, and no budget or under the minimum, or a later start
            qualified     BANT known and nothing against it: the graph moves on to scheduling
            None          still qualifying
"""

from __future__ import annotations

import datetime as dt
import re

from domain.business import Qualification as Rules
from domain.language import plain
from domain.lead import Fit, LeadProfile, Qualification

__all__ = ["NO_BUDGET", "assess"]

NO_BUDGET = re.compile(
    r"\b(?:no|zero|without|sin|sem|pas de|aucun|kein(?:en)?|nessun|senza) "
    r"(?:budget|presupuesto|orcamento|dinero|money|plata|dinheiro|geld|soldi)\b"
    r"|\b(?:no|don't|do not) have (?:a |any )?(?:budget|money)\b"
    r"|\bno tenemos (?:presupuesto|dinero)\b|\bnao temos (?:orcamento|dinheiro)\b"
)
"""An explicit "no budget" in the lead's words (normalized: lower case, no accents)."""


def _months_until(date: dt.date, today: dt.date) -> int:
    return (date.year - today.year) * 12 + date.month - today.month


def assess(
    profile: LeadProfile, rules: Rules, *, disqualified_by: str | None, today: dt.date
) -> Qualification:
    """The lead's qualification now (see the module docstring)."""
    score = 0
    reasons: list[str] = []
    later = False
    if profile.need is not None:
        score += 25
        reasons.append("need stated")
    budget = profile.budget
    if budget is not None:
        if budget.amount is not None and budget.currency == rules.currency:
            if budget.amount >= rules.min_budget:
                score += 25
                reasons.append(f"budget {budget.amount:,.0f} {budget.currency} meets the minimum")
            else:
                score += 5
                later = True
                reasons.append(
                    f"budget {budget.amount:,.0f} {budget.currency} under the minimum "
                    f"{rules.min_budget:,.0f} {rules.currency}"
                )
        elif NO_BUDGET.search(plain(budget.words)):
            later = True
            reasons.append("no budget")
        elif budget.amount is not None:
            score += 15
            reasons.append(f"budget in {budget.currency or 'an unknown currency'}")
        else:
            score += 15
            reasons.append("budget stated without an amount")
    authority = profile.authority
    if authority is not None:
        if authority.decides is False:
            score += 10
            reasons.append("someone else decides")
        else:
            score += 25
            reasons.append("decides" if authority.decides else "authority stated")
    timeline = profile.timeline
    if timeline is not None:
        if timeline.date is None:
            score += 15
            reasons.append("timeline stated without a date")
        elif _months_until(timeline.date, today) > rules.max_timeline_months:
            score += 5
            later = True
            reasons.append(f"starts after {rules.max_timeline_months} months")
        else:
            score += 25
            reasons.append(f"starts by {timeline.date.isoformat()}")
    fit: Fit | None = None
    if disqualified_by is not None:
        fit = "disqualified"
        score = min(score, 10)
        reasons.insert(0, f"not served: {disqualified_by}")
    elif profile.bant_complete:
        fit = "nurture" if later else "qualified"
    return Qualification(
        score=score, fit=fit, reasons=tuple(reasons), disqualified_by=disqualified_by
    )
