"""Helpers of the end-to-end tests: the real app (lifespan, workers, outbox) between signed
WhatsApp webhooks and the Twilio/Meta stand-ins, an SMTP server that records what it receives,
and `wait_until` (poll a condition until a deadline; the tests never assert on elapsed time).

    async with running(app_client, settings_for(make_settings, stand_ins)) as e2e:
        await e2e.meta("Hi")                       # a signed Meta delivery, 200
        await e2e.wait_meta_replies(1)             # what the stand-in received

Fixtures stay in the test modules (pytest finds them there); the pieces they build live here.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import inspect
import itertools
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiosmtpd.controller import Controller
from twilio.request_validator import RequestValidator

from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import (
    ACCESS_TOKEN,
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE_NUMBER_ID,
    MetaStandIn,
    TwilioStandIn,
)

__all__ = [
    "ADMIN_TOKEN",
    "APP_SECRET",
    "CONTACT",
    "DATA",
    "E2E",
    "SmtpRecorder",
    "StandIns",
    "TWILIO_URL",
    "VERIFY_TOKEN",
    "free_port",
    "meta_payload",
    "meta_text",
    "proxied_url",
    "running",
    "running_stand_ins",
    "settings_for",
    "sign_meta",
    "sign_twilio",
    "twilio_text",
    "wait_until",
]

DATA = Path(__file__).resolve().parents[1] / "data"
APP_SECRET = "meta-e2e-app-secret"
VERIFY_TOKEN = "meta-e2e-verify-token"
ADMIN_TOKEN = "admin-e2e-token"
MANAGER = "manager@sales.example"
BUSINESS_NUMBER = "+14155238886"
CONTACT = "+5491123456789"
"""The lead of most tests (E.164), the sender of the recorded payloads."""
TWILIO_URL = "http://testserver/webhooks/twilio"
"""The URL Twilio signs: the ASGI transport's request URL (no PUBLIC_BASE_URL)."""

_ids = itertools.count(1)


# --- Waiting -----------------------------------------------------------------------------------


async def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "the condition",
) -> Any:
    """Poll `condition` (sync or async) until it returns something truthy; return that value.

    Fails with `what` in the message after `timeout` seconds: a deadline, not a timed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


# --- Stand-ins and settings --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StandIns:
    twilio: TwilioStandIn
    twilio_url: str
    meta: MetaStandIn
    meta_url: str

    def reset(self) -> None:
        self.twilio.reset()
        self.meta.reset()


@contextmanager
def running_stand_ins() -> Iterator[StandIns]:
    """The Twilio and Meta stand-ins on 127.0.0.1, each in its own server thread."""
    twilio, meta = TwilioStandIn(), MetaStandIn()
    with ThreadedServer(twilio.app()) as twilio_server, ThreadedServer(meta.app()) as meta_server:
        yield StandIns(twilio, twilio_server.url, meta, meta_server.url)


def settings_for(make_settings: Any, stand_ins: StandIns, **overrides: Any) -> Any:
    """Settings of an e2e app: both channels on the stand-ins, short quiet gap, admin token,
    manager email (`.eml` files under DATA_DIR/mail unless SMTP_HOST is given), no LLM."""
    values: dict[str, Any] = {
        "BUFFER_QUIET_MS": 50,
        "BUFFER_MAX_WAIT_MS": 500,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": BUSINESS_NUMBER,
        "TWILIO_API_BASE": stand_ins.twilio_url,
        "TWILIO_CONTENT_API_BASE": stand_ins.twilio_url,
        "META_APP_SECRET": APP_SECRET,
        "META_VERIFY_TOKEN": VERIFY_TOKEN,
        "META_ACCESS_TOKEN": ACCESS_TOKEN,
        "META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "META_GRAPH_BASE": stand_ins.meta_url + "/v21.0",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "MANAGER_EMAIL": MANAGER,
        "MAIL_FROM": "agent@sales.example",
        "SMTP_STARTTLS": False,
        "LLM_MAX_RETRIES": 0,
        "LLM_TIMEOUT_SECONDS": 5.0,
        **overrides,
    }
    return make_settings(**values)


def llm_settings(llm: Any) -> dict[str, Any]:
    """The overrides that put the app's model on the scripted LLM."""
    return {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": llm.base_url}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proxied_url(url: str, port: int) -> str:
    """`url` with its host and port replaced by 127.0.0.1:`port` (a `TcpProxy` in front)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return parts._replace(netloc=netloc).geturl()


# --- Webhook deliveries ------------------------------------------------------------------------


def sign_meta(body: bytes, secret: str = APP_SECRET) -> str:
    """`X-Hub-Signature-256` as Meta computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_twilio(params: dict[str, str], url: str = TWILIO_URL, token: str = AUTH_TOKEN) -> str:
    """`X-Twilio-Signature` as Twilio computes it."""
    return str(RequestValidator(token).compute_signature(url, params))


def meta_payload(*messages: dict[str, Any], name: str = "Ana García") -> dict[str, Any]:
    """A Meta delivery holding `messages`, each sender with the profile `name`."""
    senders = sorted({m["from"] for m in messages})
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {
                        "display_phone_number": "15550783881",
                        "phone_number_id": PHONE_NUMBER_ID,
                    },
                    "contacts": [{"profile": {"name": name}, "wa_id": s} for s in senders],
                    "messages": list(messages),
                },
            }],
        }],
    }


