"""The funnel dashboard for a chosen period and channel, drawn as SVG charts on the server, and
the same figures as CSV. Days are the business's (`TIMEZONE`): a period of dates runs from the
first day's midnight to the midnight after the last day."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.charts import bar_chart, column_chart
from console.deps import ConsoleDep, SessionDep
from console.inbox import CHANNELS
from console.pages import render
from console.state import Console
from console.views import HANDOFF_LABELS, STATUS_LABELS, STEP_LABELS
from integrations.leads.funnel import Funnel

__all__ = ["funnel_csv", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

DEFAULT_DAYS = 30
MAX_DAYS = 3660


def _period(
    console: Console, since: date | None, until: date | None
) -> tuple[date, date, datetime, datetime]:
    """The dates shown and the instants queried; the last day is included."""
    zone = ZoneInfo(console.settings.TIMEZONE)
    today = console.clock().astimezone(zone).date()
    last = until or today
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS))
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    return first, last, start, end


async def _funnel(
    console: Console, since: date | None, until: date | None, channel: str | None
) -> tuple[date, date, Funnel]:
    first, last, start, end = _period(console, since, until)
    figures = await console.funnel.funnel(
        since=start, until=end, channel=channel if channel in CHANNELS else None,
        timezone=console.settings.TIMEZONE,
    )
    return first, last, figures


Day = Annotated[date | None, Query()]
ChannelQuery = Annotated[str | None, Query(max_length=20)]


@router.get("/funnel")
async def funnel_page(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    since: Day = None,
    until: Day = None,
    channel: ChannelQuery = None,
) -> HTMLResponse:
    """Leads by status, the funnel's conversions, handoff reasons, reply times, bookings."""
    first, last, figures = await _funnel(console, since, until, channel)
    charts = {
        "status": bar_chart(
            [(STATUS_LABELS[s], n) for s, n in figures.by_status.items()],
            title="Leads by status",
        ),
        "steps": bar_chart(
            [(STEP_LABELS[step.name], step.count) for step in figures.steps],
            title="Funnel",
            notes=[
                f"({step.conversion:.0%})" if step.conversion is not None else ""
                for step in figures.steps
            ],
        ),
        "reasons": bar_chart(
            [(HANDOFF_LABELS.get(r, r), n) for r, n in figures.handoff_reasons.items()],
            title="Handoff reasons",
        ),
        "weeks": column_chart(
            [(week.strftime("%d %b"), n) for week, n in figures.bookings_per_week],
            title="Bookings per week",
        ),
        "channels": bar_chart(
            [(name, leads) for name, (leads, _won) in figures.by_channel.items()],
            title="Leads per channel",
            notes=[f"({won} won)" for _leads, won in figures.by_channel.values()],
        ),
    }
    return render(
        request, "funnel.html", session=session, f=figures, charts=charts, since=first,
        until=last, channel=figures.channel, channels=CHANNELS,
        query=request.url.query,
    )


@router.get("/funnel.csv")
async def funnel_download(
    console: ConsoleDep,
    session: SessionDep,
    since: Day = None,
    until: Day = None,
    channel: ChannelQuery = None,
) -> Response:
    """The dashboard's figures as CSV (`section,name,value,share`)."""
    first, last, figures = await _funnel(console, since, until, channel)
    name = f"funnel-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        funnel_csv(figures, since=first, until=last),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def funnel_csv(figures: Funnel, *, since: date, until: date) -> str:
    """One row per figure: `section,name,value,share` (share: the step's conversion)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "value", "share"])
    writer.writerow(["period", "since", since.isoformat(), ""])
    writer.writerow(["period", "until", until.isoformat(), ""])
    writer.writerow(["period", "channel", figures.channel or "all", ""])
    for status, count in figures.by_status.items():
        writer.writerow(["status", status, count, ""])
    for step in figures.steps:
        share = "" if step.conversion is None else f"{step.conversion:.4f}"
        writer.writerow(["funnel", step.name, step.count, share])
    for reason, count in figures.handoff_reasons.items():
        writer.writerow(["handoff_reason", reason, count, ""])
    for label, value in (
        ("median_bot_first_reply_seconds", figures.median_bot_first_reply),
        ("median_human_first_reply_seconds", figures.median_human_first_reply),
    ):
        seconds = "" if value is None else f"{value.total_seconds():.1f}"
        writer.writerow(["reply_time", label, seconds, ""])
    for week, count in figures.bookings_per_week:
        writer.writerow(["bookings_per_week", week.isoformat(), count, ""])
    for channel, (leads, won) in figures.by_channel.items():
        writer.writerow(["channel_leads", channel, leads, ""])
        writer.writerow(["channel_won", channel, won, ""])
    return out.getvalue()

