"""The funnel's figures and its CSV export, after real conversations through the app, and the
pieces the dashboard is drawn with."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from console.charts import bar_chart, column_chart
from console.views import reply_window
from integrations.leads.funnel import funnel_steps
from tests.console.test_auth import AGENT, console_settings, hand_over
from tests.utils.console import add_user, csrf_of, signed_in
from tests.utils.e2e import StandIns, running

OTHER = "+34612345678"


def rows(text: str) -> dict[tuple[str, str], str]:
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == ["section", "name", "value", "share"]
    return {(row["section"], row["name"]): row["value"] for row in reader}


async def test_the_csv_export_counts_the_period_and_follows_an_outcome(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        first = await hand_over(e2e)
        await hand_over(e2e, contact=OTHER, name="Luis")
        agent = await signed_in(e2e.app, AGENT, await add_user(e2e.app, email=AGENT, role="agent"))

        before = await agent.get("/console/funnel.csv")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/csv")
        assert before.headers["content-disposition"].startswith('attachment; filename="funnel-')
        figures = rows(before.text)
        assert figures[("status", "handed_off")] == "2"
        assert figures[("status", "won")] == "0"
        assert figures[("funnel", "leads")] == "2"
        assert figures[("funnel", "handed_off")] == "2"
        assert figures[("handoff_reason", "requested")] == "2"
        assert figures[("channel_leads", "meta")] == "2"
        assert float(figures[("reply_time", "median_bot_first_reply_seconds")]) >= 0
        assert figures[("reply_time", "median_human_first_reply_seconds")] == ""

        page = await agent.get(f"/console/c/{first}")
        token = csrf_of(page.text)
        sent = await agent.post(f"/console/c/{first}/reply", data={"csrf": token, "text": "Hola!"})
        assert sent.headers["location"].endswith("done=replied")
        won = await agent.post(
            f"/console/c/{first}/outcome", data={"csrf": token, "outcome": "won"}
        )
        assert won.headers["location"].endswith("done=won")

        after = rows((await agent.get("/console/funnel.csv")).text)
        assert after[("status", "won")] == "1" and after[("status", "handed_off")] == "1"
        assert after[("funnel", "won")] == "1" and after[("channel_won", "meta")] == "1"
        assert float(after[("reply_time", "median_human_first_reply_seconds")]) >= 0

        # A period without those leads, and another channel, count nothing.
        empty = rows((await agent.get(
            "/console/funnel.csv?since=2020-01-01&until=2020-01-31"
        )).text)
        assert empty[("funnel", "leads")] == "0" and empty[("period", "until")] == "2020-01-31"
        assert rows((await agent.get("/console/funnel.csv?channel=twilio")).text)[
            ("funnel", "leads")
        ] == "0"
        page = await agent.get("/console/funnel")
        assert page.status_code == 200 and '<svg class="chart"' in page.text
        assert 'id="status-won">1<' in page.text
        await agent.aclose()


def test_funnel_steps_are_cumulative_with_conversions() -> None:
    steps = funnel_steps({1: 4, 2: 3, 4: 2, 5: 1})
    assert [(s.name, s.count) for s in steps] == [
        ("leads", 10), ("qualifying", 6), ("qualified", 3), ("handed_off", 3), ("won", 1),
    ]
    assert [s.conversion for s in steps] == [None, 0.6, 0.5, 1.0, 1 / 3]
    assert all(s.count == 0 and s.conversion is None for s in funnel_steps({}))


def test_charts_are_svg_with_escaped_labels() -> None:
    chart = bar_chart([("<b>x</b>", 3), ("y", 0)], title="T & <t>", notes=["(50%)", ""])
    assert chart.startswith('<svg class="chart"') and "<b>" not in chart
    assert "&lt;b&gt;x&lt;/b&gt;" in chart and "T &amp; &lt;t&gt;" in chart and "(50%)" in chart
    assert "style=" not in chart and "<script" not in chart
    assert "no bookings" in column_chart([], title="Bookings")
    assert column_chart([("01 Dec", 2)], title="B").count("<rect") == 1


def test_the_reply_window_is_24_hours_from_the_leads_last_message() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    window = reply_window(now - timedelta(hours=20), now=now)
    assert window.open and window.left == timedelta(hours=4) and window.reason is None
    closed = reply_window(now - timedelta(hours=25), now=now)
    assert not closed.open and closed.reason and "closed 1 h ago" in closed.reason
    assert not reply_window(None, now=now).open
    assert "opted out" in (reply_window(now, now=now, opted_out=True).reason or "")
