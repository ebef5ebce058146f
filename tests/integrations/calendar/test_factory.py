"""The calendar the settings select: Google when configured, the local one otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from integrations.calendar.factory import calendar_from_settings
from integrations.calendar.google import GoogleCalendar
from integrations.calendar.local import LocalCalendar
from tests.utils.fake_google_calendar import FakeGoogleCalendar
from tests.utils.servers import ThreadedServer


@pytest.fixture
def fake() -> Iterator[tuple[FakeGoogleCalendar, str]]:
    server = FakeGoogleCalendar()
    with ThreadedServer(server.app) as running:
        yield server, running.url


def test_nothing_configured_gives_the_local_calendar(
    make_settings: Any, pool: asyncpg.Pool
) -> None:
    assert isinstance(calendar_from_settings(make_settings(), pool), LocalCalendar)


async def test_google_settings_give_a_working_google_calendar(
    make_settings: Any, pool: asyncpg.Pool, fake: tuple[FakeGoogleCalendar, str], tmp_path: Path
) -> None:
    server, url = fake
    settings = make_settings(
        GOOGLE_SERVICE_ACCOUNT_FILE=server.service_account_file(tmp_path, url),
        GOOGLE_CALENDAR_ID="sales@example.com",
        GOOGLE_DELEGATED_USER="boss@example.com",
        GOOGLE_API_ENDPOINT=url,
        TIMEZONE="Europe/Madrid",
    )
    calendar = calendar_from_settings(settings, pool)
    assert isinstance(calendar, GoogleCalendar)
    offered = await calendar.free_slots(after=datetime.now(UTC) + timedelta(days=1))
    assert len(offered) == 3
    assert server.requests_of("POST", "/calendar/v3/freeBusy")
    assert server.token_claims[0]["sub"] == "boss@example.com"
