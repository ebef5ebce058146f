"""Fixtures of the WhatsApp channel tests: recorded payloads, stand-in servers, fast retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integrations.whatsapp.sender import RetryPolicy
from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import MetaStandIn, TwilioStandIn

DATA = Path(__file__).resolve().parents[2] / "data"


def load_meta(case: str) -> dict[str, Any]:
    """A recorded Meta webhook delivery, by case name (`tests/data/meta/<case>.json`)."""
    payload: dict[str, Any] = json.loads((DATA / "meta" / f"{case}.json").read_text("utf-8"))
    return payload


def load_twilio(case: str) -> dict[str, str]:
    """A recorded Twilio webhook form, by case name (`tests/data/twilio/<case>.json`)."""
    form: dict[str, str] = json.loads((DATA / "twilio" / f"{case}.json").read_text("utf-8"))
    return form


class Sleeps(list[float]):
    """A `RetryPolicy.sleep` that records the waits instead of sleeping."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, max_retry_after=60, sleep=sleeps)


@pytest.fixture(scope="session")
def twilio_server() -> Iterator[tuple[TwilioStandIn, str]]:
    stand_in = TwilioStandIn()
    with ThreadedServer(stand_in.app()) as server:
        yield stand_in, server.url


@pytest.fixture(scope="session")
def meta_server() -> Iterator[tuple[MetaStandIn, str]]:
    stand_in = MetaStandIn()
    with ThreadedServer(stand_in.app()) as server:
        yield stand_in, server.url


@pytest.fixture
def twilio_api(twilio_server: tuple[TwilioStandIn, str]) -> Iterator[TwilioStandIn]:
    stand_in, _ = twilio_server
    stand_in.reset()
    yield stand_in
    stand_in.reset()


@pytest.fixture
def meta_api(meta_server: tuple[MetaStandIn, str]) -> Iterator[MetaStandIn]:
    stand_in, _ = meta_server
    stand_in.reset()
    yield stand_in
    stand_in.reset()
