"""Presentation helpers of the console's templates, pure: labels, times, durations, and the
WhatsApp 24-hour window (computed from the lead's last message in the transcript)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from domain.contact import ContactMode

__all__ = [
    "HANDOFF_LABELS",
    "MODE_LABELS",
    "STATUS_LABELS",
    "REPLY_WINDOW",
    "STEP_LABELS",
    "ReplyWindow",
    "duration",
    "install_filters",
    "reply_window",
]

REPLY_WINDOW = timedelta(hours=24)
"""WhatsApp lets a business write freely within 24 hours of the lead's last message."""

MODE_LABELS: dict[str, str] = {
    ContactMode.BOT: "bot",
    ContactMode.WAITING: "waiting for a human",
    ContactMode.CALL_BOOKED: "call booked, waiting for a human",
    ContactMode.HUMAN: "human",
    ContactMode.RETURNING: "back to the bot at the next message",
    ContactMode.OPTED_OUT: "opted out",
}
STATUS_LABELS: dict[str, str] = {
    "new": "new", "qualifying": "qualifying", "qualified": "qualified", "nurture": "nurture",
    "disqualified": "disqualified", "handed_off": "handed off", "booked": "booked", "won": "won",
    "lost": "lost",
}
HANDOFF_LABELS: dict[str, str] = {
    "requested": "asked for a person",
    "low_confidence": "bot unsure",
    "unresolved": "unresolved questions",
    "booked": "call booked",
}
STEP_LABELS: dict[str, str] = {
    "leads": "leads", "qualifying": "answered a question", "qualified": "qualified (BANT)",
    "handed_off": "handed off or booked", "won": "won",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyWindow:
    """Whether the business may write a free-form message now, and for how long."""

    open: bool
    left: timedelta | None
    """Time left while open."""
    reason: str | None
    """Why replying is off, in a sentence for the page."""


def reply_window(
    last_inbound_at: datetime | None, *, now: datetime, opted_out: bool = False
) -> ReplyWindow:
    """The 24-hour window from the lead's last message (`last_inbound_at`)."""
    if opted_out:
        return ReplyWindow(
            open=False, left=None,
            reason="The lead opted out (STOP): nothing is sent until they write /start.",
        )
    if last_inbound_at is None:
        return ReplyWindow(
            open=False, left=None,
            reason="The lead has not written yet: WhatsApp lets a business write first only "
            "with an approved template.",
        )
    left = last_inbound_at + REPLY_WINDOW - now
    if left <= timedelta(0):
        return ReplyWindow(
            open=False, left=None,
            reason=f"The 24-hour window closed {duration(-left)} ago: WhatsApp lets a business "
            "write freely only within 24 hours of the lead's last message (after that, only "
            "approved templates).",
        )
    return ReplyWindow(open=True, left=left, reason=None)


def duration(value: timedelta | None) -> str:
    """`1 d 3 h`, `2 h 5 min`, `4 min`, `12 s`: the two largest units."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)} s"
    minutes, hours, days = seconds // 60 % 60, seconds // 3600 % 24, seconds // 86400
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def install_filters(env: jinja2.Environment) -> None:
    """The filters and globals the templates use."""

    def local(value: datetime | None, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M") -> str:
        if value is None:
            return "–"
        return value.astimezone(ZoneInfo(zone)).strftime(fmt)

    def label(value: Any, table: dict[str, str]) -> str:
        return table.get(str(value), str(value).replace("_", " "))

    env.filters["local"] = local
    env.filters["duration"] = duration
    env.filters["mode_label"] = lambda value: label(value, MODE_LABELS)
    env.filters["status_label"] = lambda value: label(value, STATUS_LABELS)
    env.filters["handoff_label"] = lambda value: label(value, HANDOFF_LABELS)
    env.filters["step_label"] = lambda value: label(value, STEP_LABELS)
    env.filters["percent"] = lambda value: "–" if value is None else f"{value:.0%}"
