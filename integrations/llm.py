"""The chat models of the agents: `langchain-openai`'s `ChatOpenAI` against any OpenAI-compatible
server (`OPENAI_BASE_URL`), one model per agent (`LLM_MODEL_<AGENT>` overrides `LLM_MODEL`).

No key means no model: callers get None and the graph runs its deterministic fallback policy
instead, so `make run` works with nothing configured. The Chat Completions API is pinned
(`use_responses_api=False`) because it is the one every OpenAI-compatible server speaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from langchain_openai import ChatOpenAI

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings

__all__ = ["AGENT_NAMES", "ModelFactory", "chat_model", "model_factory"]

AGENT_NAMES: tuple[str, ...] = ("greeting", "qualification", "scheduling", "handoff", "summary")
"""Every name a model is asked for; `summary` is the summarization call."""

ModelFactory = Callable[[str], "BaseChatModel | None"]
"""Agent name -> its chat model, or None to use the fallback policy for that agent."""


def chat_model(settings: Settings, agent: str) -> ChatOpenAI | None:
    """The chat model of one agent, or None when no API key is configured."""
    if settings.OPENAI_API_KEY is None:
        return None
    return ChatOpenAI(
        model=settings.model_for(agent),
        api_key=settings.OPENAI_API_KEY,
        base_url=str(settings.OPENAI_BASE_URL) if settings.OPENAI_BASE_URL else None,
        timeout=settings.LLM_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
        use_responses_api=False,
    )


def model_factory(settings: Settings) -> ModelFactory:
    """A factory that builds each agent's model once from `settings`."""
    cache: dict[str, BaseChatModel | None] = {}

    def build(agent: str) -> BaseChatModel | None:
        if agent not in cache:
            cache[agent] = chat_model(settings, agent)
        return cache[agent]

    return build
