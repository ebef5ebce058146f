"""The model call of a turn: one chat completion answered as a pydantic model (OpenAI structured
outputs, strict schema), with or without the scheduling agent's tools, and what a failing call
raises (`LLM_ERRORS`), on which the agent falls back to the deterministic policy."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import openai
from langchain_core.exceptions import LangChainException
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables import Runnable

__all__ = ["LLM_ERRORS", "response_format", "structured_call", "structured_or_tool_calls"]

LLM_ERRORS: tuple[type[BaseException], ...] = (
    openai.OpenAIError,  # HTTP errors and timeouts after the client's own retries
    LangChainException,  # model errors, output parser errors
    ValidationError,  # JSON that does not parse or does not fit the output model
    httpx.HTTPError,
    ValueError,  # langchain's "no parsed field nor refusal"
)
"""What a failing model call raises; each makes the turn fall back instead of failing."""

Output = TypeVar("Output", bound=BaseModel)


@functools.cache
def response_format(output: type[BaseModel]) -> dict[str, Any]:
    """OpenAI's strict `json_schema` response format for `output`, built once per type.

    The schema is `openai.pydantic_function_tool`'s, which is what the client's own `parse`
    would send for `output` (`to_strict_json_schema`): the request is the same byte for byte."""
    tool = openai.pydantic_function_tool(output, name=output.__name__)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": output.__name__,
            "schema": tool["function"]["parameters"],
            "strict": True,
        },
    }


# (model, output type, tool names) -> the model bound to that response format and those tools;
# models live as long as the engine does.
_BOUND: dict[
    tuple[int, type[BaseModel], tuple[str, ...]], tuple[BaseChatModel, Runnable[Any, Any]]
] = {}


def _bound(
    model: BaseChatModel, output: type[BaseModel], tools: Sequence[Mapping[str, Any]] = ()
) -> Runnable[Any, Any]:
    key = (id(model), output, tuple(str(tool["function"]["name"]) for tool in tools))
    cached = _BOUND.get(key)
    if cached is not None and cached[0] is model:
        return cached[1]
    kwargs: dict[str, Any] = {"extra_body": {"response_format": response_format(output)}}
    if tools:
        kwargs["tools"] = [dict(tool) for tool in tools]
    runnable = model.bind(**kwargs)
    if len(_BOUND) > 256:  # engines rebuilt many times (tests): keep it bounded
        _BOUND.clear()
    _BOUND[key] = (model, runnable)
    return runnable


def _parsed(output: type[Output], message: object) -> Output:
    if not isinstance(message, BaseMessage) or not message.text.strip():
        raise ValueError(f"the model gave no {output.__name__} (empty answer or a refusal)")
    return output.model_validate_json(message.text)


async def structured_call(
    model: BaseChatModel, output: type[Output], messages: Sequence[BaseMessage]
) -> Output:
    """One chat completion answered as `output` (OpenAI structured outputs, strict schema).
    Raises one of `LLM_ERRORS` when the call or the parsing fails.

    Why not `with_structured_output`: it hands the pydantic class to `openai`'s `parse`, which
    regenerates the strict JSON schema and walks it through the client's parameter transform on
    every call: 60% of the client's CPU per call here (`make bench`, issue #5's turns/s). The
    format is built once and sent as `extra_body` (passed through as is); the answer is the
    message's JSON, validated by `output` as before. A refusal has no JSON: it fails the
    validation and the turn falls back, as it did."""
    return _parsed(output, await _bound(model, output).ainvoke(list(messages)))


async def structured_or_tool_calls(
    model: BaseChatModel,
    output: type[Output],
    messages: Sequence[BaseMessage],
    *,
    tools: Sequence[Mapping[str, Any]],
) -> Output | AIMessage:
    """One call with `tools` (OpenAI tool dicts, strict) bound next to the `output` format: the
    model's message when it calls tools (run them, append the results, call again), else its
    answer as `output`. Raises one of `LLM_ERRORS` like `structured_call`."""
    message = await _bound(model, output, tools).ainvoke(list(messages))
    if isinstance(message, AIMessage) and message.tool_calls:
        return message
    return _parsed(output, message)
