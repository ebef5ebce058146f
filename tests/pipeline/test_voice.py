"""Voice replies, on and off, for each channel: the real Meta and Twilio clients against local
stand-ins, the scripted server for speech, Redis for Twilio's public audio and the `/media` router
on a tiny FastAPI app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from api import media as media_api
from integrations.speech import Speech
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels, RetryPolicy
from integrations.whatsapp.twilio import TwilioClient
from integrations.whatsapp.types import InboundMessage, MediaRef
from pipeline.voice import AudioStore, VoiceReplier, burst_had_voice, speakable
from tests.utils.media_hosts import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    META_TOKEN,
    PHONE_ID,
    MediaHosts,
)
from tests.utils.scripted_llm import ScriptedLLM

LEAD = "+34600111222"
PUBLIC = "https://bot.example.com"
REPLY = "*Great!* We can deliver _20 licences_ by March."
SPOKEN = "Great! We can deliver 20 licences by March."
AUDIO = b"OggS\x00\x02opus-reply" + b"\x11" * 3000


@pytest.fixture
def channels(hosts: MediaHosts, send_http: aiohttp.ClientSession) -> Channels:
    once = RetryPolicy(attempts=1)
    return Channels({
        "meta": MetaClient(
            META_TOKEN, PHONE_ID, graph_base=hosts.graph_base, http=send_http, retry=once
        ),
        "twilio": TwilioClient(
            ACCOUNT_SID, AUTH_TOKEN, "+14155238886", api_base=hosts.twilio.url, http=send_http,
            retry=once,
        ),
    })


@pytest.fixture
def make_replier(speech: Speech, channels: Channels, redis: aioredis.Redis) -> Any:
    def build(**overrides: Any) -> VoiceReplier:
        values: dict[str, Any] = {
            "channels": channels, "enabled": True, "store": AudioStore(redis),
            "public_base_url": PUBLIC, **overrides,
        }
        return VoiceReplier(speech, **values)

    return build


def speech_requests(llm: ScriptedLLM) -> list[dict[str, Any]]:
    return [r["body"] for r in llm.requests if r["path"] == "/v1/audio/speech"]


# --- Meta -----------------------------------------------------------------------------------------


async def test_meta_voice_reply_is_uploaded_then_sent_as_audio(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM
) -> None:
    llm.push_speech(AUDIO)
    assert await make_replier().maybe_send_voice("meta", LEAD, REPLY, burst_had_voice=True)
    (tts,) = speech_requests(llm)
    assert tts["input"] == SPOKEN and tts["response_format"] == "opus"
    assert tts["model"] == "gpt-4o-mini-tts" and tts["voice"] == "alloy"
    (upload,) = hosts.uploads
    assert upload["data"] == AUDIO
    assert upload["type"] == "audio/ogg" and upload["messaging_product"] == "whatsapp"
    (sent,) = hosts.meta_messages
    assert sent["type"] == "audio" and sent["audio"] == {"id": upload["id"]}
    assert sent["to"] == LEAD


async def test_meta_voice_replies_off_send_nothing(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM
) -> None:
    assert not await make_replier(enabled=False).maybe_send_voice(
        "meta", LEAD, REPLY, burst_had_voice=True
    )
    # On, but the lead wrote instead of speaking: text only.
    assert not await make_replier().maybe_send_voice("meta", LEAD, REPLY, burst_had_voice=False)
    assert speech_requests(llm) == [] and hosts.uploads == [] and hosts.meta_messages == []


# --- Twilio ---------------------------------------------------------------------------------------


async def test_twilio_voice_reply_is_served_from_a_public_url(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM, redis: aioredis.Redis
) -> None:
    store = AudioStore(redis)
    llm.push_speech(AUDIO)
    assert await make_replier(store=store).maybe_send_voice(
        "twilio", LEAD, REPLY, burst_had_voice=True
    )
    (sent,) = hosts.twilio_messages
    assert sent["To"] == f"whatsapp:{LEAD}" and sent["From"] == "whatsapp:+14155238886"
    url = sent["MediaUrl"]
    assert url.startswith(f"{PUBLIC}/media/") and url.endswith(".ogg")
    audio_id = url.removeprefix(f"{PUBLIC}/media/").removesuffix(".ogg")
    assert len(audio_id) == 32  # 192 random bits, URL-safe
    ttl = await redis.ttl(AudioStore.KEY.format(id=audio_id))
    assert 0 < ttl <= store.ttl_seconds  # kept only briefly

    app = FastAPI()
    app.include_router(media_api.router)
    app.dependency_overrides[media_api.get_audio_store] = lambda: store
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        response = await client.get(url)
        assert response.status_code == 200
        assert response.content == AUDIO
        assert response.headers["content-type"] == "audio/ogg"
        assert "no-store" in response.headers["cache-control"]
        head = await client.head(url)
        assert head.status_code == 200 and head.headers["content-type"] == "audio/ogg"
        assert (await client.get(f"{PUBLIC}/media/{'x' * 32}.ogg")).status_code == 404
        assert (await client.get(f"{PUBLIC}/media/../secret.ogg")).status_code == 404
        await redis.delete(AudioStore.KEY.format(id=audio_id))  # what the TTL does
        assert (await client.get(url)).status_code == 404


async def test_twilio_voice_replies_off_send_nothing(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM, redis: aioredis.Redis
) -> None:
    assert not await make_replier(enabled=False).maybe_send_voice(
        "twilio", LEAD, REPLY, burst_had_voice=True
    )
    assert not await make_replier().maybe_send_voice("twilio", LEAD, REPLY, burst_had_voice=False)
    assert speech_requests(llm) == [] and hosts.twilio_messages == []
    assert await redis.dbsize() == 0


async def test_twilio_without_a_public_url_skips_the_voice_reply(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM
) -> None:
    replier = make_replier(public_base_url=None)
    assert not await replier.maybe_send_voice("twilio", LEAD, REPLY, burst_had_voice=True)
    assert speech_requests(llm) == [] and hosts.twilio_messages == []


# --- Failures never raise -------------------------------------------------------------------------


async def test_a_speech_failure_is_reported_not_raised(
    make_replier: Any, hosts: MediaHosts, llm: ScriptedLLM
) -> None:
    llm.push_speech(status=500)
    assert not await make_replier().maybe_send_voice("meta", LEAD, REPLY, burst_had_voice=True)
    assert hosts.uploads == []


async def test_a_provider_failure_is_reported_not_raised(
    make_replier: Any, speech: Speech, hosts: MediaHosts, llm: ScriptedLLM,
    send_http: aiohttp.ClientSession,
) -> None:
    llm.push_speech(AUDIO)
    broken = MetaClient(
        "wrong-token", PHONE_ID, graph_base=hosts.graph_base, http=send_http,
        retry=RetryPolicy(attempts=1),
    )
    replier = make_replier(channels=Channels({"meta": broken}))
    assert not await replier.maybe_send_voice("meta", LEAD, REPLY, burst_had_voice=True)
    assert not await replier.maybe_send_voice("twilio", LEAD, REPLY, burst_had_voice=True)


def test_without_speech_voice_replies_stay_off(channels: Channels) -> None:
    assert not VoiceReplier(None, channels=channels, enabled=True).enabled


# --- Helpers --------------------------------------------------------------------------------------


def _message(kind: str, media: tuple[MediaRef, ...] = (), channel: str = "meta") -> InboundMessage:
    return InboundMessage(
        channel=channel,  # type: ignore[arg-type]
        contact=LEAD, message_id="wamid.x", timestamp=datetime.now(UTC),
        kind=kind, media=media,  # type: ignore[arg-type]
    )


def test_a_burst_had_voice_when_it_held_a_voice_note() -> None:
    voice = _message("audio", (MediaRef(id="1", mime_type="audio/ogg; codecs=opus", voice=True),))
    twilio_voice = _message("audio", (MediaRef(url="https://x", mime_type="audio/ogg"),), "twilio")
    mp3 = _message("audio", (MediaRef(id="2", mime_type="audio/mpeg"),))
    assert burst_had_voice([_message("text"), voice])
    assert burst_had_voice([twilio_voice])
    assert not burst_had_voice([_message("text"), mp3])


def test_speakable_text_drops_whatsapp_markup() -> None:
    assert speakable(REPLY) == SPOKEN
    assert speakable("```code``` and ~gone~") == "code and gone"
    assert speakable("snake_case_name stays") == "snake_case_name stays"
    long = "A sentence. " * 500
    assert len(speakable(long)) <= 4096 and speakable(long).endswith(".")