def meta_text(
    text: str, *, contact: str = CONTACT, message_id: str | None = None
) -> dict[str, Any]:
    """One Meta text message (not yet wrapped in a delivery)."""
    return {
        "from": contact.lstrip("+"),
        "id": message_id or f"wamid.E2E{next(_ids)}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }


def twilio_text(
    text: str, *, contact: str = CONTACT, sid: str | None = None, name: str = "Ana García"
) -> dict[str, str]:
    """One Twilio WhatsApp text webhook's form."""
    message_sid = sid or f"SM{next(_ids):032x}"
    return {
        "SmsMessageSid": message_sid,
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{contact}",
        "To": f"whatsapp:{BUSINESS_NUMBER}",
        "WaId": contact.lstrip("+"),
        "ProfileName": name,
        "Body": text,
        "NumMedia": "0",
        "MessageType": "text",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def _same(address: Any, contact: str) -> bool:
    """Whether a Meta `to` is `contact`: replies go to the `wa_id` as Meta wrote it (no `+`)."""
    return isinstance(address, str) and address.lstrip("+") == contact.lstrip("+")


# --- SMTP --------------------------------------------------------------------------------------


class SmtpRecorder:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:`port` that keeps what it accepts; it can be
    started late (a mail server that is down, then up) on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.received.append(message)
        return "250 Message accepted"

    def start(self) -> SmtpRecorder:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def subjects(self) -> list[str]:
        with self._lock:
            return [str(m["Subject"]) for m in self.received]


def eml_subjects(data_dir: Path) -> list[str]:
    """Subjects of the emails the file mailer wrote under `DATA_DIR/mail`."""
    folder = Path(data_dir) / "mail"
    if not folder.exists():
        return []
    subjects = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        subjects.append(str(message["Subject"]))
    return subjects


# --- The running app ---------------------------------------------------------------------------


@dataclass
class E2E:
    """The running app and what surrounds it."""

    app: Any
    client: httpx.AsyncClient
    settings: Any
    stand_ins: StandIns
    admin_headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )

    @property
    def pipeline(self) -> Any:
        return self.app.state.pipeline

    @property
    def redis(self) -> Any:
        return self.app.state.resources.redis

    @property
    def pool(self) -> Any:
        return self.app.state.resources.pool

    # Deliveries -------------------------------------------------------------------------------
    async def post_meta(
        self, body: bytes | dict[str, Any], *, signature: str | None = "sign"
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature == "sign":
            signature = sign_meta(raw)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return await self.client.post("/webhooks/meta", content=raw, headers=headers)

    async def meta(self, *texts: str, contact: str = CONTACT) -> list[str]:
        """Each text as its own signed delivery (200 each); their message ids."""
        ids = []
        for text in texts:
            message = meta_text(text, contact=contact)
            response = await self.post_meta(meta_payload(message))
            assert response.status_code == 200, response.text
            ids.append(message["id"])
        return ids

    async def post_twilio(
        self, params: dict[str, str], *, signature: str | None = "sign"
    ) -> httpx.Response:
        headers = {}
        if signature == "sign":
            signature = sign_twilio(params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post("/webhooks/twilio", data=params, headers=headers)

    async def twilio(self, *texts: str, contact: str = CONTACT) -> None:
        for text in texts:
            response = await self.post_twilio(twilio_text(text, contact=contact))
            assert response.status_code == 200, response.text

    # What went out ----------------------------------------------------------------------------
    def meta_replies(self, contact: str = CONTACT) -> list[str]:
        """Text bodies the Meta stand-in accepted for `contact`, of text and interactive
        (buttons, list) messages alike (read receipts left out)."""
        return [
            r.json["text"]["body"] if r.json["type"] == "text"
            else r.json["interactive"]["body"]["text"]
            for r in list(self.stand_ins.meta.requests)
            if r.json and r.json.get("type") in ("text", "interactive")
            and _same(r.json.get("to"), contact)
        ]

    def meta_interactive(self, contact: str = CONTACT) -> list[dict[str, Any]]:
        """The `interactive` objects of the messages Meta accepted for `contact`."""
        return [
            r.json["interactive"] for r in list(self.stand_ins.meta.requests)
            if r.json and r.json.get("type") == "interactive" and _same(r.json.get("to"), contact)
        ]

    def meta_read_receipts(self) -> list[dict[str, Any]]:
        return [
            r.json for r in list(self.stand_ins.meta.requests)
            if r.json and r.json.get("status") == "read"
        ]

    def twilio_replies(self, contact: str = CONTACT) -> list[str]:
        """Text bodies Twilio accepted for `contact`: a `Body`, or the body variable ({{1}}) of
        a content template sent by `ContentSid` (buttons, list)."""
        return [
            r.form["Body"] if "Body" in r.form else json.loads(r.form["ContentVariables"])["1"]
            for r in list(self.stand_ins.twilio.requests)
            if r.form.get("To") == f"whatsapp:{contact}"
            and ("Body" in r.form or "ContentVariables" in r.form)
        ]

    async def wait_meta_replies(self, count: int, contact: str = CONTACT) -> list[str]:
        """Wait until `count` texts went to `contact` on Meta and the contact is idle."""
        await wait_until(
            lambda: len(self.meta_replies(contact)) >= count,
            what=f"{count} Meta replies to {contact}",
        )
        await self.wait_idle()
        return self.meta_replies(contact)

    async def wait_twilio_replies(self, count: int, contact: str = CONTACT) -> list[str]:
        await wait_until(
            lambda: len(self.twilio_replies(contact)) >= count,
            what=f"{count} Twilio replies to {contact}",
        )
        await self.wait_idle()
        return self.twilio_replies(contact)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Nothing buffered, due or in flight: every burst was acked."""

        async def idle() -> bool:
            return not await self.redis.zcard("wa:due") and not await self.redis.keys("wa:c:*")

        await wait_until(idle, timeout=timeout, what="the buffer to drain")

    async def buffered(self) -> int:
        """Contacts scheduled in the buffer (due or leased)."""
        return int(await self.redis.zcard("wa:due"))

    # Database ---------------------------------------------------------------------------------
    async def fetch(self, query: str, *args: Any) -> list[Any]:
        async with self.pool.acquire() as conn:
            return list(await conn.fetch(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.pool.acquire() as conn:
            return await conn.fetchval(query, *args)

    async def transcript(self, contact: str = CONTACT) -> list[tuple[str, str, str | None]]:
        """`(direction, author, text)` of the contact's stored messages, in order."""
        rows = await self.fetch(
            "SELECT t.direction, t.author, t.text FROM transcript t "
            "JOIN contacts c ON c.id = t.contact_id WHERE c.number = $1 ORDER BY t.at, t.id",
            contact,
        )
        return [(r["direction"], r["author"], r["text"]) for r in rows]

    async def wait_transcript(self, text: str, contact: str = CONTACT) -> None:
        async def stored() -> bool:
            return any(t == text for _, _, t in await self.transcript(contact))

        await wait_until(stored, what=f"{text!r} in the transcript")

    # Admin ------------------------------------------------------------------------------------
    async def admin(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(
            method, "/admin" + path, headers=self.admin_headers | (headers or {}), **kwargs
        )


@asynccontextmanager
async def running(app_client: Any, settings: Any, stand_ins: StandIns) -> AsyncIterator[E2E]:
    """The app with `settings` (lifespan, workers, outbox) and fresh stand-ins."""
    stand_ins.reset()
    async with app_client(settings) as (app, client):
        yield E2E(app=app, client=client, settings=settings, stand_ins=stand_ins)
    stand_ins.reset()
