"""The scripted LLM server driven through the real clients."""

from __future__ import annotations

import io

import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.utils.scripted_llm import ScriptedLLM


class Answer(BaseModel):
    reply: str
    confidence: float


def _model(llm: ScriptedLLM, **kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(model="scripted", api_key="sk-test", base_url=llm.base_url, **kwargs)  # type: ignore[arg-type]


async def test_structured_output_round_trip(llm: ScriptedLLM) -> None:
    llm.push(json={"reply": "Hola, ¿en qué te ayudo?", "confidence": 0.92})
    structured = _model(llm).with_structured_output(Answer)
    answer = await structured.ainvoke([HumanMessage("hola")])
    assert answer == Answer(reply="Hola, ¿en qué te ayudo?", confidence=0.92)
    request = llm.chat_requests[-1]
    assert request["messages"][-1]["content"] == "hola"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["name"] == "Answer"


async def test_tool_call_round_trip(llm: ScriptedLLM) -> None:
    @tool
    def find_slots(day: str) -> str:
        """Free slots on a day."""
        return day

    llm.push(tool_calls=[{"name": "find_slots", "arguments": {"day": "tuesday"}}])
    message = await _model(llm).bind_tools([find_slots]).ainvoke("when?")
    assert message.tool_calls[0]["name"] == "find_slots"
    assert message.tool_calls[0]["args"] == {"day": "tuesday"}
    assert llm.chat_requests[-1]["tools"][0]["function"]["name"] == "find_slots"


async def test_errors_and_exhausted_script(llm: ScriptedLLM) -> None:
    llm.push(status=503)
    with pytest.raises(openai.InternalServerError):
        await _model(llm, max_retries=0).ainvoke("x")
    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        await _model(llm, max_retries=0).ainvoke("x")


async def test_streaming_and_responder(llm: ScriptedLLM) -> None:
    from tests.utils.scripted_llm import Reply

    llm.responder = lambda body: Reply(content=f"echo {body['messages'][-1]['content']}")
    chunks = [chunk.content async for chunk in _model(llm).astream("ping")]
    assert "".join(str(c) for c in chunks) == "echo ping"


async def test_transcription_and_speech(llm: ScriptedLLM) -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=llm.base_url)
    llm.push_transcription("necesito veinte licencias")
    transcript = await client.audio.transcriptions.create(
        model="whisper-1", file=("note.ogg", io.BytesIO(b"OggS" + b"\0" * 100), "audio/ogg")
    )
    assert transcript.text == "necesito veinte licencias"
    recorded = [r for r in llm.requests if r["path"] == "/v1/audio/transcriptions"][-1]["body"]
    assert recorded["model"] == "whisper-1" and recorded["file_bytes"] == 104
    speech = await client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="hola")
    assert speech.content.startswith(b"ID3")
