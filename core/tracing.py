"""Tracing: OpenTelemetry spans of the work that matters (webhook, turn, model call, send), and
LangSmith, both switched on by their libraries' standard environment variables.

Spans go through OpenTelemetry's global tracer provider. `configure_tracing` (called once by the
served processes) installs an SDK provider with the OTLP/HTTP exporter when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise the API's no-op provider stays, and a span costs
next to nothing. Tests install an in-memory exporter on the global provider instead.

The span helpers put the app's attributes under `wa.` (`wa.channel`, `wa.contact` masked as in the
logs, `wa.outcome`); the model call follows OpenTelemetry's `gen_ai.` conventions. The model call's
span comes from a LangChain callback (`ModelCallSpans`) rather than an instrumentation of the
`openai` package: the agents call the model through LangChain (structured output, tools), whose
callbacks see every call whatever the transport.

The OTEL_* and LANGSMITH_* settings are also handed to the process environment (when set there
or in `.env`), because the OpenTelemetry SDK and LangSmith read their variables from it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from pydantic import SecretStr

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult

    from core.config import Settings

__all__ = [
    "MODEL_CALL_SPANS",
    "ModelCallSpans",
    "configure_tracing",
    "in_span",
    "set_outcome",
    "span",
    "traced",
]

TRACER_NAME = "wa-sales-agent"
T = TypeVar("T")
P = ParamSpec("P")

# The settings the libraries read from the environment themselves.
_HANDED_OVER = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "LANGSMITH_TRACING",
    "LANGSMITH_API_KEY",
    "LANGSMITH_PROJECT",
    "LANGSMITH_ENDPOINT",
)


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    return {f"wa.{key}": value for key, value in values.items() if value is not None}


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span named `name` around the block, current inside it, attributes under `wa.`; an
    exception leaving the block is recorded on it."""
    tracer = trace.get_tracer(TRACER_NAME)
    with tracer.start_as_current_span(name, attributes=_attributes(attributes)) as current:
        yield current


async def in_span(name: str, work: Awaitable[T], **attributes: Any) -> T:
    """`await work` inside `span(name, ...)`: a call site wraps its work in one line."""
    with span(name, **attributes):
        return await work


def traced(
    name: str, **attributes: Any
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function (a route) to run inside `span(name, ...)`; its signature is
    kept, so FastAPI still sees the route's parameters."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            with span(name, **attributes):
                return await function(*args, **kwargs)

        return run

    return decorate


def set_outcome(outcome: str) -> None:
    """Name the outcome of the current span (a webhook's `buffered`, `duplicate`...)."""
    trace.get_current_span().set_attribute("wa.outcome", outcome)


class ModelCallSpans(BaseCallbackHandler):
    """A LangChain callback that wraps each chat model call in a client span (`chat <model>`),
    a child of whatever span is current (the turn's)."""

    run_inline = True  # called in the caller's context, so the turn's span is the parent

    def __init__(self) -> None:
        self._spans: dict[UUID, Span] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        model = str(params.get("model") or params.get("model_name") or "model")
        self._spans[run_id] = trace.get_tracer(TRACER_NAME).start_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": model,
            },
        )

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        current = self._spans.pop(run_id, None)
        if current is None:
            return
        usage = (response.llm_output or {}).get("token_usage") or {}
        if isinstance(usage, dict):
            for key, attribute in (
                ("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
            ):
                if isinstance(usage.get(key), int):
                    current.set_attribute(attribute, usage[key])
        current.end()

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        current = self._spans.pop(run_id, None)
        if current is None:
            return
        current.record_exception(error)
        current.set_status(Status(StatusCode.ERROR, type(error).__name__))
        current.end()


MODEL_CALL_SPANS = ModelCallSpans()
"""The one handler every chat model of the process carries (`integrations.llm`)."""


def configure_tracing(settings: Settings) -> bool:
    """Hand the tracing settings to the environment and, with `OTEL_EXPORTER_OTLP_ENDPOINT` set,
    export spans over OTLP/HTTP; True when spans are exported. Call once per process."""
    for name in _HANDED_OVER:
        value = getattr(settings, name)
        if value is None or value is False:
            continue
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        os.environ.setdefault(name, "true" if value is True else text)
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT is None:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": settings.OTEL_SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True
