"""Issue #6 end to end: handoffs through the real app land as one lead row and one manager email
(real SMTP on 127.0.0.1, or `.eml` files), survive SMTP and Postgres outages, and human takeover,
opt-out and idle expiry decide whether the bot speaks."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest

from domain.contact import ContactMode
from domain.texts import text as fixed_text
from tests.graph.fakes import agent_json, tool_call
from tests.utils.e2e import (
    CONTACT,
    E2E,
    MANAGER,
    SmtpRecorder,
    StandIns,
    eml_subjects,
    llm_settings,
    meta_payload,
    meta_text,
    proxied_url,
    running,
    running_stand_ins,
    settings_for,
    wait_until,
)
from tests.utils.tcp_proxy import TcpProxy

THREAD = f"meta:{CONTACT}"
SUBJECT = "Quote request: Ana (Acme)"


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    with running_stand_ins() as servers:
        yield servers


@pytest.fixture
def smtp() -> Iterator[SmtpRecorder]:
    server = SmtpRecorder().start()
    yield server
    server.stop()


def smtp_settings(smtp: SmtpRecorder) -> dict[str, Any]:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port, "SMTP_STARTTLS": False}


async def rows(e2e: E2E, query: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await e2e.fetch(query)]


async def all_sent(e2e: E2E) -> bool:
    return bool(await e2e.fetchval(
        "SELECT bool_and(status = 'sent') FROM outbox WHERE kind = 'manager_email'"
    ))


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


# --- Each handoff reason -----------------------------------------------------------------------

GREETED = agent_json(
    "Hi Ana! A CRM for Acme, got it. What budget do you have in mind?",
    name="Ana", company="Acme", need="a CRM for our 20 sellers", need_summary="CRM",
)
QUALIFIED = agent_json(
    "Thanks Ana, shall we book a call?", name="Ana", company="Acme",
    need="a CRM for our 20 sellers", need_summary="CRM", budget="5k USD", budget_amount=5000,
    budget_currency="USD", authority="I decide", authority_role="CEO", authority_decides=True,
    timeline="next month",
)


def script(llm: Any, reason: str) -> list[str]:
    """Queue the model's answers for a conversation ending in `reason`; the lead's messages."""
    if reason == "requested":
        llm.push(json=GREETED)
        return ["Hi, I'm Ana from Acme, we need a CRM for our 20 sellers", "/human"]
    if reason == "low_confidence":
        llm.push(json=GREETED)
        llm.push(json=agent_json("Maybe?", confidence=0.2, name="Ana", company="Acme"))
        return [
            "Hi, I'm Ana from Acme, we need a CRM for our 20 sellers",
            "Can you integrate with our ERP?",
        ]
    if reason == "unresolved":
        llm.push(json=GREETED)
        llm.push(json=agent_json("I'm not sure.", resolved=False, name="Ana", company="Acme"))
        return [
            "Hi, I'm Ana from Acme, we need a CRM for our 20 sellers",
            "What about on-premise licences?",
        ]
    assert reason == "booked"
    llm.push(json=QUALIFIED)
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("These times are free: 1, 2 or 3?", name="Ana", company="Acme"))
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Booked!", name="Ana", company="Acme"))
    return [
        "Hi, I'm Ana, CEO of Acme: a CRM for our 20 sellers, 5k USD, I decide, next month",
        "yes, let's book",
        "the first one",
    ]


@pytest.mark.parametrize("reason", ["requested", "low_confidence", "unresolved", "booked"])
async def test_each_handoff_reason_gives_one_lead_row_and_one_email(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any, smtp: SmtpRecorder,
    reason: str,
) -> None:
    settings = settings_for(
        make_settings, stand_ins, HANDOFF_UNRESOLVED=1, **smtp_settings(smtp), **llm_settings(llm)
    )
    messages = script(llm, reason)
    async with running(app_client, settings, stand_ins) as e2e:
        for count, text in enumerate(messages, start=1):
            await e2e.meta(text)
            await e2e.wait_meta_replies(count)
        replies = e2e.meta_replies()
        await wait_until(lambda: smtp.received, what="the manager's email")
        await wait_until(lambda: all_sent(e2e), what="the outbox row marked sent")
        delivered_again = await e2e.pipeline.outbox.run_once()
        leads = await rows(e2e, "SELECT status, name, company FROM leads")
        handoffs = await rows(e2e, "SELECT reason, resolved_at FROM handoffs")
        outbox = await rows(e2e, "SELECT status, attempts FROM outbox WHERE kind='manager_email'")
        mode = await e2e.pipeline.store.contacts.mode("meta", CONTACT)
    assert llm.pending == 0
    assert replies[-1].endswith(fixed_text(f"handoff.{reason}", "en"))
    status = "booked" if reason == "booked" else "handed_off"
    assert leads == [{"status": status, "name": "Ana", "company": "Acme"}]
    assert handoffs == [{"reason": reason, "resolved_at": None}]
    assert outbox == [{"status": "sent", "attempts": 1}]
    assert delivered_again == 0
    assert smtp.subjects() == [SUBJECT]
    email = smtp.received[0]
    assert email["To"] == MANAGER
    text = plain(email)
    assert f"({reason})" in text
    assert "https://wa.me/5491123456789" in text
    assert messages[0] in text  # the last messages, in the lead's words
    assert mode is (ContactMode.CALL_BOOKED if reason == "booked" else ContactMode.WAITING)


async def test_a_name_cannot_inject_email_headers(
    app_client: Any, make_settings: Any, stand_ins: StandIns, smtp: SmtpRecorder
) -> None:
    settings = settings_for(make_settings, stand_ins, **smtp_settings(smtp))
    async with running(app_client, settings, stand_ins) as e2e:
        payload = meta_payload(
            meta_text("/human"), name="Eve\r\nBcc: thief@evil.example\r\nX-Evil: 1"
        )
        assert (await e2e.post_meta(payload)).status_code == 200
        await e2e.wait_meta_replies(1)
        await wait_until(lambda: smtp.received, what="the manager's email")
    email = smtp.received[0]
    assert email["Bcc"] is None and email["X-Evil"] is None
    assert "\n" not in str(email["Subject"]) and "\r" not in str(email["Subject"])
    assert str(email["Subject"]).startswith("Quote request: Eve")


# --- Outages -----------------------------------------------------------------------------------


async def test_smtp_down_then_up_delivers_the_email_once(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    smtp = SmtpRecorder()  # not started: the mail server is down
    settings = settings_for(make_settings, stand_ins, **smtp_settings(smtp))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("/human")
        await e2e.wait_meta_replies(1)

        async def failed_once() -> bool:
            value = await e2e.fetchval(
                "SELECT attempts FROM outbox WHERE status = 'pending' AND last_error IS NOT NULL"
            )
            return bool(value)

        await wait_until(failed_once, what="a failed delivery attempt")
        smtp.start()
        try:
            # Time passes: the row's backoff is over.
            await e2e.fetchval(
                "UPDATE outbox SET next_attempt_at = now() WHERE kind = 'manager_email' "
                "RETURNING id"
            )
            e2e.pipeline.outbox.wake()
            await wait_until(lambda: smtp.received, what="the email after recovery")
            await wait_until(lambda: all_sent(e2e), what="the outbox row marked sent")
            assert await e2e.pipeline.outbox.run_once() == 0
            outbox = await rows(
                e2e, "SELECT status, last_error FROM outbox WHERE kind = 'manager_email'"
            )
        finally:
            smtp.stop()
    assert smtp.subjects() == ["Quote request: Ana García"]
    assert outbox == [{"status": "sent", "last_error": None}]


async def test_postgres_down_during_a_handoff_retries_the_burst_and_the_lead_lands(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any, database_url: str
) -> None:
    if "host=/" in database_url or not urlsplit(database_url).hostname:
        pytest.skip("the proxy needs a TCP Postgres; the embedded one listens on a socket")
    parts = urlsplit(database_url)
    llm.push(json=agent_json("Let me get a person.", wants_human=True), delay=0.5)
    llm.push(json=agent_json("Let me get a person.", wants_human=True))
    async with TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        settings = settings_for(
            make_settings, stand_ins, DATABASE_URL=proxied_url(database_url, proxy.port),
            **llm_settings(llm),
        )
        async with running(app_client, settings, stand_ins) as e2e:
            await e2e.meta("Hi, can someone from sales call me about pricing?")
            await wait_until(lambda: llm.chat_requests, what="the model call")
            await proxy.cut()  # Postgres goes away while the model answers
            lease = f"wa:c:{{{THREAD}}}:lease"

            async def released() -> bool:
                return not await e2e.redis.exists(lease)

            await wait_until(released, what="the burst to be released for a retry")
            await proxy.restore()
            # Time passes: the burst's retry is due now.
            await e2e.redis.zadd("wa:due", {THREAD: 0})
            e2e.pipeline.workers.wake()
            replies = await e2e.wait_meta_replies(1)
            leads = await rows(e2e, "SELECT status FROM leads")
            handoffs = await rows(e2e, "SELECT reason FROM handoffs")
            emails = await e2e.fetchval("SELECT count(*) FROM outbox WHERE kind='manager_email'")
            inbound = [t for d, _, t in await e2e.transcript() if d == "in"]
    # Issue #15 item 4: the retry a few seconds later answers; no apology before it.
    assert replies == [fixed_text("handoff.requested", "en")]
    assert leads == [{"status": "handed_off"}]
    assert handoffs == [{"reason": "requested"}]
    assert emails == 1
    assert inbound == ["Hi, can someone from sales call me about pricing?"]


# --- Opt-out and idle expiry -------------------------------------------------------------------


async def test_opt_out_is_confirmed_once_then_silence_until_start(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    words = {"+5491123456789": "STOP", "+34612345678": "baja", "+5511987654321": "parar"}
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        for contact, word in words.items():
            await e2e.meta(word, contact=contact)
            await e2e.wait_meta_replies(1, contact=contact)
            await e2e.meta(word, contact=contact)  # again: not confirmed twice
            await e2e.meta("hello?", contact=contact)
            await e2e.wait_transcript("hello?", contact=contact)
            await e2e.wait_idle()
        for contact in words:
            assert len(e2e.meta_replies(contact)) == 1, contact
        assert e2e.meta_replies("+5491123456789") == [fixed_text("commands.stopped", "en")]
        assert e2e.meta_replies("+34612345678") == [fixed_text("commands.stopped", "es")]
        assert e2e.meta_replies("+5511987654321") == [fixed_text("commands.stopped", "pt")]
        opted = await rows(e2e, "SELECT count(*) AS n FROM contacts WHERE opted_out")
        assert opted == [{"n": 3}]

        await e2e.meta("/start")
        assert (await e2e.wait_meta_replies(2))[-1] == fixed_text("commands.started", "en")
        await e2e.meta("Hi, I'm Ana")
        assert len(await e2e.wait_meta_replies(3)) == 3  # the bot talks again


async def test_human_idle_expiry_returns_the_contact_to_the_bot(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(make_settings, stand_ins, HUMAN_IDLE_HOURS=24)
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta("/human")
        handoff = (await e2e.wait_meta_replies(1))[-1]
        await e2e.meta("anyone there?")
        await e2e.wait_transcript("anyone there?")
        await e2e.wait_idle()
        assert len(e2e.meta_replies()) == 1  # silent while the human has the contact

        await e2e.fetchval(
            "UPDATE contacts SET human_since = now() - interval '30 hours', "
            "human_last_activity = now() - interval '25 hours' RETURNING id"
        )
        await e2e.meta("Hi again, I'm Ana")
        replies = await e2e.wait_meta_replies(2)
        state = await e2e.pipeline.engine.state(THREAD)
        mode = await e2e.pipeline.store.contacts.mode("meta", CONTACT)
        contact = await rows(e2e, "SELECT human_since FROM contacts")
        handoffs = await rows(e2e, "SELECT resolved_at IS NOT NULL AS resolved FROM handoffs")
        await wait_until(lambda: eml_subjects(settings.DATA_DIR), what="the .eml file")
    assert replies[-1] != handoff and fixed_text("handoff.requested", "en") not in replies[-1]
    assert mode is ContactMode.BOT and state["human_stretch"] is not None
    assert contact == [{"human_since": None}]
    assert handoffs == [{"resolved": True}]
    assert eml_subjects(settings.DATA_DIR) == ["Quote request: Ana García"]
