"""`MediaConverter` end to end: local media hosts that check credentials, the scripted
OpenAI-compatible server for transcription and for the model (a real `ChatOpenAI`), and the burst
processor with a real Redis buffer where the test says "answered"."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from prometheus_client import REGISTRY
from pydantic import SecretStr

from domain.contact import ContactInfo, ContactMode
from graph.engine import TurnResult
from integrations.media import MediaDownloader
from integrations.speech import Speech
from integrations.whatsapp.types import InboundMessage, Location, MediaRef
from pipeline.buffer import Burst, BurstBuffer
from pipeline.media import ConversionCache, MediaConverter, is_voice_note
from pipeline.processor import BurstProcessor
from pipeline.sandbox import DecodeSandbox
from tests.pipeline.fakes import FakeEngine, FakeSender, FakeStore
from tests.utils.media_files import (
    BLUE,
    GREEN,
    RED,
    audio_info,
    encrypt_office,
    jpeg_colour,
    make_amr,
    make_audio,
    make_docx,
    make_video,
    make_xlsx,
)
from tests.utils.media_hosts import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    META_TOKEN,
    MediaHosts,
    make_pdf,
)
from tests.utils.scripted_llm import Reply, ScriptedLLM

MiB = 1024 * 1024
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
VOICE = b"OggS\x00\x02" + b"\x07" * 6000
_ids = itertools.count(1)


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def model(llm: ScriptedLLM) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o-mini", base_url=llm.base_url, api_key=SecretStr("sk-test"), max_retries=0
    )


@pytest.fixture(scope="module")
def sandbox() -> DecodeSandbox:
    return DecodeSandbox(timeout_seconds=30.0)


@pytest.fixture
def make_converter(
    hosts: MediaHosts, http: httpx.AsyncClient, speech: Speech, sandbox: DecodeSandbox
) -> Any:
    def build(
        *,
        with_speech: bool = True,
        document_max_chars: int = 4000,
        video_max_seconds: float = 180.0,
        decode_sandbox: DecodeSandbox | None = None,
        **options: Any,
    ) -> Any:
        downloader_options: dict[str, Any] = {
            "max_bytes": 16 * MiB, "timeout_seconds": 5.0, "attempts": 2, "backoff_seconds": 0.0,
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base": hosts.twilio.url,
            "meta_access_token": META_TOKEN, "meta_graph_base": hosts.graph_base,
            **options,
        }
        downloader = MediaDownloader(http=http, **downloader_options)
        return MediaConverter(
            downloader,
            speech=speech if with_speech else None,
            sandbox=decode_sandbox or sandbox,
            document_max_chars=document_max_chars,
            video_max_seconds=video_max_seconds,
        )

    return build


def msg(
    kind: str,
    *,
    media: tuple[MediaRef, ...] = (),
    text: str | None = None,
    channel: str = "meta",
    **fields: Any,
) -> InboundMessage:
    return InboundMessage(
        channel=channel,  # type: ignore[arg-type]
        contact="+34600111222",
        message_id=f"wamid.m{next(_ids)}",
        timestamp=datetime.now(UTC),
        kind=kind,  # type: ignore[arg-type]
        text=text,
        media=media,
        profile_name="Ana",
        **fields,
    )


def image_parts(message: BaseMessage) -> list[dict[str, Any]]:
    assert isinstance(message.content, list)
    return [p for p in message.content if isinstance(p, dict) and p.get("type") == "image_url"]


def sent_user_contents(llm: ScriptedLLM) -> list[Any]:
    return [m["content"] for m in llm.chat_requests[-1]["messages"] if m["role"] == "user"]


# --- The burst processor with a real model call ------------------------------------------------


class ModelEngine(FakeEngine):
    """The graph's stand-in: one real `ChatOpenAI` call per turn with the converted messages."""

    def __init__(self, model: ChatOpenAI) -> None:
        super().__init__(checkpoint=None)
        self.model = model
        self.turns: list[list[HumanMessage]] = []

    async def run_turn(
        self, contact: ContactInfo, messages: list[Any], *,
        mode: ContactMode = ContactMode.BOT, base_checkpoint_id: str | None = None,
    ) -> TurnResult:
        self.turns.append(list(messages))
        answer = await self.model.ainvoke([SystemMessage(content="You qualify leads."), *messages])
        return self.result(answer.text, mode=mode)


