"""Follow-ups to a lead who goes quiet in the middle of qualification (issue #17), with the real
lead store (which arms them in the statement that records the lead's message), outbox worker and
Meta stand-in, the clock moved by the test: at most `FOLLOWUP_MAX`, `FOLLOWUP_AFTER_HOURS` apart;
none to a lead who answered, opted out, was handed over or disqualified; free text inside the
24-hour window, the template outside it (undeliverable without one); never in the lead's quiet
hours. Each outcome is counted."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from prometheus_client import REGISTRY

from domain.events import HandoffEvent, LeadUpdate, Stage
from domain.lead import LeadProfile, Need, Qualification
from domain.texts import text
from integrations.whatsapp.types import InboundMessage
from pipeline.scheduled import quiet_until
from tests.utils.scheduled import Clock, Scheduled, scheduled_parts, texts_to
from tests.utils.whatsapp_stand_ins import MetaStandIn

NUMBER = "+34600111222"
"""A Madrid number: its quiet hours are 21:00-08:00 Madrid time (UTC+1 in January)."""
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
NUDGE = text("follow_up.nudge", "en", name=" Ana")
ids = itertools.count(1)


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY + timedelta(hours=9))  # 10:00 in Madrid


async def parts_for(
    pool: asyncpg.Pool, http: aiohttp.ClientSession, meta_server: tuple[MetaStandIn, str],
    clock: Clock, tmp_path: Path, **overrides: object,
) -> Scheduled:
    values: dict[str, object] = {"templates": {"followup": "still_interested"}} | overrides
    return await scheduled_parts(pool, http, meta_server[1], clock, tmp_path, **values)  # type: ignore[arg-type]


@pytest.fixture
async def parts(
    pool: asyncpg.Pool, send_http: aiohttp.ClientSession, meta_server: tuple[MetaStandIn, str],
    clock: Clock, tmp_path: Path,
) -> Scheduled:
    return await parts_for(pool, send_http, meta_server, clock, tmp_path)


def update(
    stage: Stage = "qualification", qualification: Qualification | None = None
) -> LeadUpdate:
    return LeadUpdate(
        thread_id=f"meta:{NUMBER}", channel="meta", contact=NUMBER, profile_name="Ana",
        stage=stage, summary="",
        profile=LeadProfile(name="Ana", language="en", need=Need(words="a CRM")),
        qualification=qualification,
    )


async def lead_writes(parts: Scheduled, clock: Clock, words: str = "We need a CRM") -> None:
    """The lead writes now (recorded as the pipeline records it) and the lead row says they are
    being qualified (as the graph's turn would)."""
    await parts.store.contacts.record_inbound(InboundMessage(
        channel="meta", contact=NUMBER, message_id=f"wamid.F{next(ids)}", timestamp=clock(),
        kind="text", text=words, profile_name="Ana",
    ))
    await parts.store.sink.lead_updated(update())


async def run_at(parts: Scheduled, clock: Clock, when: datetime) -> None:
    clock.at(when)
    await parts.outbox.run_once()


def count(outcome: str, reason: str = "") -> float:
    value = REGISTRY.get_sample_value(
        "wa_scheduled_messages_total",
        {"kind": "follow_up", "outcome": outcome, "reason": reason},
    )
    return value or 0.0


async def test_a_silent_lead_gets_followup_max_follow_ups_then_none(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    sent, answered = count("sent"), count("answered")
    start = clock()
    await lead_writes(parts, clock)
    await run_at(parts, clock, start + timedelta(hours=3, minutes=59))
    assert texts_to(meta, NUMBER) == []
    await run_at(parts, clock, start + timedelta(hours=4))
    assert texts_to(meta, NUMBER) == [NUDGE]
    await run_at(parts, clock, start + timedelta(hours=8))
    assert texts_to(meta, NUMBER) == [NUDGE, NUDGE]
    await run_at(parts, clock, start + timedelta(hours=12))
    await run_at(parts, clock, start + timedelta(days=2))
    assert texts_to(meta, NUMBER) == [NUDGE, NUDGE]  # FOLLOWUP_MAX=2
    assert count("sent") == sent + 2
    # The lead answers the follow-up: counted, and a new quiet stretch starts from there.
    await lead_writes(parts, clock, "Sorry, busy week! Yes, still interested")
    assert count("answered") == answered + 1


async def test_a_follow_up_goes_to_the_number_as_the_provider_wrote_it(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    # Meta writes a Mexican mobile as 52 1 + ten digits and delivers only to that form; the
    # contact is stored under the canonical number.
    canonical, wa_id = "+525512345678", "+5215512345678"
    await parts.store.contacts.record_inbound(InboundMessage(
        channel="meta", contact=canonical, address=wa_id, message_id=f"wamid.F{next(ids)}",
        timestamp=clock(), kind="text", text="We need a CRM", profile_name="Ana",
    ))
    await parts.store.sink.lead_updated(LeadUpdate(
        thread_id=f"meta:{canonical}", channel="meta", contact=canonical, profile_name="Ana",
        stage="qualification", summary="",
        profile=LeadProfile(name="Ana", language="en", need=Need(words="a CRM")),
    ))
    await run_at(parts, clock, clock() + timedelta(hours=6))  # 09:00 in Mexico City
    assert texts_to(meta, wa_id) == [NUDGE]
    assert texts_to(meta, canonical) == []


async def test_no_follow_up_to_a_lead_who_answered(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    start = clock()
    await lead_writes(parts, clock)
    await run_at(parts, clock, start + timedelta(hours=2))
    await lead_writes(parts, clock, "Budget is about 5k")
    await run_at(parts, clock, start + timedelta(hours=4))
    await run_at(parts, clock, start + timedelta(hours=5, minutes=59))
    assert texts_to(meta, NUMBER) == []  # the answer moved the follow-up on
    await run_at(parts, clock, start + timedelta(hours=6))
    assert texts_to(meta, NUMBER) == [NUDGE]  # four hours after the answer


async def test_no_follow_up_after_an_opt_out(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    skipped = count("skipped", "opted_out")
    await lead_writes(parts, clock)
    await parts.store.contacts.set_opt_out("meta", NUMBER, True)
    await run_at(parts, clock, clock() + timedelta(hours=4))
    assert texts_to(meta, NUMBER) == []
    assert count("skipped", "opted_out") == skipped + 1


async def test_no_follow_up_after_a_handoff(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    skipped = count("skipped", "handed_over")
    await lead_writes(parts, clock)
    lead = update()
    await parts.store.sink.handed_off(HandoffEvent(
        thread_id=lead.thread_id, channel="meta", contact=NUMBER, profile_name="Ana",
        reason="requested", at=clock(), profile=lead.profile, summary="",
    ))
    await run_at(parts, clock, clock() + timedelta(hours=4))
    assert texts_to(meta, NUMBER) == []
    assert count("skipped", "handed_over") == skipped + 1


async def test_no_follow_up_to_a_disqualified_lead(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    skipped = count("skipped", "lead_disqualified")
    await lead_writes(parts, clock)
    await parts.store.sink.lead_updated(update(
        "closed", Qualification(score=5, fit="disqualified", reasons=("student",)),
    ))
    await run_at(parts, clock, clock() + timedelta(hours=4))
    assert texts_to(meta, NUMBER) == []
    assert count("skipped", "lead_disqualified") == skipped + 1


async def test_outside_the_window_only_the_template(
    pool: asyncpg.Pool, send_http: aiohttp.ClientSession,
    meta_server: tuple[MetaStandIn, str], meta: MetaStandIn, clock: Clock, tmp_path: Path,
) -> None:
    parts = await parts_for(
        pool, send_http, meta_server, clock, tmp_path, follow_up_after=timedelta(hours=13)
    )
    start = clock.at(MONDAY + timedelta(hours=6))()  # 07:00 in Madrid
    await lead_writes(parts, clock)
    await run_at(parts, clock, start + timedelta(hours=13))  # 20:00 in Madrid, 13 h: free text
    await run_at(parts, clock, start + timedelta(hours=26))  # 26 h after: the window has closed
    assert texts_to(meta, NUMBER) == [NUDGE, "template:still_interested:Nimbus CRM"]


async def test_outside_the_window_without_a_template_it_is_recorded_undeliverable(
    pool: asyncpg.Pool, send_http: aiohttp.ClientSession,
    meta_server: tuple[MetaStandIn, str], meta: MetaStandIn, clock: Clock, tmp_path: Path,
) -> None:
    parts = await parts_for(
        pool, send_http, meta_server, clock, tmp_path, templates={},
        follow_up_after=timedelta(hours=25),
    )
    skipped = count("skipped", "window_closed")
    await lead_writes(parts, clock)
    await run_at(parts, clock, clock() + timedelta(hours=25))
    assert texts_to(meta, NUMBER) == []
    assert count("skipped", "window_closed") == skipped + 1
    async with pool.acquire() as conn:
        kinds = await conn.fetch("SELECT kind, text FROM transcript WHERE direction = 'out'")
    assert [(row["kind"], row["text"]) for row in kinds] == [("undeliverable", NUDGE)]


async def test_nothing_is_sent_in_the_leads_quiet_hours(
    parts: Scheduled, meta: MetaStandIn, clock: Clock
) -> None:
    deferred = count("deferred", "quiet_hours")
    start = clock.at(MONDAY + timedelta(hours=17, minutes=30))()  # 18:30 in Madrid
    await lead_writes(parts, clock)
    await run_at(parts, clock, start + timedelta(hours=4))  # 22:30 in Madrid: held back
    assert texts_to(meta, NUMBER) == []
    assert count("deferred", "quiet_hours") == deferred + 1
    eight = datetime(2030, 1, 8, 8, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    await run_at(parts, clock, eight - timedelta(minutes=1))
    assert texts_to(meta, NUMBER) == []
    await run_at(parts, clock, eight)
    assert texts_to(meta, NUMBER) == [NUDGE]


QUIET = (time(21), time(8))


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ("2030-01-07T20:59", None),
        ("2030-01-07T21:00", "2030-01-08T08:00"),
        ("2030-01-07T23:30", "2030-01-08T08:00"),
        ("2030-01-08T03:00", "2030-01-08T08:00"),
        ("2030-01-08T08:00", None),
        ("2030-03-31T01:30", "2030-03-31T08:00"),  # the night daylight saving time starts
    ],
)
def test_quiet_until_is_the_end_of_the_leads_night(local: str, until: str | None) -> None:
    zone = ZoneInfo("Europe/Madrid")
    now = datetime.fromisoformat(local).replace(tzinfo=zone)
    expected = datetime.fromisoformat(until).replace(tzinfo=zone) if until else None
    assert quiet_until(now.astimezone(UTC), zone, QUIET) == expected


def test_quiet_hours_within_one_day() -> None:
    zone = ZoneInfo("UTC")
    lunch = (time(12), time(14))
    assert quiet_until(datetime(2030, 1, 7, 13, tzinfo=UTC), zone, lunch) == datetime(
        2030, 1, 7, 14, tzinfo=zone
    )
    assert quiet_until(datetime(2030, 1, 7, 15, tzinfo=UTC), zone, lunch) is None
