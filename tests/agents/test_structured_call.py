"""The one structured model call of the single-call agents, against the scripted server."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from agents.model_call import LLM_ERRORS, structured_call
from agents.qualification import AGENT
from tests.graph.fakes import agent_json
from tests.utils.scripted_llm import ScriptedLLM

MESSAGES = [SystemMessage("You qualify leads."), HumanMessage("We are 25 people, budget 300 EUR")]


def _model(llm: ScriptedLLM) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", api_key=SecretStr("sk-test"), base_url=llm.base_url, max_retries=0,
        use_responses_api=False,
    )


def _nodes(value: Any) -> list[dict[str, Any]]:
    """Every JSON object inside a schema, itself included."""
    if isinstance(value, dict):
        return [value, *(node for child in value.values() for node in _nodes(child))]
    if isinstance(value, list):
        return [node for child in value for node in _nodes(child)]
    return []


def _closed(schema: dict[str, Any]) -> None:
    """OpenAI's strict mode: every object closed, every property required."""
    for node in _nodes(schema):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert sorted(node["required"]) == sorted(node["properties"])


async def test_sends_a_strict_schema_and_parses_the_answer(llm: ScriptedLLM) -> None:
    llm.push(json=agent_json("How soon do you need it?", budget="300 EUR", budget_amount=300.0))
    answer = await structured_call(_model(llm), AGENT.output, MESSAGES)

    assert isinstance(answer, AGENT.output)
    assert answer.reply == "How soon do you need it?"
    assert answer.lead.budget_amount == 300.0
    request = llm.chat_requests[-1]
    assert request["messages"][-1] == {"role": "user", "content": MESSAGES[-1].content}
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == AGENT.output.__name__
    assert response_format["json_schema"]["strict"] is True
    schema = response_format["json_schema"]["schema"]
    assert {"reply", "confidence", "resolved", "wants_human", "lead"} <= set(schema["properties"])
    _closed(schema)


async def test_the_same_request_on_every_call(llm: ScriptedLLM) -> None:
    model = _model(llm)
    for _ in range(2):
        llm.push(json=agent_json("Hi!"))
        await structured_call(model, AGENT.output, MESSAGES)
    first, second = llm.chat_requests
    assert first == second


@pytest.mark.parametrize(
    "answer",
    [
        {"content": "{not json"},
        {"json": {"reply": "missing every other field"}},
        {"content": None},  # a refusal carries no JSON
        {"content": ""},
    ],
    ids=["malformed", "incomplete", "no-content", "empty"],
)
async def test_a_bad_answer_raises_an_llm_error(llm: ScriptedLLM, answer: dict[str, Any]) -> None:
    llm.push(**answer)
    with pytest.raises(LLM_ERRORS):
        await structured_call(_model(llm), AGENT.output, MESSAGES)


async def test_tool_calls_or_an_answer(llm: ScriptedLLM) -> None:
    from langchain_core.messages import AIMessage

    from agents.model_call import structured_or_tool_calls
    from agents.scheduling.agent import SchedulingReply
    from agents.scheduling.tools import TOOLS

    model = _model(llm)
    llm.push(tool_calls=[{"name": "find_free_slots", "arguments": {"after": None}}])
    called = await structured_or_tool_calls(model, SchedulingReply, MESSAGES, tools=TOOLS)
    assert isinstance(called, AIMessage)
    assert [call["name"] for call in called.tool_calls] == ["find_free_slots"]

    llm.push(json={**agent_json("Tuesday at 10:00 works."),
                   "lead": {"name": None, "email": None, "timezone": None}})
    answer = await structured_or_tool_calls(model, SchedulingReply, MESSAGES, tools=TOOLS)
    assert isinstance(answer, SchedulingReply) and answer.reply == "Tuesday at 10:00 works."
    for request in llm.chat_requests:
        assert [tool["function"]["name"] for tool in request["tools"]] == [
            "find_free_slots", "book_slot",
        ]
        assert request["response_format"]["json_schema"]["name"] == "SchedulingReply"
        _closed(request["response_format"]["json_schema"]["schema"])
