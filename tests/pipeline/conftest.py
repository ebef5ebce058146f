"""Fixtures of the pipeline tests: the Meta stand-in that scheduled messages are sent to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import MetaStandIn


@pytest.fixture(scope="module")
def meta_server() -> Iterator[tuple[MetaStandIn, str]]:
    stand_in = MetaStandIn()
    with ThreadedServer(stand_in.app()) as server:
        yield stand_in, server.url


@pytest.fixture
def meta(meta_server: tuple[MetaStandIn, str]) -> Iterator[MetaStandIn]:
    """The stand-in, with nothing recorded before or after the test."""
    meta_server[0].reset()
    yield meta_server[0]
    meta_server[0].reset()
