"""The chat models of the agents: `langchain-openai`'s `ChatOpenAI` against any OpenAI-compatible
server (`OPENAI_BASE_URL`), one model per agent (`LLM_MODEL_<AGENT>` overrides `LLM_MODEL`).

No key means no model: callers get None and the graph runs its deterministic fallback policy
instead, so `make run` works with nothing configured. The Chat Completions API is pinned
(`use_responses_api=False`) because it is the one every OpenAI-compatible server speaks.

The app gives every model (and the speech client) one `openai.DefaultAioHttpClient` (`http_client`):
the `openai` SDK's own client on aiohttp instead of its default httpx transport, which costs a
third of the CPU per call here (issue #5's turns/s); timeouts and retries stay the SDK's. Every
model carries `core.tracing.MODEL_CALL_SPANS`: each call is an OpenTelemetry span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import openai
from langchain_openai import ChatOpenAI

from core.tracing import MODEL_CALL_SPANS

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings

__all__ = ["AGENT_NAMES", "ModelFactory", "chat_model", "http_client", "model_factory"]

AGENT_NAMES: tuple[str, ...] = ("greeting", "qualification", "scheduling", "handoff", "summary")
"""Every name a model is asked for; `summary` is the summarization call."""

ModelFactory = Callable[[str], "BaseChatModel | None"]
"""Agent name -> its chat model, or None to use the fallback policy for that agent."""


def http_client() -> Any:
    """The HTTP client for the `openai` SDK (aiohttp underneath); close it with `aclose()`."""
    return openai.DefaultAioHttpClient()


def chat_model(settings: Settings, agent: str, *, http: Any = None) -> ChatOpenAI | None:
    """The chat model of one agent, or None when no API key is configured. `http`: an
    `http_client()` to share (None: langchain-openai's own default client)."""
    if settings.OPENAI_API_KEY is None:
        return None
    return ChatOpenAI(
        model=settings.model_for(agent),
        api_key=settings.OPENAI_API_KEY,
        base_url=str(settings.OPENAI_BASE_URL) if settings.OPENAI_BASE_URL else None,
        timeout=settings.LLM_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
        use_responses_api=False,
        http_async_client=http,
        callbacks=[MODEL_CALL_SPANS],  # a span per call (core.tracing)
    )


def model_factory(settings: Settings, *, http: Any = None) -> ModelFactory:
    """A factory that builds each agent's model once from `settings` (on `http`, if given)."""
    cache: dict[str, BaseChatModel | None] = {}

    def build(agent: str) -> BaseChatModel | None:
        if agent not in cache:
            cache[agent] = chat_model(settings, agent, http=http)
        return cache[agent]

    return build
