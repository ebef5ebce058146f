"""Issue #5 end to end: signed webhooks through the real app (lifespan, Redis buffer, workers,
graph) to replies at the Twilio and Meta stand-ins."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from domain.reply import OutgoingReply
from domain.texts import text as fixed_text
from integrations.whatsapp.types import InboundMessage
from pipeline.wiring import build_pipeline
from tests.graph.fakes import agent_json, lead_lines, non_system
from tests.utils.e2e import (
    CONTACT,
    DATA,
    E2E,
    StandIns,
    llm_settings,
    meta_payload,
    meta_text,
    proxied_url,
    running,
    running_stand_ins,
    settings_for,
    sign_meta,
    sign_twilio,
    twilio_text,
    wait_until,
)
from tests.utils.tcp_proxy import TcpProxy
from tests.utils.whatsapp_stand_ins import Scripted

THREAD = f"meta:{CONTACT}"
MSGS_KEY = f"wa:c:{{{THREAD}}}:msgs"


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    with running_stand_ins() as servers:
        yield servers


async def nothing_buffered(e2e: E2E) -> None:
    assert await e2e.buffered() == 0
    assert await e2e.redis.keys("wa:*") == []


# --- Verification, signatures, bodies ----------------------------------------------------------


async def test_meta_verification_handshake(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        params = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        right = await e2e.client.get(
            "/webhooks/meta", params={**params, "hub.verify_token": "meta-e2e-verify-token"}
        )
        assert (right.status_code, right.text) == (200, "1158201444")
        wrong = await e2e.client.get(
            "/webhooks/meta", params={**params, "hub.verify_token": "guess"}
        )
        assert wrong.status_code == 403
        assert (await e2e.client.get("/webhooks/meta", params=params)).status_code == 403


async def test_every_meta_message_type_is_accepted_and_statuses_buffer_nothing(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(make_settings, stand_ins, WORKERS_IN_PROCESS=False)
    async with running(app_client, settings, stand_ins) as e2e:
        for case in ("status_only", "template_status_update"):
            response = await e2e.post_meta((DATA / "meta" / f"{case}.json").read_bytes())
            assert response.status_code == 200
        await nothing_buffered(e2e)

        expected = []
        for path in sorted((DATA / "meta").glob("*.json")):
            payload = json.loads(path.read_bytes())
            value = payload["entry"][0]["changes"][0]["value"]
            if path.stem in ("status_only", "template_status_update", "multi_entry"):
                continue
            # The recorded cases share a message id; each gets its own, as Meta would send.
            value["messages"][0]["id"] = f"wamid.{path.stem}"
            expected.append(f"wamid.{path.stem}")
            response = await e2e.post_meta(payload)
            assert response.status_code == 200, (path.stem, response.text)
        multi = (DATA / "meta" / "multi_entry.json").read_bytes()
        assert (await e2e.post_meta(multi)).status_code == 200

        raw_messages = await e2e.redis.lrange(MSGS_KEY, 0, -1)
        buffered = [InboundMessage.from_json(raw) for raw in raw_messages]
        assert [m.message_id for m in buffered] == [*expected, "wamid.A1", "wamid.A2"]
        kinds = Counter(m.kind for m in buffered)
        for kind in ("text", "audio", "image", "video", "document", "sticker", "location",
                     "reaction", "unsupported"):
            assert kinds[kind] >= 1, kind
        # Every entry and change of one delivery: three contacts scheduled.
        assert await e2e.buffered() == 3
        assert e2e.stand_ins.meta.requests == []  # nothing answered in the request


async def test_every_twilio_case_is_accepted_and_status_callbacks_buffer_nothing(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(make_settings, stand_ins, WORKERS_IN_PROCESS=False)
    async with running(app_client, settings, stand_ins) as e2e:
        for case in ("status_callback", "status_callback_failed"):
            form = json.loads((DATA / "twilio" / f"{case}.json").read_bytes())
            response = await e2e.post_twilio(form)
            assert response.status_code == 200 and "<Response>" in response.text
        await nothing_buffered(e2e)

        expected = []
        for path in sorted((DATA / "twilio").glob("*.json")):
            if path.stem.startswith("status_callback"):
                continue
            form = json.loads(path.read_bytes())
            form["MessageSid"] = form["SmsSid"] = f"SM{path.stem}"
            expected.append(f"SM{path.stem}")
            response = await e2e.post_twilio(form)
            assert response.status_code == 200, (path.stem, response.text)
        key = f"wa:c:{{twilio:{CONTACT}}}:msgs"
        buffered = [InboundMessage.from_json(raw) for raw in await e2e.redis.lrange(key, 0, -1)]
        assert [m.message_id for m in buffered] == expected
        assert {m.kind for m in buffered} >= {"text", "audio", "image", "document", "location"}


async def test_twilio_signature_is_over_the_public_base_url(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(
        make_settings, stand_ins, PUBLIC_BASE_URL="https://bot.example.com",
        WORKERS_IN_PROCESS=False,
    )
    async with running(app_client, settings, stand_ins) as e2e:
        params = twilio_text("Hola")
        as_seen = sign_twilio(params)  # over http://testserver/..., the proxied host
        assert (await e2e.post_twilio(params, signature=as_seen)).status_code == 403
        public = sign_twilio(params, url="https://bot.example.com/webhooks/twilio")
        assert (await e2e.post_twilio(params, signature=public)).status_code == 200
        assert await e2e.buffered() == 1


async def test_forged_missing_and_stale_signatures_are_refused(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        body = json.dumps(meta_payload(meta_text("Hola"))).encode()
        stale = sign_meta(body)
        altered = body.replace(b"Hola", b"Hole")
        for signature in (sign_meta(body, "not-the-secret"), None, "", stale, "sha256=zz"):
            content = altered if signature == stale else body
            response = await e2e.post_meta(content, signature=signature)
            assert response.status_code == 403, signature

        params = twilio_text("Hola")
        forged = sign_twilio(params, token="not-the-token")
        assert (await e2e.post_twilio(params, signature=forged)).status_code == 403
        assert (await e2e.post_twilio(params, signature=None)).status_code == 403
        stale_twilio = sign_twilio(params)
        changed = {**params, "Body": "Hola!"}
        assert (await e2e.post_twilio(changed, signature=stale_twilio)).status_code == 403
        # Signed for another URL (a proxy's Host is not what Twilio signed).
        other_url = sign_twilio(params, url="https://attacker.example/webhooks/twilio")
        assert (await e2e.post_twilio(params, signature=other_url)).status_code == 403

        await nothing_buffered(e2e)
        assert e2e.stand_ins.meta.attempts == 0 and e2e.stand_ins.twilio.attempts == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"\xff\xfe\x00garbage",
        b"[]",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"object": "whatsapp_business_account", "entry": {"not": "a list"}}',
        b'{"object": "whatsapp_business_account", "entry": [' + b'{"a":' * 5000 + b"1"
        + b"}" * 5000 + b"]}",
    ],
    ids=["invalid", "empty", "binary", "array", "deep-array", "entry-object", "deep-object"],
)
async def test_malformed_meta_bodies_are_400_and_buffer_nothing(
    app_client: Any, make_settings: Any, stand_ins: StandIns, body: bytes
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        response = await e2e.post_meta(body)
        assert response.status_code == 400, response.text
        await nothing_buffered(e2e)


async def test_malformed_twilio_form_is_400(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        params = twilio_text("Hola")
        params["From"] = "whatsapp:not-a-number"
        assert (await e2e.post_twilio(params)).status_code == 400
        no_sender = {k: v for k, v in twilio_text("Hola").items() if k != "From"}
        assert (await e2e.post_twilio(no_sender)).status_code == 400
        await nothing_buffered(e2e)


async def test_unsigned_requests_are_refused_while_the_secret_is_unset(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    # Neither provider configured (half a provider is refused at start-up).
    providers = (
        "META_APP_SECRET", "META_VERIFY_TOKEN", "META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID",
        "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_NUMBER",
    )
    unset: dict[str, Any] = dict.fromkeys(providers) | {"WORKERS_IN_PROCESS": False}
    body = json.dumps(meta_payload(meta_text("Hola"))).encode()
    refusing = settings_for(make_settings, stand_ins, **unset)
    async with running(app_client, refusing, stand_ins) as e2e:
        assert (await e2e.post_meta(body, signature=None)).status_code == 403
        assert (await e2e.post_meta(body, signature="sha256=abc")).status_code == 403
        assert (await e2e.post_twilio(twilio_text("Hola"), signature=None)).status_code == 403
        await nothing_buffered(e2e)

    allowed = settings_for(make_settings, stand_ins, ALLOW_UNSIGNED_WEBHOOKS=True, **unset)
    async with running(app_client, allowed, stand_ins) as e2e:
        assert (await e2e.post_meta(body, signature=None)).status_code == 200
        assert (await e2e.post_twilio(twilio_text("Hola"), signature=None)).status_code == 200
        assert await e2e.buffered() == 2  # meta:+549... and twilio:+549...
        await e2e.redis.delete(*await e2e.redis.keys("wa:*"))

    # The switch only covers a missing secret: a configured secret is always checked.
    configured = settings_for(
        make_settings, stand_ins, ALLOW_UNSIGNED_WEBHOOKS=True, WORKERS_IN_PROCESS=False
    )
    async with running(app_client, configured, stand_ins) as e2e:
        assert (await e2e.post_meta(body, signature=None)).status_code == 403
        assert (await e2e.post_twilio(twilio_text("Hola"), signature=None)).status_code == 403
        await nothing_buffered(e2e)


# --- Bursts ------------------------------------------------------------------------------------


async def test_the_same_delivery_twice_gets_one_reply(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        payload = meta_payload(meta_text("Hi, I'm Ana"))
        assert (await e2e.post_meta(payload)).status_code == 200
        assert (await e2e.post_meta(payload)).status_code == 200
        await e2e.wait_meta_replies(1)
        # Meta retries a delivery long after: still a duplicate.
        assert (await e2e.post_meta(payload)).status_code == 200
        await e2e.wait_idle()
        assert len(e2e.meta_replies()) == 1
        assert [t for d, _, t in await e2e.transcript() if d == "in"] == ["Hi, I'm Ana"]


async def test_a_nul_character_does_not_wedge_the_contact(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    # Postgres refuses NUL: the burst used to fail on every retry, taking later messages along.
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hi, I'm\x00 Ana")
        await e2e.twilio("Hola\x00")
        await e2e.wait_meta_replies(1)
        await e2e.wait_twilio_replies(1)
        assert fixed_text("errors.apology", "en") not in e2e.meta_replies()
        assert [t for d, _, t in await e2e.transcript() if d == "in"] == ["Hi, I'm Ana", "Hola"]


async def test_a_lone_surrogate_does_not_block_the_delivery(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    # "\ud800" without its pair is valid JSON but not storable text: it used to fail the buffer
    # with a 503, and Meta would redeliver the whole delivery (its valid messages too) for days.
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hi \ud800 there")
        await e2e.wait_meta_replies(1)
        assert [t for d, _, t in await e2e.transcript() if d == "in"] == ["Hi \ufffd there"]


async def test_five_messages_inside_the_quiet_gap_make_one_graph_run(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    # A quiet gap the five deliveries fit in comfortably, even on a loaded machine.
    settings = settings_for(
        make_settings, stand_ins, BUFFER_QUIET_MS=400, BUFFER_MAX_WAIT_MS=4000, **llm_settings(llm)
    )
    llm.push(json=agent_json("Hi Ana! A CRM for 20 people, got it."))
    texts = ["Hi", "I'm Ana", "from Acme", "we need a CRM", "for 20 people"]
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta(*texts)
        replies = await e2e.wait_meta_replies(1)
    assert replies == ["Hi Ana! A CRM for 20 people, got it."]
    assert len(llm.chat_requests) == 1
    assert lead_lines(llm.chat_requests[0]) == texts


async def test_a_message_while_the_model_answers_gets_one_reply_covering_both(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    llm.push(json=agent_json("Hi! How can I help?"), delay=0.6)
    llm.push(json=agent_json("Hi! A CRM for 20 people, noted."))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("Hi")
        await wait_until(lambda: llm.chat_requests, what="the first model call")
        await e2e.meta("we need a CRM for 20 people")
        replies = await e2e.wait_meta_replies(1)
        await e2e.wait_idle()  # every burst acked: no second reply can follow
        assert e2e.meta_replies() == replies
        transcript = await e2e.transcript()
    assert replies == ["Hi! A CRM for 20 people, noted."]
    assert len(llm.chat_requests) == 2  # the stale draft was discarded and the turn re-run
    assert lead_lines(llm.chat_requests[-1]) == ["Hi", "we need a CRM for 20 people"]
    assert transcript == [
        ("in", "lead", "Hi"),
        ("in", "lead", "we need a CRM for 20 people"),
        ("out", "bot", "Hi! A CRM for 20 people, noted."),
    ]


async def test_a_message_after_the_reply_went_out_gets_a_second_run(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    llm.push(json=agent_json("Hi! How can I help?"))
    llm.push(json=agent_json("A CRM, noted."))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("Hi")
        await e2e.wait_meta_replies(1)
        await e2e.meta("we need a CRM")
        replies = await e2e.wait_meta_replies(2)
    assert replies == ["Hi! How can I help?", "A CRM, noted."]
    assert len(llm.chat_requests) == 2
    assert non_system(llm.chat_requests[-1])[-1]["content"] == "we need a CRM"


# --- Numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("whatsapp_form", "canonical"),
    [("+5215512345678", "+525512345678"), ("+5491123456789", "+5491123456789")],
    ids=["mexico", "argentina"],
)
async def test_whatsapp_number_forms_are_answered_and_stored_under_one_canonical_number(
    app_client: Any, make_settings: Any, stand_ins: StandIns, whatsapp_form: str, canonical: str
) -> None:
    # Meta sends a Mexican mobile as 521 and ten digits: it used to be skipped as an impossible
    # number, so the lead got no answer and no lead row.
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hola, soy Ana", contact=whatsapp_form)
        await e2e.twilio("Hola, soy Ana", contact=whatsapp_form)
        await e2e.wait_meta_replies(1, contact=whatsapp_form)
        await e2e.wait_twilio_replies(1, contact=whatsapp_form)

        # Replies go to the number exactly as each provider wrote it.
        meta_to = {r.json["to"] for r in e2e.stand_ins.meta.requests if r.json.get("type")}
        twilio_to = {r.form["To"] for r in e2e.stand_ins.twilio.requests if "Body" in r.form}
        assert meta_to == {whatsapp_form.lstrip("+")}  # Meta's wa_id, digits only
        assert twilio_to == {f"whatsapp:{whatsapp_form}"}

        # The person is one canonical number on both channels, with a lead on each.
        async def leads() -> list[tuple[str, str]]:
            rows = await e2e.fetch(
                "SELECT c.channel, c.number FROM leads l JOIN contacts c ON c.id = l.contact_id "
                "ORDER BY c.channel"
            )
            return [(r["channel"], r["number"]) for r in rows]

        async def both() -> bool:
            return len(await leads()) == 2

        await wait_until(both, what="a lead row on each channel")
        assert await leads() == [("meta", canonical), ("twilio", canonical)]
        numbers = await e2e.fetch("SELECT DISTINCT number FROM contacts")
        assert [r["number"] for r in numbers] == [canonical]

        # What the team writes first (here a reply through the admin API; reminders and
        # follow-ups alike) goes to the form the provider wrote, not the canonical number.
        for channel in ("meta", "twilio"):
            sent = await e2e.admin(
                "POST", f"/contacts/{channel}/{canonical}/reply", json={"text": "Hola Ana"}
            )
            assert sent.status_code == 200, sent.text
        meta_last = [r.json["to"] for r in e2e.stand_ins.meta.requests if r.json.get("type")][-1]
        twilio_last = [r.form["To"] for r in e2e.stand_ins.twilio.requests if "Body" in r.form][-1]
        assert meta_last == whatsapp_form.lstrip("+")
        assert twilio_last == f"whatsapp:{whatsapp_form}"


# --- Replies -----------------------------------------------------------------------------------


def long_reply(paragraphs: int, size: int) -> str:
    return "\n\n".join(
        f"**Part {i}.** " + " ".join(f"word{i}-{j}" for j in range(size)) for i in range(paragraphs)
    )


async def test_a_twilio_conversation_with_a_long_reply_split_at_1600_in_order(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    reply = long_reply(3, 150)  # about 1,300 characters a paragraph
    assert len(reply) > 3200
    # A team that lets the bot write long replies (REPLY_MAX_CHARS): they are split in order.
    settings = settings_for(make_settings, stand_ins, REPLY_MAX_CHARS=20_000, **llm_settings(llm))
    llm.push(json=agent_json(reply))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.twilio("Hi, I need a quote")
        await wait_until(lambda: len(e2e.twilio_replies()) >= 2, what="the reply parts")
        await e2e.wait_idle()
        parts = e2e.twilio_replies()
        sent_from = {r.form["From"] for r in e2e.stand_ins.twilio.requests}
        transcript = await e2e.transcript()
    assert len(parts) == 3 and all(len(p) <= 1600 for p in parts)
    assert [p.split(".", 1)[0] for p in parts] == ["*Part 0", "*Part 1", "*Part 2"]  # **x** -> *x*
    assert "\n\n".join(parts) == reply.replace("**", "*")
    assert sent_from == {"whatsapp:+14155238886"}
    assert e2e.stand_ins.meta.requests == []
    assert transcript[-1][:2] == ("out", "bot")


async def test_a_meta_reply_split_at_4096_after_read_receipt_and_typing(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    reply = long_reply(3, 400)  # about 3,500 characters a paragraph
    settings = settings_for(make_settings, stand_ins, REPLY_MAX_CHARS=20_000, **llm_settings(llm))
    llm.push(json=agent_json(reply))
    async with running(app_client, settings, stand_ins) as e2e:
        ids = await e2e.meta("Hi", "I need a quote")
        await wait_until(lambda: len(e2e.meta_replies()) >= 3, what="the reply parts")
        await e2e.wait_idle()
        parts = e2e.meta_replies()
        requests = [r.json for r in e2e.stand_ins.meta.requests]
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == reply.replace("**", "*")
    # The burst is shown read (its last message) with a typing indicator before the reply.
    assert requests[0] == {
        "messaging_product": "whatsapp", "status": "read", "message_id": ids[-1],
        "typing_indicator": {"type": "text"},
    }
    assert [r.get("type") for r in requests[1:]] == ["text", "text", "text"]


async def test_outbound_5xx_is_retried(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        e2e.stand_ins.twilio.script(Scripted(503, {"code": 20500, "message": "busy"}))
        await e2e.twilio("Hi, I'm Ana")
        replies = await e2e.wait_twilio_replies(1)
        assert len(replies) == 1
        assert e2e.stand_ins.twilio.attempts == 2  # the 503, then the accepted retry
        assert fixed_text("errors.apology", "en") not in replies


async def test_redis_unreachable_during_a_webhook_is_503(
    app_client: Any, make_settings: Any, stand_ins: StandIns, redis_url: str
) -> None:
    if not redis_url.startswith("redis://"):
        pytest.skip("the proxy needs a TCP Redis; the embedded one listens on a socket")
    parts = urlsplit(redis_url)
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        settings = settings_for(
            make_settings, stand_ins, REDIS_URL=proxied_url(redis_url, proxy.port),
            WORKERS_IN_PROCESS=False,
        )
        async with running(app_client, settings, stand_ins) as e2e:
            await proxy.cut()
            response = await e2e.post_meta(meta_payload(meta_text("Hola")))
            assert response.status_code == 503
            response = await e2e.post_twilio(twilio_text("Hola"))
            assert response.status_code == 503
            await proxy.restore()
            # The provider delivers again: now it is buffered (not taken for a duplicate).
            payload = meta_payload(meta_text("Hola", message_id="wamid.retried"))
            assert (await e2e.post_meta(payload)).status_code == 200
            assert await e2e.buffered() == 1


class CutRedisAfterFirstSend:
    """The app's channels, but Redis goes away right after the provider accepted the first part
    (issue #15 item 3): before the worker can mark the part sent or hand the burst back."""

    def __init__(self, channels: Any, proxy: TcpProxy) -> None:
        self.channels = channels
        self.proxy = proxy
        self.cut = False

    def parts(self, channel: str, reply: OutgoingReply) -> list[OutgoingReply]:
        return list(self.channels.parts(channel, reply))

    async def typing(self, channel: str, message_id: str) -> None:
        await self.channels.typing(channel, message_id)

    async def send_text(self, channel: str, to: str, text: str) -> list[str]:
        return list(await self.channels.send_text(channel, to, text))

    async def send(
        self, channel: str, to: str, message: OutgoingReply, *, language: str | None
    ) -> list[str]:
        ids = list(await self.channels.send(channel, to, message, language=language))
        if not self.cut:
            self.cut = True
            await self.proxy.cut()
        return ids


async def test_redis_cut_right_after_the_provider_accepts_a_part_gives_one_reply(
    app_client: Any, make_settings: Any, stand_ins: StandIns, redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not redis_url.startswith("redis://"):
        pytest.skip("the proxy needs a TCP Redis; the embedded one listens on a socket")
    parts = urlsplit(redis_url)
    caplog.set_level("ERROR", logger="pipeline.processor")
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        settings = settings_for(
            make_settings, stand_ins, REDIS_URL=proxied_url(redis_url, proxy.port)
        )
        async with running(app_client, settings, stand_ins) as e2e:
            processor = e2e.pipeline.processor
            processor.sender = CutRedisAfterFirstSend(processor.sender, proxy)
            await e2e.meta("Hi, I'm Ana")
            await wait_until(
                lambda: "could not be handed back" in caplog.text, what="the failed burst"
            )
            assert len(e2e.meta_replies()) == 1
            await proxy.restore()
            # Time passes: the lease the worker could not release expires, the burst is due.
            await e2e.redis.pexpire(f"wa:c:{{{THREAD}}}:lease", 1)
            await e2e.redis.zadd("wa:due", {THREAD: 0})
            e2e.pipeline.workers.wake()
            await e2e.wait_idle()
            replies = e2e.meta_replies()
            outbound = [t for d, _, t in await e2e.transcript() if d == "out"]
    assert len(replies) == 1  # the retry found the part in Postgres and did not send it again
    assert outbound == replies


# --- Commands ----------------------------------------------------------------------------------


async def test_help_reset_and_human_commands(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("/help")
        assert (await e2e.wait_meta_replies(1))[-1] == fixed_text("commands.help", "en")

        await e2e.meta("Hi, I'm Ana")
        await e2e.wait_meta_replies(2)
        assert (await e2e.pipeline.engine.state(THREAD)).get("messages")
        await e2e.meta("/reset")
        assert (await e2e.wait_meta_replies(3))[-1] == fixed_text("commands.reset", "en")
        assert await e2e.pipeline.engine.state(THREAD) == {}

        await e2e.meta("/human")
        assert (await e2e.wait_meta_replies(4))[-1] == fixed_text("handoff.requested", "en")
        rows = await e2e.fetch("SELECT status FROM leads")
        assert [r["status"] for r in rows] == ["handed_off"]
        # Human mode: the next message is stored, not answered.
        await e2e.meta("hello?")
        await e2e.wait_transcript("hello?")
        await e2e.wait_idle()
        assert len(e2e.meta_replies()) == 4


async def test_a_request_for_a_person_in_the_leads_language(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    """Every language's command and curated phrases hand off in the graph, with no model, and
    the lead reads the handoff in their language: `/humano` after a Spanish greeting, a French
    phrase, the German command, an Italian phrase."""
    leads = {
        "+34611000001": (["Hola, buenas", "/humano"], "es"),
        "+33611000002": (["Je voudrais parler à un conseiller"], "fr"),
        "+49151000003": (["/mensch"], "de"),
        "+39311000004": (["Posso parlare con una persona?"], "it"),
    }
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        for contact, (texts, language) in leads.items():
            for number, said in enumerate(texts, 1):
                await e2e.meta(said, contact=contact)
                replies = await e2e.wait_meta_replies(number, contact=contact)
            assert replies[-1] == fixed_text("handoff.requested", language)
        rows = await e2e.fetch("SELECT status FROM leads")
        assert [r["status"] for r in rows] == ["handed_off"] * len(leads)


# --- Workers -----------------------------------------------------------------------------------


class Tracking:
    """A processor wrapper that records how many bursts of each contact run at once."""

    def __init__(self, processor: Any, active: Counter[str], peak: Counter[str]) -> None:
        self.processor = processor
        self.active = active
        self.peak = peak
        self.bursts = 0

    async def process(self, burst: Any) -> None:
        thread = burst.thread_id
        self.active[thread] += 1
        self.peak[thread] = max(self.peak[thread], self.active[thread])
        self.bursts += 1
        try:
            await asyncio.sleep(0.05)  # hold the contact long enough for the other pool to try
            await self.processor.process(burst)
        finally:
            self.active[thread] -= 1


async def test_two_separate_worker_pools_never_process_one_contact_at_once(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(
        make_settings, stand_ins, WORKERS_IN_PROCESS=False, WORKER_CONCURRENCY=3
    )
    contacts = ["+5491123456789", "+16505551234", "+34612345678"]
    active: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    async with running(app_client, settings, stand_ins) as e2e:
        resources = e2e.app.state.resources
        async with build_pipeline(resources) as one, build_pipeline(resources) as two:
            trackers = []
            for worker in (one, two):
                tracker = Tracking(worker.workers.processor, active, peak)
                worker.workers.processor = tracker  # type: ignore[assignment]
                trackers.append(tracker)
                worker.workers.start()
            for round_ in range(3):
                for contact in contacts:
                    await e2e.meta(f"message {round_}", contact=contact)
                await asyncio.sleep(0.06)  # a new burst while the last one may still run

            async def every_message_stored() -> bool:
                count = await e2e.fetchval("SELECT count(*) FROM transcript WHERE direction='in'")
                return bool(count == 9)

            await wait_until(every_message_stored, what="all nine messages stored")
            await e2e.wait_idle()
            for contact in contacts:
                assert e2e.meta_replies(contact), contact
    assert set(peak) == {f"meta:{c}" for c in contacts}
    assert max(peak.values()) == 1
    assert sum(t.bursts for t in trackers) >= 3


async def test_a_worker_cancelled_mid_burst_loses_nothing_and_replies_once(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    settings = settings_for(make_settings, stand_ins, WORKERS_IN_PROCESS=False, **llm_settings(llm))
    llm.push(json=agent_json("never sent"), delay=5)
    llm.push(json=agent_json("Hi Ana!"))
    async with running(app_client, settings, stand_ins) as e2e:
        resources = e2e.app.state.resources
        async with build_pipeline(resources) as first, build_pipeline(resources) as second:
            first.buffer.lease_ms = second.buffer.lease_ms = 500
            first.workers.shutdown_grace = 0
            first.workers.start()
            await e2e.meta("Hi, I'm Ana")
            await wait_until(lambda: llm.chat_requests, what="the first model call")
            await first.workers.stop()  # stopped mid-burst with no grace: the burst goes back
            second.workers.start()
            replies = await e2e.wait_meta_replies(1)
            await e2e.wait_idle()  # every burst acked: no second reply can follow
            assert e2e.meta_replies() == replies == ["Hi Ana!"]
            assert [t for d, _, t in await e2e.transcript() if d == "in"] == ["Hi, I'm Ana"]
    assert len(llm.chat_requests) == 2
    assert non_system(llm.chat_requests[-1])[-1]["content"] == "Hi, I'm Ana"
