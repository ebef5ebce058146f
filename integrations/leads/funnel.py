"""The sales funnel of a period, from the leads, handoffs and transcript: what the console's
dashboard draws and its CSV export holds.

A lead is counted in the period it was created in. The funnel's steps are cumulative: a lead
counts at every step up to the furthest it reached, read from what it left behind (an answered
question, the four BANT answers, a handoff or booking, the outcome), so the conversion between two
steps is never over 100 % and a lead that was handed over before its qualification ended still
counts as handed over. `lost` is an outcome, not a step: a lost lead counts up to where it got.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from integrations.leads.records import LEAD_STATUSES

__all__ = [
    "FUNNEL_STEPS",
    "Funnel",
    "FunnelQueries",
    "FunnelStep",
    "SELECT_BOOKINGS_PER_WEEK",
    "SELECT_BY_CHANNEL",
    "SELECT_BY_STATUS",
    "SELECT_HANDOFF_REASONS",
    "SELECT_MEDIAN_BOT_REPLY",
    "SELECT_MEDIAN_HUMAN_REPLY",
    "SELECT_STEP_LEVELS",
]

FUNNEL_STEPS: tuple[str, ...] = ("leads", "qualifying", "qualified", "handed_off", "won")
"""The steps in order; `SELECT_STEP_LEVELS` gives each lead the 1-based index it reached."""

# Every statement: $1 since, $2 until (a lead's created_at, a handoff's or message's at), $3 the
# channel or NULL for all; each joins `contacts AS c` for the channel.
_LEADS_IN_PERIOD = """
FROM leads AS l JOIN contacts AS c ON c.id = l.contact_id
WHERE l.created_at >= $1 AND l.created_at < $2 AND ($3::text IS NULL OR c.channel = $3)"""
SELECT_BY_STATUS = f"SELECT l.status, count(*) AS n {_LEADS_IN_PERIOD} GROUP BY l.status"
SELECT_BY_CHANNEL = f"""
SELECT c.channel, count(*) AS n, count(*) FILTER (WHERE l.status = 'won') AS won
{_LEADS_IN_PERIOD} GROUP BY c.channel ORDER BY c.channel"""
SELECT_STEP_LEVELS = f"""
SELECT level, count(*) AS n FROM (
    SELECT CASE
        WHEN l.status = 'won' THEN 5
        WHEN l.status IN ('handed_off', 'booked') OR l.booking_event_id IS NOT NULL
             OR EXISTS (SELECT 1 FROM handoffs AS h WHERE h.lead_id = l.id) THEN 4
        WHEN l.status = 'qualified'
             OR (l.need_words IS NOT NULL AND l.budget_words IS NOT NULL
                 AND l.authority_words IS NOT NULL AND l.timeline_words IS NOT NULL) THEN 3
        WHEN l.status <> 'new'
             OR COALESCE(l.need_words, l.budget_words, l.authority_words, l.timeline_words)
                IS NOT NULL THEN 2
        ELSE 1
    END AS level
    {_LEADS_IN_PERIOD}
) AS levels GROUP BY level"""
_HANDOFFS_IN_PERIOD = """
FROM handoffs AS h JOIN leads AS l ON l.id = h.lead_id JOIN contacts AS c ON c.id = l.contact_id
WHERE h.at >= $1 AND h.at < $2 AND ($3::text IS NULL OR c.channel = $3)"""
SELECT_HANDOFF_REASONS = f"""
SELECT h.reason, count(*) AS n {_HANDOFFS_IN_PERIOD} GROUP BY h.reason ORDER BY h.reason"""
# Bookings by the week they were made (a `booked` handoff), weeks starting on Monday in $4's zone.
SELECT_BOOKINGS_PER_WEEK = f"""
SELECT date_trunc('week', h.at AT TIME ZONE $4)::date AS week, count(*) AS n
{_HANDOFFS_IN_PERIOD} AND h.reason = 'booked'
GROUP BY week ORDER BY week"""
# Seconds from a contact's first message in the period to the bot's first reply after it.
SELECT_MEDIAN_BOT_REPLY = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM reply.at - first.at))
FROM (
    SELECT t.contact_id, min(t.at) AS at
    FROM transcript AS t JOIN contacts AS c ON c.id = t.contact_id
    WHERE t.direction = 'in' AND t.at >= $1 AND t.at < $2
      AND ($3::text IS NULL OR c.channel = $3)
    GROUP BY t.contact_id
) AS first
CROSS JOIN LATERAL (
    SELECT min(b.at) AS at FROM transcript AS b
    WHERE b.contact_id = first.contact_id AND b.author = 'bot' AND b.at >= first.at
) AS reply
WHERE reply.at IS NOT NULL"""
# Seconds from a handoff of the period to the first message a person of the team wrote after it.
SELECT_MEDIAN_HUMAN_REPLY = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM reply.at - h.at))
FROM handoffs AS h JOIN leads AS l ON l.id = h.lead_id JOIN contacts AS c ON c.id = l.contact_id
CROSS JOIN LATERAL (
    SELECT min(t.at) AS at FROM transcript AS t
    WHERE t.contact_id = l.contact_id AND t.author = 'human' AND t.at >= h.at
) AS reply
WHERE h.at >= $1 AND h.at < $2 AND ($3::text IS NULL OR c.channel = $3) AND reply.at IS NOT NULL"""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelStep:
    """One step of the funnel: how many leads reached it, and what share of the step before."""

    name: str
    count: int
    conversion: float | None
    """`count` over the previous step's (None for the first step, or after an empty step)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Funnel:
    """The funnel of one period (`since` <= t < `until`), of one channel or of all."""

    since: datetime
    until: datetime
    channel: str | None
    by_status: dict[str, int]
    """Leads created in the period by their status now, every status present (0 when none)."""
    steps: list[FunnelStep]
    handoff_reasons: dict[str, int]
    median_bot_first_reply: timedelta | None
    median_human_first_reply: timedelta | None
    bookings_per_week: list[tuple[date, int]]
    by_channel: dict[str, tuple[int, int]]
    """Channel -> (leads, won)."""

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


