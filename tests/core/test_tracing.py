"""OpenTelemetry spans of one conversation turn, seen through an in-memory exporter, and the
hand-over of the standard tracing variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.tracing import configure_tracing
from tests.graph.fakes import agent_json
from tests.utils.e2e import (
    CONTACT,
    StandIns,
    llm_settings,
    running,
    running_stand_ins,
    settings_for,
)


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    with running_stand_ins() as servers:
        yield servers


async def test_one_turn_makes_webhook_turn_model_and_send_spans(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any,
    spans: InMemorySpanExporter,
) -> None:
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    llm.push(json=agent_json("Hi Ana! What do you need?"))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("Hi, I'm Ana")
        await e2e.wait_meta_replies(1)
    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    webhook, turn, send = by_name["webhook"], by_name["turn"], by_name["send"]
    (model,) = [s for s in finished if s.name.startswith("chat ")]

    assert webhook.attributes is not None and turn.attributes is not None
    assert webhook.attributes["wa.channel"] == "meta"
    assert webhook.attributes["wa.outcome"] == "buffered"
    assert turn.attributes["wa.channel"] == "meta"
    assert model.attributes is not None
    assert model.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    # The model call and the send are children of the turn, in its trace.
    assert turn.context is not None
    for child in (model, send):
        assert child.parent is not None and child.parent.span_id == turn.context.span_id
        assert child.context is not None and child.context.trace_id == turn.context.trace_id
    assert send.attributes is not None and send.attributes["wa.parts"] == 1
    # Numbers stay masked in spans as in logs.
    assert all(CONTACT not in str(s.attributes) for s in finished)


def test_tracing_settings_reach_the_libraries_environment(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("LANGSMITH_TRACING", "LANGSMITH_API_KEY", "LANGSMITH_PROJECT", "OTEL_SERVICE_NAME")
    for name in names:
        monkeypatch.setenv(name, "")  # recorded, so that the test's values are removed after it
        monkeypatch.delenv(name)
    settings = make_settings(
        LANGSMITH_TRACING=True, LANGSMITH_API_KEY="lsv2-key", LANGSMITH_PROJECT="sales"
    )
    assert configure_tracing(settings) is False  # no OTLP endpoint: nothing exported
    assert os.environ["LANGSMITH_TRACING"] == "true"
    assert os.environ["LANGSMITH_API_KEY"] == "lsv2-key"
    assert os.environ["LANGSMITH_PROJECT"] == "sales"
