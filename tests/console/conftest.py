"""Fixtures of the console's tests: the WhatsApp stand-ins the app replies through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.utils.e2e import StandIns, running_stand_ins


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    with running_stand_ins() as servers:
        yield servers