class FunnelQueries:
    """The funnel of a period (see the module docstring)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def funnel(
        self, *, since: datetime, until: datetime, channel: str | None = None, timezone: str = "UTC"
    ) -> Funnel:
        """Everything the dashboard shows for leads (handoffs, messages) of [since, until)."""
        args = (since, until, channel)
        async with self._pool.acquire() as conn:
            statuses = await conn.fetch(SELECT_BY_STATUS, *args)
            levels = await conn.fetch(SELECT_STEP_LEVELS, *args)
            reasons = await conn.fetch(SELECT_HANDOFF_REASONS, *args)
            weeks = await conn.fetch(SELECT_BOOKINGS_PER_WEEK, *args, timezone)
            channels = await conn.fetch(SELECT_BY_CHANNEL, *args)
            bot: float | None = await conn.fetchval(SELECT_MEDIAN_BOT_REPLY, *args)
            human: float | None = await conn.fetchval(SELECT_MEDIAN_HUMAN_REPLY, *args)
        counted = {row["status"]: row["n"] for row in statuses}
        return Funnel(
            since=since,
            until=until,
            channel=channel,
            by_status={status: counted.get(status, 0) for status in LEAD_STATUSES},
            steps=funnel_steps({row["level"]: row["n"] for row in levels}),
            handoff_reasons={row["reason"]: row["n"] for row in reasons},
            median_bot_first_reply=timedelta(seconds=bot) if bot is not None else None,
            median_human_first_reply=timedelta(seconds=human) if human is not None else None,
            bookings_per_week=[(row["week"], row["n"]) for row in weeks],
            by_channel={row["channel"]: (row["n"], row["won"]) for row in channels},
        )


def funnel_steps(levels: dict[int, int]) -> list[FunnelStep]:
    """The cumulative steps from how many leads stopped at each level (1-based)."""
    steps: list[FunnelStep] = []
    for index, name in enumerate(FUNNEL_STEPS, start=1):
        count = sum(n for level, n in levels.items() if level >= index)
        before = steps[-1].count if steps else None
        conversion = count / before if before else None
        steps.append(FunnelStep(name=name, count=count, conversion=conversion))
    return steps
