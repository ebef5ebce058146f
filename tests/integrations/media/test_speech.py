"""`Speech` against the scripted OpenAI-compatible server: the real `openai` client, over HTTP."""

from __future__ import annotations

import openai
import pytest

from integrations.speech import (
    MAX_SPEECH_CHARS,
    Speech,
    SpeechError,
    SpeechRejected,
    SpeechUnavailable,
)
from tests.utils.scripted_llm import ScriptedLLM


async def test_a_voice_note_is_sent_to_the_transcription_endpoint(
    speech: Speech, llm: ScriptedLLM
) -> None:
    audio = b"OggS" + b"\x01" * 4321
    llm.push_transcription("  I need 20 licences for my team  ")
    text = await speech.transcribe(audio, filename="voice-note.ogg", mime_type="audio/ogg")
    assert text == "I need 20 licences for my team"
    (request,) = llm.requests
    assert request["path"] == "/v1/audio/transcriptions"
    assert request["body"]["model"] == "whisper-1"
    assert request["body"]["file_bytes"] == len(audio)
    assert request["body"]["filename"] == "voice-note.ogg"


async def test_a_reply_is_synthesized_as_ogg_opus(speech: Speech, llm: ScriptedLLM) -> None:
    llm.push_speech(b"OggS-opus-bytes")
    audio = await speech.synthesize("Hello! " * 1000)
    assert audio == b"OggS-opus-bytes"
    body = llm.requests[-1]["body"]
    assert body["response_format"] == "opus"
    assert body["model"] == "gpt-4o-mini-tts" and body["voice"] == "alloy"
    assert len(body["input"]) == MAX_SPEECH_CHARS  # the endpoint's limit


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, SpeechUnavailable), (503, SpeechUnavailable), (429, SpeechUnavailable),
     (400, SpeechRejected), (401, SpeechRejected)],
)
async def test_server_errors_are_mapped(
    speech: Speech, llm: ScriptedLLM, status: int, error: type[SpeechError]
) -> None:
    llm.push_transcription("", status=status)
    with pytest.raises(error) as caught:
        await speech.transcribe(b"x", filename="a.ogg", mime_type="audio/ogg")
    assert isinstance(caught.value.__cause__, openai.APIStatusError)
    assert f"HTTP {status}" in str(caught.value)
    llm.push_speech(status=status)
    with pytest.raises(error):
        await speech.synthesize("hi")


async def test_an_unreachable_server_is_unavailable() -> None:
    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0)
    speech = Speech(client, stt_model="whisper-1", tts_model="tts-1", voice="alloy")
    with pytest.raises(SpeechUnavailable, match="OPENAI_BASE_URL"):
        await speech.transcribe(b"x", filename="a.ogg", mime_type="audio/ogg")
    await client.close()


async def test_nothing_to_say_is_refused_without_a_call(speech: Speech, llm: ScriptedLLM) -> None:
    with pytest.raises(SpeechRejected):
        await speech.synthesize("   ")
    assert llm.requests == []
