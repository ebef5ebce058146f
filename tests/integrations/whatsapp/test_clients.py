"""Sending through local stand-ins of Twilio's Messages API and Meta's Graph API.

The stand-ins run on 127.0.0.1 (`ThreadedServer`), check credentials like the providers and record
what they accepted. Retry waits go to a recording `sleep`, so nothing here really waits."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime

import aiohttp
import pytest

from core.logs import mask_phone
from integrations.whatsapp.errors import (
    ChannelAuthError,
    ChannelNotConfigured,
    MessageInvalid,
    ProviderUnavailable,
    RateLimited,
    RecipientInvalid,
    SendFailed,
    WindowClosed,
)
from integrations.whatsapp.formatting import META_TEXT_LIMIT, TWILIO_TEXT_LIMIT
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels, ChannelSender, RetryPolicy
from integrations.whatsapp.twilio import TwilioClient
from integrations.whatsapp.types import InboundMessage
from tests.integrations.whatsapp.conftest import Sleeps
from tests.utils.whatsapp_stand_ins import (
    ACCESS_TOKEN,
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE_NUMBER_ID,
    MetaStandIn,
    Scripted,
    TwilioStandIn,
)

TO = "+5491123456789"
BUSINESS = "+14155238886"


def _twilio(
    url: str, send_http: aiohttp.ClientSession, retry: RetryPolicy, **kw: str
) -> TwilioClient:
    return TwilioClient(
        kw.get("sid", ACCOUNT_SID), kw.get("token", AUTH_TOKEN), BUSINESS,
        api_base=url, http=send_http, retry=retry,
    )


def _meta(
    url: str, send_http: aiohttp.ClientSession, retry: RetryPolicy, token: str = ACCESS_TOKEN
) -> MetaClient:
    return MetaClient(
        token, PHONE_NUMBER_ID, graph_base=f"{url}/v21.0", http=send_http, retry=retry
    )


def _long_reply(paragraphs: int, size: int) -> str:
    return "\n\n".join(
        f"Paragraph {index}: " + ("lorem ipsum dolor sit amet. " * (size // 28)).strip()
        for index in range(paragraphs)
    )


# --- Twilio ------------------------------------------------------------------------------------


async def test_twilio_sends_a_text(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    client = _twilio(twilio_server[1], send_http, retry)
    ids = await client.send_text(TO, "Hola Ana")
    assert ids == ["SM" + f"{1:032x}"]
    (request,) = twilio_api.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {
        "From": f"whatsapp:{BUSINESS}", "To": f"whatsapp:{TO}", "Body": "Hola Ana"
    }
    assert isinstance(client, ChannelSender)
    assert AUTH_TOKEN not in repr(client)


async def test_twilio_long_reply_goes_out_in_order(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    text = _long_reply(paragraphs=6, size=700)
    ids = await _twilio(twilio_server[1], send_http, retry).send_text(TO, text)
    bodies = [request.form["Body"] for request in twilio_api.requests]
    assert len(ids) == len(bodies) > 2
    assert all(len(body) <= TWILIO_TEXT_LIMIT for body in bodies)
    assert re.findall(r"Paragraph \d+", " ".join(bodies)) == [f"Paragraph {n}" for n in range(6)]
    assert " ".join(bodies).split() == text.split()  # all of it, in order


async def test_twilio_media_with_caption(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    ids = await _twilio(twilio_server[1], send_http, retry).send_media(
        TO, "https://cdn.example.com/brochure.pdf", caption="Nuestro folleto"
    )
    assert len(ids) == 1
    assert twilio_api.requests[0].form["MediaUrl"] == "https://cdn.example.com/brochure.pdf"
    assert twilio_api.requests[0].form["Body"] == "Nuestro folleto"


async def test_twilio_5xx_is_retried_then_succeeds(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    twilio_api.script(Scripted(503, {"code": 20503, "message": "Service unavailable"}),
                      Scripted(500))
    ids = await _twilio(twilio_server[1], send_http, retry).send_text(TO, "Hola")
    assert len(ids) == 1 and twilio_api.attempts == 3 and len(twilio_api.requests) == 1
    assert len(sleeps) == 2 and all(0 < wait <= 0.05 for wait in sleeps)


async def test_twilio_429_honours_retry_after(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    twilio_api.script(Scripted(429, {"code": 20429, "message": "Too Many Requests"},
                               {"Retry-After": "7"}))
    await _twilio(twilio_server[1], send_http, retry).send_text(TO, "Hola")
    assert sleeps == [7.0]


async def test_twilio_5xx_gives_up_cleanly(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    twilio_api.script(*[Scripted(502)] * 5)
    with pytest.raises(ProviderUnavailable) as caught:
        await _twilio(twilio_server[1], send_http, retry).send_text(TO, "Hola")
    assert twilio_api.attempts == 3 and twilio_api.requests == []
    assert caught.value.status_code == 502


async def test_twilio_permanent_4xx_is_not_retried(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    twilio_api.script(Scripted(400, {"code": 21211, "message": f"The 'To' number {TO} is not a "
                                     "valid phone number.", "status": 400}))
    with pytest.raises(RecipientInvalid) as caught:
        await _twilio(twilio_server[1], send_http, retry).send_text(TO, "Hola")
    assert twilio_api.attempts == 1 and sleeps == []
    assert caught.value.code == 21211 and TO not in str(caught.value.detail)


async def test_twilio_wrong_credentials(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    with pytest.raises(ChannelAuthError):
        await _twilio(twilio_server[1], send_http, retry, token="wrong").send_text(TO, "Hola")
    assert twilio_api.attempts == 0  # refused before the script


async def test_a_failure_mid_reply_reports_the_parts_already_sent(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    text = _long_reply(paragraphs=4, size=1000)
    twilio_api.script(Scripted(201, {"sid": "SM-first"}), Scripted(400, {"code": 21617}))
    with pytest.raises(MessageInvalid) as caught:
        await _twilio(twilio_server[1], send_http, retry).send_text(TO, text)
    assert caught.value.sent_ids == ("SM-first",)


async def test_connection_refused_is_retried_then_raised(
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _twilio(f"http://127.0.0.1:{port}", send_http, retry)
    with pytest.raises(ProviderUnavailable) as caught:
        await client.send_text(TO, "Hola")
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorError)
    assert len(sleeps) == 2


async def test_a_connection_broken_after_sending_is_not_retried(
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    calls = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        calls += 1
        await reader.readuntil(b"\r\n\r\n")  # the request arrived...
        writer.close()  # ...and the connection dies before any answer

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(SendFailed) as caught:
            await _twilio(f"http://127.0.0.1:{port}", send_http, retry).send_text(TO, "Hola")
    assert type(caught.value) is SendFailed and "may have been delivered" in str(caught.value)
    assert calls == 1 and sleeps == []


# --- Meta --------------------------------------------------------------------------------------


async def test_meta_sends_a_long_reply_in_order(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    text = _long_reply(paragraphs=8, size=1500)
    ids = await _meta(meta_server[1], send_http, retry).send_text(TO, text)
    bodies = [request.json for request in meta_api.requests]
    assert ids == [f"wamid.OUT{n}" for n in range(1, len(bodies) + 1)]
    assert len(bodies) > 2
    for body in bodies:
        assert body["messaging_product"] == "whatsapp" and body["to"] == TO
        assert body["type"] == "text" and len(body["text"]["body"]) <= META_TEXT_LIMIT
    assert " ".join(b["text"]["body"] for b in bodies).split() == text.split()
    assert meta_api.requests[0].path == f"/v21.0/{PHONE_NUMBER_ID}/messages"


async def test_meta_window_closed(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    meta_api.script(Scripted(400, {"error": {
        "message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
        "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because "
                       "more than 24 hours have passed since the customer last replied to this "
                       "number."},
        "fbtrace_id": "A1b2C3"}}))
    with pytest.raises(WindowClosed) as caught:
        await _meta(meta_server[1], send_http, retry).send_text(TO, "Hola")
    assert caught.value.code == 131047 and meta_api.attempts == 1 and sleeps == []


async def test_meta_rate_limit_code_is_retried(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    meta_api.script(
        Scripted(429, {"error": {"message": "(#130429) Rate limit hit", "code": 130429}},
                 {"Retry-After": "2"}),
        Scripted(500, {"error": {"message": "Service unavailable", "code": 131016}}),
    )
    ids = await _meta(meta_server[1], send_http, retry).send_text(TO, "Hola")
    assert len(ids) == 1 and meta_api.attempts == 3
    assert sleeps[0] == 2.0 and len(sleeps) == 2


async def test_meta_retry_after_beyond_the_cap_is_not_waited_out(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, sleeps: Sleeps,
) -> None:
    meta_api.script(Scripted(429, {"error": {"code": 4}}, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        await _meta(meta_server[1], send_http, retry).send_text(TO, "Hola")
    assert caught.value.retry_after == 3600 and sleeps == []


async def test_meta_bad_token(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    with pytest.raises(ChannelAuthError) as caught:
        await _meta(meta_server[1], send_http, retry, token="expired").send_text(TO, "Hola")
    assert caught.value.code == 190 and "expired" not in str(caught.value)


async def test_meta_read_and_typing(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    await _meta(meta_server[1], send_http, retry).mark_read_and_typing("wamid.IN1")
    assert meta_api.requests[0].json == {
        "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1",
        "typing_indicator": {"type": "text"},
    }


async def test_meta_voice_reply(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    client = _meta(meta_server[1], send_http, retry)
    media_id = await client.upload_media(b"OggS\x00fake", "audio/ogg")
    (message_id,) = await client.send_audio(TO, media_id)
    upload, send = meta_api.requests
    assert upload.path == f"/v21.0/{PHONE_NUMBER_ID}/media"
    assert upload.form == {"messaging_product": "whatsapp", "type": "audio/ogg"}
    assert upload.files["file"] == ("upload.ogg", b"OggS\x00fake", "audio/ogg")
    assert send.json["type"] == "audio" and send.json["audio"] == {"id": media_id}
    assert message_id.startswith("wamid.")


# --- The registry ------------------------------------------------------------------------------


def _inbound(channel: str) -> InboundMessage:
    return InboundMessage(
        channel=channel,  # type: ignore[arg-type]
        contact=TO, message_id="wamid.IN9", timestamp=datetime.now(UTC), kind="text", text="hola",
    )


async def test_channels_reply_on_the_message_channel_formatted(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"twilio": _twilio(twilio_server[1], send_http, retry)})
    channels.register("meta", _meta(meta_server[1], send_http, retry))
    assert sorted(channels) == ["meta", "twilio"] and "meta" in channels
    await channels.reply(_inbound("meta"), "## Hola\n\n**Gracias** por escribir")
    assert meta_api.requests[0].json["text"]["body"] == "*Hola*\n\n*Gracias* por escribir"
    assert twilio_api.requests == []
    await channels.reply(_inbound("twilio"), "*ok*")
    assert twilio_api.requests[0].form["Body"] == "_ok_"


async def test_channels_split_at_each_channel_limit(
    twilio_server: tuple[TwilioStandIn, str], meta_server: tuple[MetaStandIn, str],
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"twilio": _twilio(twilio_server[1], send_http, retry),
                         "meta": _meta(meta_server[1], send_http, retry)})
    text = _long_reply(paragraphs=10, size=1000)
    assert all(len(p) <= TWILIO_TEXT_LIMIT for p in channels.split("twilio", text))
    assert all(len(p) <= META_TEXT_LIMIT for p in channels.split("meta", text))
    assert len(channels.split("twilio", text)) > len(channels.split("meta", text))


async def test_channels_typing_is_best_effort(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"twilio": _twilio(twilio_server[1], send_http, retry),
                         "meta": _meta(meta_server[1], send_http, retry)})
    await channels.typing("twilio", "SM1")  # Twilio has no read receipts: nothing to do
    await channels.typing("nowhere", "x")
    meta_api.script(*[Scripted(503)] * 3)
    await channels.typing("meta", "wamid.IN1")  # fails, but never raises
    assert twilio_api.attempts == 0 and meta_api.attempts == 3


async def test_channels_unknown_channel() -> None:
    with pytest.raises(ChannelNotConfigured, match="'meta' channel"):
        await Channels().send_text("meta", TO, "hola")


async def test_logs_hold_no_number_token_or_text(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="integrations.whatsapp")
    await _twilio(twilio_server[1], send_http, retry).send_text(TO, "secret plans")
    meta_api.script(Scripted(400, {"error": {"code": 131026, "message": f"Undeliverable {TO}"}}))
    with pytest.raises(RecipientInvalid):
        await _meta(meta_server[1], send_http, retry).send_text(TO, "secret plans")
    assert f"twilio sent contact={mask_phone(TO)} parts=1" in caplog.text
    assert f"meta send failed contact={mask_phone(TO)}" in caplog.text
    for secret in (TO, TO.lstrip("+"), AUTH_TOKEN, ACCESS_TOKEN, "secret plans"):
        assert secret not in caplog.text