async def run_burst(
    redis: aioredis.Redis, converter: MediaConverter, model: ChatOpenAI,
    messages: list[InboundMessage],
) -> tuple[ModelEngine, FakeSender]:
    buffer = BurstBuffer(redis, quiet_ms=0, max_wait_ms=0, lease_ms=60_000)
    engine, sender = ModelEngine(model), FakeSender()
    processor = BurstProcessor(
        buffer=buffer, engine=engine, sender=sender, store=FakeStore(), converter=converter
    )
    for message in messages:
        await buffer.add(message)
    for _ in range(250):
        claimed = await buffer.claim()
        if isinstance(claimed, Burst):
            await processor.process(claimed)
            return engine, sender
        await asyncio.sleep(0.02)
    raise AssertionError("no burst became due")


# --- Voice notes ----------------------------------------------------------------------------------


async def test_a_voice_note_is_transcribed_and_answered(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    hosts.add("7001", VOICE, "audio/ogg; codecs=opus")
    note = msg("audio", media=(hosts.meta_ref("7001", voice=True),))
    llm.push_transcription("Hola, necesito 20 licencias para mi equipo")
    llm.push(content="¡Perfecto! ¿Para cuándo las necesitas?")

    engine, sender = await run_burst(redis, make_converter(), model, [note])

    transcription = next(r for r in llm.requests if r["path"] == "/v1/audio/transcriptions")
    assert transcription["body"]["file_bytes"] == len(VOICE)  # the audio reached the STT server
    assert transcription["body"]["model"] == "whisper-1"
    assert transcription["body"]["filename"].endswith(".ogg")
    (turn,) = engine.turns
    assert turn[0].content == "[voice note] Hola, necesito 20 licencias para mi equipo"
    assert turn[0].id == note.message_id
    assert sent_user_contents(llm) == ["[voice note] Hola, necesito 20 licencias para mi equipo"]
    assert sender.texts == ["¡Perfecto! ¿Para cuándo las necesitas?"]


async def test_a_twilio_voice_note_is_recognised_by_its_ogg_type(
    hosts: MediaHosts, make_converter: Any, llm: ScriptedLLM
) -> None:
    hosts.add("ME70", VOICE, "audio/ogg")
    note = msg("audio", media=(hosts.twilio_ref("ME70"),), channel="twilio")
    assert is_voice_note(note)
    llm.push_transcription("call me tomorrow")
    (converted,) = await make_converter().convert([note])
    assert converted.content == "[voice note] call me tomorrow"
    assert hosts.leaked_auth == 0


async def test_a_forwarded_audio_file_is_transcribed_as_audio(
    hosts: MediaHosts, make_converter: Any, llm: ScriptedLLM
) -> None:
    hosts.add("7002", b"ID3" + b"\x00" * 900, "audio/mpeg")
    audio = msg("audio", media=(hosts.meta_ref("7002"),))
    assert not is_voice_note(audio)
    llm.push_transcription("this is the podcast intro")
    (converted,) = await make_converter().convert([audio])
    assert converted.content == "[audio] this is the podcast intro"
    assert llm.requests[-1]["body"]["filename"] == "audio.mp3"


async def test_a_transcription_failure_is_noted_and_tried_again_next_time(
    hosts: MediaHosts, make_converter: Any, llm: ScriptedLLM
) -> None:
    hosts.add("7003", VOICE, "audio/ogg")
    note = msg("audio", media=(hosts.meta_ref("7003", voice=True),))
    converter = make_converter()
    llm.push_transcription("", status=503)
    (first,) = await converter.convert([note])
    assert "voice note that could not be transcribed" in str(first.content)
    assert "politely" in str(first.content)
    llm.push_transcription("now it works")
    (second,) = await converter.convert([note])  # a transient failure is not cached
    assert second.content == "[voice note] now it works"


async def test_without_speech_a_voice_note_is_noted_not_downloaded(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("7004", VOICE, "audio/ogg")
    (converted,) = await make_converter(with_speech=False).convert(
        [msg("audio", media=(hosts.meta_ref("7004", voice=True),))]
    )
    assert "could not be transcribed" in str(converted.content)
    assert hosts.files["7004"].lookups == 0


# --- Images ---------------------------------------------------------------------------------------


async def test_an_image_reaches_the_model_as_image_input(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM
) -> None:
    hosts.add("7101", JPEG, "image/jpeg")
    photo = msg("image", media=(hosts.meta_ref("7101"),), text="How much for 3 of these?")
    (converted,) = await make_converter().convert([photo])
    assert converted.id == photo.message_id
    assert converted.content[0] == {"type": "text", "text": "How much for 3 of these?"}
    data_url = f"data:image/jpeg;base64,{base64.b64encode(JPEG).decode()}"
    assert image_parts(converted) == [{"type": "image_url", "image_url": {"url": data_url}}]

    llm.push(content="That model is 40 EUR each.")
    await model.ainvoke([converted])
    (content,) = sent_user_contents(llm)
    assert {"type": "text", "text": "How much for 3 of these?"} in content
    sent_images = [p for p in content if p.get("type") == "image_url"]
    assert sent_images and sent_images[0]["image_url"]["url"] == data_url


async def test_an_image_without_caption_is_labelled(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("ME71", PNG, "image/png")
    (converted,) = await make_converter().convert(
        [msg("image", media=(hosts.twilio_ref("ME71"),), channel="twilio")]
    )
    assert converted.content[0] == {"type": "text", "text": "[image]"}
    assert image_parts(converted)[0]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_an_image_type_the_model_cannot_see_is_refused_politely(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("ME72", b"heic", "image/heic")
    (converted,) = await make_converter().convert(
        [msg("image", media=(hosts.twilio_ref("ME72"),), channel="twilio", text="my floor plan")]
    )
    assert converted.content == (
        "[the lead sent an image in a format that can't be processed (image/heic) — tell them "
        "politely and ask for a photo, a PDF or a short description in words] my floor plan"
    )
    assert hosts.files["ME72"].downloads == 0


# --- Documents ------------------------------------------------------------------------------------


async def test_a_pdf_text_reaches_the_model(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM
) -> None:
    pdf = make_pdf("Request for quote", "Company: ACME Logistics", "Seats: 25, start in March")
    hosts.add("7201", pdf, "application/pdf")
    document = msg("document", media=(hosts.meta_ref("7201", filename="rfq.pdf"),))
    (converted,) = await make_converter().convert([document])
    assert converted.content == (
        "[document: rfq.pdf]\nRequest for quote\nCompany: ACME Logistics\nSeats: 25, start in March"
    )
    llm.push(content="Thanks, 25 seats noted.")
    await model.ainvoke([converted])
    assert "Company: ACME Logistics" in sent_user_contents(llm)[0]


async def test_long_pdf_text_is_trimmed_to_the_limit(
    hosts: MediaHosts, make_converter: Any
) -> None:
    lines = [f"Line {n}: the customer wants many features in the product" for n in range(40)]
    hosts.add("7202", make_pdf(*lines), "application/pdf")
    document = msg("document", media=(hosts.meta_ref("7202", filename="spec.pdf"),), text="specs")
    (converted,) = await make_converter(document_max_chars=200).convert([document])
    header, _, rest = str(converted.content).partition("\n")
    assert header == "[document: spec.pdf] specs"
    body, _, marker = rest.rpartition("\n")
    assert len(body) <= 200 and body.startswith("Line 0:")
    assert marker == "[… trimmed: the document is longer]"


async def test_an_unreadable_pdf_is_noted(hosts: MediaHosts, make_converter: Any) -> None:
    hosts.add("7203", b"%PDF-1.4 this is not really a pdf", "application/pdf")
    (converted,) = await make_converter().convert(
        [msg("document", media=(hosts.meta_ref("7203", filename="scan.pdf"),))]
    )
    assert str(converted.content).startswith("[document: scan.pdf — its text could not be read")


async def test_other_documents_are_acknowledged_by_name_without_download(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("7204", b"PK\x03\x04", "application/zip")
    (converted,) = await make_converter().convert(
        [msg("document", media=(hosts.meta_ref("7204", filename="plans.zip"),), text="see this")]
    )
    assert converted.content == "[document: plans.zip] see this"
    assert hosts.files["7204"].lookups == 0


# --- Video, every audio format, Word and Excel ---------------------------------------------------

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def transcripts(by_filename: dict[str, str]) -> Any:
    """A `transcriber` for the scripted server: the answer by uploaded file name, as the
    uploads of a burst arrive in no fixed order."""

    def answer(body: dict[str, Any]) -> Reply:
        return Reply(text=by_filename[body["filename"]])

    return answer


def uploads(llm: ScriptedLLM) -> dict[str, dict[str, Any]]:
    """The transcription requests the server received, by uploaded file name."""
    return {
        r["body"]["filename"]: r["body"]
        for r in llm.requests
        if r["path"] == "/v1/audio/transcriptions"
    }


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text")


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(colour, expected, strict=True))


async def test_a_video_reaches_the_model_with_the_whole_burst_in_one_turn(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    hosts.add("8001", make_video(colours=(RED, GREEN, BLUE), seconds=3.0), "video/mp4")
    hosts.add("ME80", make_amr(seconds=2.0), "audio/amr")
    hosts.add("8002", make_docx("Requirements", "40 desks, 2 meeting rooms"), DOCX)
    hosts.add("8003", make_xlsx({"BoQ": [["Item", "Qty"], ["Desk", 40]]}), XLSX)
    messages = [
        msg("text", text="Hola, os mando todo"),
        msg("video", media=(hosts.meta_ref("8001"),), text="nuestra nave"),
        msg("audio", media=(hosts.meta_ref("ME80"),)),
        msg("document", media=(hosts.meta_ref("8002", filename="brief.docx"),)),
        msg("document", media=(hosts.meta_ref("8003", filename="boq.xlsx"),)),
        msg("text", text="¿precio?"),
    ]
    llm.transcriber = transcripts({
        "video.ogg": "esta es la zona de carga",
        "voice-note.ogg": "lo necesitamos para mayo",
    })
    llm.push(content="¡Gracias! Os preparo el presupuesto.")

    engine, sender = await run_burst(redis, make_converter(), model, messages)

    (turn,) = engine.turns  # one graph run...
    assert len(llm.chat_requests) == 1  # ...and one model call for the whole burst
    assert [m.id for m in turn] == [m.message_id for m in messages]
    contents = sent_user_contents(llm)
    assert len(contents) == 6 and contents[0] == "Hola, os mando todo"
    video = contents[1]
    assert video[0] == {"type": "text", "text": (
        "[video, 0:03; 3 frames below, at 0:00.0, 0:01.5, 0:02.0] nuestra nave\n"
        "[sound] esta es la zona de carga"
    )}
    stills = [p["image_url"]["url"] for p in video[1:]]
    assert len(stills) == 3 and all(url.startswith("data:image/jpeg;base64,") for url in stills)
    colours = [jpeg_colour(base64.b64decode(url.partition(",")[2])) for url in stills]
    assert all(close_to(c, e) for c, e in zip(colours, (RED, GREEN, BLUE), strict=True))
    assert contents[2] == "[voice note] lo necesitamos para mayo"
    assert contents[3] == "[document: brief.docx]\nRequirements\n\n40 desks, 2 meeting rooms"
    assert contents[4] == "[document: boq.xlsx]\n## BoQ\nItem | Qty\nDesk | 40"
    assert contents[5] == "¿precio?"
    sound = uploads(llm)["video.ogg"]  # the video's sound went to speech-to-text as Ogg/Opus
    assert sound["content_type"] == "audio/ogg"
    assert audio_info(sound["file"])["codec"] == "opus"
    assert audio_info(sound["file"])["seconds"] == pytest.approx(3.0, abs=0.2)
    voice = uploads(llm)["voice-note.ogg"]  # and so did the AMR clip, converted
    assert voice["content_type"] == "audio/ogg" and audio_info(voice["file"])["codec"] == "opus"
    assert sender.texts == ["¡Gracias! Os preparo el presupuesto."]


async def test_an_amr_voice_note_is_uploaded_converted_to_ogg_opus(
    hosts: MediaHosts, make_converter: Any, llm: ScriptedLLM
) -> None:
    amr = make_amr(seconds=2.0)
    hosts.add("ME81", amr, "audio/amr")
    hosts.add("8101", make_audio(codec="aac", container="ipod", rate=16000), "audio/mp4")
    llm.transcriber = transcripts({"voice-note.ogg": "call me at five", "memo.ogg": "shared memo"})
    converted = await make_converter().convert([
        msg("audio", media=(hosts.twilio_ref("ME81"),), channel="twilio"),
        msg("audio", media=(hosts.meta_ref("8101", filename="memo.m4a", voice=True),)),
    ])
    assert [m.content for m in converted] == [
        "[voice note] call me at five", "[voice note] shared memo",
    ]
    for name in ("voice-note.ogg", "memo.ogg"):
        upload = uploads(llm)[name]
        assert upload["content_type"] == "audio/ogg"
        info = audio_info(upload["file"])
        assert (info["container"], info["codec"]) == ("ogg", "opus")
        assert info["seconds"] == pytest.approx(2.0, abs=0.2)
    assert uploads(llm)["voice-note.ogg"]["file"] != amr  # converted, not passed through


async def test_a_video_over_the_length_or_size_limit_is_refused_politely(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    hosts.add("8201", make_video(seconds=3.0), "video/mp4")
    hosts.add("8202", b"\x00" * 1000, "video/mp4", announced_size=40 * MiB)
    messages = [
        msg("video", media=(hosts.meta_ref("8201"),), text="a tour"),
        msg("video", media=(hosts.meta_ref("8202"),)),
        msg("text", text="what do you think?"),
    ]
    llm.push(content="Could you send a shorter clip?")

    _, sender = await run_burst(redis, make_converter(video_max_seconds=2), model, messages)

    assert sent_user_contents(llm) == [
        "[the lead sent a video of 0:03; videos over 0:02 can't be processed — tell them "
        "politely and ask for a shorter clip or a short description in words] a tour",
        "[the lead sent a video of 40 MB; files over 16 MB can't be processed — tell them "
        "politely and ask for a smaller file or a short description in words]",
        "what do you think?",
    ]
    assert hosts.files["8202"].downloads == 0  # refused on the announced size
    assert not uploads(llm)  # nothing was transcribed
    assert sender.texts == ["Could you send a shorter clip?"]


async def test_a_video_without_speech_to_text_still_shows_its_frames(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("8301", make_video(colours=(BLUE,), seconds=1.0, sound=False), "video/mp4")
    (converted,) = await make_converter(with_speech=False).convert(
        [msg("video", media=(hosts.meta_ref("8301"),))]
    )
    assert converted.content[0]["text"] == (
        "[video, 0:01; 2 frames below, at 0:00.0, 0:00.5]\n[sound: none]"
    )
    assert len(image_parts(converted)) == 2


async def test_a_corrupt_file_of_each_kind_is_described_and_the_rest_is_answered(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    hosts.add("8401", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8, "video/mp4")
    hosts.add("ME84", bytes(range(256)) * 4, "audio/amr")
    hosts.add("8402", b"PK\x03\x04 this is not a zip", DOCX)
    hosts.add("8403", b"PK\x03\x04 nor is this", XLSX)
    hosts.add("8404", encrypt_office(make_docx("confidential prices")), DOCX)
    hosts.add("8405", encrypt_office(make_xlsx({"S": [["secret"]]})), XLSX)
    messages = [
        msg("text", text="Hi, here are the files"),
        msg("video", media=(hosts.meta_ref("8401"),), text="the site"),
        msg("audio", media=(hosts.meta_ref("ME84"),)),
        msg("document", media=(hosts.meta_ref("8402", filename="brief.docx"),)),
        msg("document", media=(hosts.meta_ref("8403", filename="boq.xlsx"),)),
        msg("document", media=(hosts.meta_ref("8404", filename="prices.docx"),)),
        msg("document", media=(hosts.meta_ref("8405", filename="costs.xlsx"),)),
        msg("text", text="what do you think?"),
    ]
    llm.push(content="Thanks! Some files did not open — could you send them again?")
    before = {key: conversions(*key) for key in OUTCOMES}

    engine, sender = await run_burst(redis, make_converter(), model, messages)

    (turn,) = engine.turns
    assert [m.content for m in turn] == [
        "Hi, here are the files",
        "[the lead sent a video that could not be played (a damaged or unusual file) — tell "
        "them politely and ask them to send it again or to write the message] the site",
        "[the lead sent a voice note that could not be played (a damaged or unusual file) — "
        "tell them politely and ask them to send it again or to write the message]",
        "[document: brief.docx — its text could not be read (a scan or a damaged file?); ask "
        "the lead politely for the key details in a message]",
        "[document: boq.xlsx — its text could not be read (a scan or a damaged file?); ask "
        "the lead politely for the key details in a message]",
        "[document: prices.docx — it is password-protected; ask the lead politely to send it "
        "without a password or to write the key details in a message]",
        "[document: costs.xlsx — it is password-protected; ask the lead politely to send it "
        "without a password or to write the key details in a message]",
        "what do you think?",
    ]
    assert not uploads(llm)  # the broken audio was not sent to speech-to-text
    assert sender.texts == ["Thanks! Some files did not open — could you send them again?"]
    assert {key: conversions(*key) - before[key] for key in OUTCOMES} == {
        ("video", "undecodable"): 1, ("voice", "undecodable"): 1,
        ("document", "undecodable"): 2, ("document", "locked"): 2,
    }


OUTCOMES = [
    ("video", "undecodable"), ("voice", "undecodable"),
    ("document", "undecodable"), ("document", "locked"),
]


def conversions(kind: str, outcome: str) -> float:
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("wa_media_conversions_total", labels) or 0.0


async def test_a_decoding_that_runs_out_of_time_is_described_and_tried_again(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("8501", make_docx("Forty desks"), DOCX)
    message = msg("document", media=(hosts.meta_ref("8501", filename="brief.docx"),))
    hurried = DecodeSandbox(timeout_seconds=0.001)  # no child can even start in time
    (first,) = await make_converter(decode_sandbox=hurried).convert([message])
    assert str(first.content).startswith("[document: brief.docx — its text could not be read")
    converter = make_converter()
    converter.cache = make_converter(decode_sandbox=hurried).cache
    (second,) = await converter.convert([message])  # a timeout is not cached
    assert second.content == "[document: brief.docx]\nForty desks"


# --- Everything else ----------------------------------------------------------------------------


async def test_other_kinds_are_handled_gracefully(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("7302", b"webp", "image/webp")
    messages = [
        msg("sticker", media=(hosts.meta_ref("7302"),)),
        msg("location", location=Location(
            latitude=40.416775, longitude=-3.70379, name="Oficina", address="Calle Mayor 1"
        )),
        msg("contacts", text="Luis Pérez: +34 600 999 888"),
        msg("reaction", text="👍"),
        msg("unsupported"),
        msg("text", text="¿y el precio?"),
    ]
    converted = await make_converter().convert(messages)
    assert [m.content for m in converted] == [
        "[sticker]",
        "[location: 40.416775, -3.703790 Oficina, Calle Mayor 1]",
        "[contact card] Luis Pérez: +34 600 999 888",
        "[reaction] 👍",
        "[a message type WhatsApp does not support here]",
        "¿y el precio?",
    ]
    assert [m.id for m in converted] == [m.message_id for m in messages]
    assert hosts.files["7302"].lookups == 0


# --- Limits and failures --------------------------------------------------------------------------


async def test_an_oversize_file_is_refused_politely(
    hosts: MediaHosts, make_converter: Any
) -> None:
    hosts.add("7401", b"x" * 1000, "image/jpeg", announced_size=30 * MiB)
    (converted,) = await make_converter().convert(
        [msg("image", media=(hosts.meta_ref("7401"),), text="the whole catalogue")]
    )
    assert converted.content == (
        "[the lead sent an image of 30 MB; files over 16 MB can't be processed — tell them "
        "politely and ask for a smaller file or a short description in words] the whole catalogue"
    )
    assert hosts.files["7401"].downloads == 0  # refused on Meta's announced size

    big = hosts.add("ME74", b"\x00" * (32 * MiB), "application/pdf", content_length=False)
    (converted,) = await make_converter(max_bytes=2 * MiB).convert(
        [msg("document", media=(hosts.twilio_ref("ME74"),), channel="twilio")]
    )
    assert converted.content == (
        "[the lead sent a PDF larger than 2 MB; files over 2 MB can't be processed — tell them "
        "politely and ask for a smaller file or a short description in words]"
    )
    assert big.served < len(big.data) // 2  # refused while counting, not read to its end


async def test_a_failed_download_leaves_the_rest_of_the_burst_answered(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    hosts.add("7501", JPEG, "image/jpeg", failures=[500] * 5)
    hosts.add("7503", make_pdf("x"), "application/pdf", stall=1.5)
    hosts.add("7502", VOICE, "audio/ogg")
    messages = [
        msg("text", text="Hi, I want a quote"),
        msg("image", media=(hosts.meta_ref("7501"),)),
        msg("document", media=(hosts.meta_ref("7503", filename="rfq.pdf"),)),
        msg("audio", media=(hosts.meta_ref("7502", voice=True),)),
        msg("text", text="thanks"),
    ]
    llm.push_transcription("for 20 people")
    llm.push(content="Happy to help — could you send the photo again?")
    engine, sender = await run_burst(
        redis, make_converter(timeout_seconds=0.3), model, messages
    )
    (turn,) = engine.turns
    assert [m.content for m in turn] == [
        "Hi, I want a quote",
        "[the lead sent an image that could not be downloaded — tell them politely and ask them "
        "to send it again]",
        "[the lead sent a PDF that could not be downloaded — tell them politely and ask them to "
        "send it again]",
        "[voice note] for 20 people",
        "thanks",
    ]
    assert hosts.files["7501"].downloads == 2  # retried (attempts=2), then given up
    assert sender.texts == ["Happy to help — could you send the photo again?"]


async def test_a_mixed_burst_converts_concurrently_into_one_turn_in_order(
    hosts: MediaHosts, make_converter: Any, model: ChatOpenAI, llm: ScriptedLLM,
    redis: aioredis.Redis,
) -> None:
    photos = [JPEG + bytes([n]) for n in range(3)]
    for n, photo in enumerate(photos):
        hosts.add(f"760{n}", photo, "image/jpeg")
    hosts.add("7610", VOICE, "audio/ogg")
    hosts.gate = 4  # each download waits until all four are in flight
    messages = [msg("image", media=(hosts.meta_ref(f"760{n}"),)) for n in range(3)]
    messages.append(msg("audio", media=(hosts.meta_ref("7610", voice=True),)))
    llm.push_transcription("which of these three fits a small office?")
    llm.push(content="The second one.")

    engine, sender = await run_burst(redis, make_converter(), model, messages)

    assert hosts.max_in_flight == 4  # converted concurrently
    (turn,) = engine.turns  # one graph run...
    assert len(llm.chat_requests) == 1  # ...and one model call for the whole burst
    assert [m.id for m in turn] == [m.message_id for m in messages]
    for n, converted in enumerate(turn[:3]):
        url = image_parts(converted)[0]["image_url"]["url"]
        assert base64.b64decode(url.partition(",")[2]) == photos[n]  # in order
    assert turn[3].content == "[voice note] which of these three fits a small office?"
    contents = sent_user_contents(llm)
    assert len(contents) == 4 and all(isinstance(c, list) for c in contents[:3])
    assert contents[3] == "[voice note] which of these three fits a small office?"
    assert sender.texts == ["The second one."]


async def test_a_re_run_converts_from_the_cache(
    hosts: MediaHosts, make_converter: Any, llm: ScriptedLLM
) -> None:
    hosts.add("7701", JPEG, "image/jpeg")
    hosts.add("7702", VOICE, "audio/ogg")
    messages = [
        msg("image", media=(hosts.meta_ref("7701"),)),
        msg("audio", media=(hosts.meta_ref("7702", voice=True),)),
    ]
    converter = make_converter()
    llm.push_transcription("hello")
    first = await converter.convert(messages)
    requests = len(llm.requests)
    second = await converter.convert([*messages, msg("text", text="and one more thing")])
    assert [m.content for m in second[:2]] == [m.content for m in first]
    assert second[2].content == "and one more thing"
    assert hosts.files["7701"].downloads == hosts.files["7702"].downloads == 1
    assert len(llm.requests) == requests  # no second transcription


def test_the_cache_is_bounded_and_expires() -> None:
    now = [0.0]
    cache = ConversionCache(max_entries=2, max_chars=100, ttl_seconds=10, clock=lambda: now[0])
    cache.put("a", "x" * 10)
    cache.put("b", "y" * 10)
    assert cache.get("a") == "x" * 10  # a is now the most recent
    cache.put("c", "z" * 10)
    assert cache.get("b") is None and len(cache) == 2
    cache.put("big", "w" * 101)  # larger than the whole cache: not kept
    assert cache.get("big") is None
    cache.put("d", "d" * 95)  # evicts by size
    assert cache.get("a") is None and cache.get("c") is None and cache.get("d") == "d" * 95
    now[0] = 11.0
    assert cache.get("d") is None


async def test_no_media_url_or_token_is_logged(
    hosts: MediaHosts, make_converter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.WARNING, logger="httpx")  # as core.logs.configure_logging does
    caplog.set_level(logging.INFO, logger="httpcore")
    hosts.add("7801", JPEG, "image/jpeg", failures=[500] * 5)
    hosts.add("ME78", JPEG, "image/jpeg", stall=1.5)
    hosts.add("ME79", JPEG, "image/jpeg")
    converted = await make_converter(timeout_seconds=0.3).convert([
        msg("image", media=(hosts.meta_ref("7801"),)),
        msg("image", media=(hosts.twilio_ref("ME78"),), channel="twilio"),
    ])
    converted += await make_converter(twilio_auth_token="wrong-token").convert(
        [msg("image", media=(hosts.twilio_ref("ME79"),), channel="twilio")]
    )
    assert all("could not be downloaded" in str(m.content) for m in converted)
    assert "not used" in caplog.text
    rendered = caplog.text + "".join(str(m.content) for m in converted)
    for secret in [*hosts.secrets(), hosts.twilio.url + "/2010", hosts.graph_base + "/"]:
        assert secret not in rendered
