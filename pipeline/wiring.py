"""Building the pipeline from the process's resources: every part, its clients, its workers.

The web process (`server.py`) and a separate worker process (`make worker`) build the same
`Pipeline`; the web process starts the workers only with `WORKERS_IN_PROCESS=true`. Background
loops (burst workers, outbox sender) are started by the caller, so tests can drive them by hand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
import openai
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from core.logs import mask_phone
from domain.business import load_business
from domain.language import load_detector
from graph.checkpoint import AsyncRedisSaver
from graph.engine import ConversationEngine
from graph.state import CHECKPOINT_PREFIX, SERDE_ALLOWLIST
from integrations.calendar.factory import calendar_from_settings
from integrations.crm import CrmDelivery, HubSpotClient, WebhookClient, hubspot_api
from integrations.leads import LeadStore
from integrations.leads.schedule import ScheduleStore
from integrations.llm import http_client, model_factory
from integrations.mail import FileMailer, mailer_from_settings
from integrations.media import MediaDownloader
from integrations.outbox import LEAD_EMAIL_KIND, OutboxWorker, enqueue
from integrations.speech import Speech
from integrations.whatsapp.contents import ContentCache, PostgresContentCache
from integrations.whatsapp.formatting import META_TEXT_LIMIT, TWILIO_TEXT_LIMIT
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels
from integrations.whatsapp.templates import TemplateBook
from integrations.whatsapp.twilio import TwilioClient
from pipeline.buffer import BurstBuffer
from pipeline.erasure import ContactEraser
from pipeline.media import MediaConverter
from pipeline.processor import BurstProcessor
from pipeline.sandbox import DecodeSandbox
from pipeline.scheduled import ScheduledMessages
from pipeline.voice import AudioStore, VoiceReplier
from pipeline.workers import WorkerPool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from pydantic import SecretStr

    from core.config import Settings
    from core.resources import Resources
    from domain.reply import Options
    from integrations.calendar.local import Invitation
    from integrations.whatsapp.templates import TemplateMessage

__all__ = [
    "LogChannel", "Pipeline", "build_channels", "build_crm", "build_pipeline",
    "templates_from_settings",
]

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class Pipeline:
    """Everything that turns buffered messages into replies and leads."""

    buffer: BurstBuffer
    processor: BurstProcessor
    workers: WorkerPool
    engine: ConversationEngine
    channels: Channels
    store: LeadStore
    outbox: OutboxWorker
    erasure: ContactEraser
    media: MediaDownloader
    """Fetches a lead's media from the provider (the converter's, and the console's downloads)."""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start_background(self, *, workers: bool) -> None:
        """Start the outbox sender, and the burst workers when `workers`."""
        self._tasks.append(asyncio.create_task(self.outbox.run_forever(self._stop)))
        if workers:
            self.workers.start()

    async def stop_background(self) -> None:
        self._stop.set()
        await self.workers.stop()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def _openai_client(settings: Settings, http: Any) -> openai.AsyncOpenAI | None:
    """The client for speech-to-text and text-to-speech, when an LLM server is configured."""
    if settings.OPENAI_API_KEY is None:
        return None
    return openai.AsyncOpenAI(
        api_key=settings.OPENAI_API_KEY.get_secret_value(),
        base_url=str(settings.OPENAI_BASE_URL) if settings.OPENAI_BASE_URL else None,
        timeout=settings.LLM_TIMEOUT_SECONDS,
        max_retries=settings.LLM_MAX_RETRIES,
        http_client=http,
    )


class LogChannel:
    """Local development only (`ALLOW_UNSIGNED_WEBHOOKS=true`, as `make run` sets): replies on a
    channel without credentials are written to the log, so the whole flow shows without a
    WhatsApp account. Never registered for a configured channel."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.text_limit = TWILIO_TEXT_LIMIT if channel == "twilio" else META_TEXT_LIMIT
        self._sent = 0

    async def send_text(self, to: str, text: str) -> list[str]:
        self._sent += 1
        log.warning(
            "%s is not configured; reply to %s written here instead:\n%s",
            self.channel, mask_phone(to), text,
        )
        return [f"log.{self.channel}.{self._sent}"]

    async def send_interactive(self, to: str, body: str, options: Options) -> list[str]:
        choices = "\n".join(f"[{choice.title}]" for choice in options.choices)
        return await self.send_text(to, f"{body}\n{choices}")

    async def send_template(self, to: str, template: TemplateMessage) -> list[str]:
        return await self.send_text(to, f"(template {template.ref}: {template.variables})")


def templates_from_settings(settings: Settings, *, business: str) -> TemplateBook:
    """The approved templates the settings name (`TEMPLATE_*`)."""
    return TemplateBook(
        {
            "reminder": settings.TEMPLATE_REMINDER,
            "followup": settings.TEMPLATE_FOLLOWUP,
            "reply": settings.TEMPLATE_REPLY,
        },
        business=business,
        language_codes=settings.TEMPLATE_LANGUAGES,
    )


def build_channels(
    settings: Settings,
    http: aiohttp.ClientSession,
    *,
    templates: TemplateBook | None = None,
    contents: ContentCache | None = None,
) -> Channels:
    """A client for each configured channel (and, in local development, a log for the others);
    `contents`: where Twilio's content templates are cached (memory when None)."""
    channels = Channels(templates=templates)
    if settings.twilio_configured:
        assert settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN
        assert settings.TWILIO_WHATSAPP_NUMBER
        channels.register(
            "twilio",
            TwilioClient(
                settings.TWILIO_ACCOUNT_SID,
                settings.TWILIO_AUTH_TOKEN.get_secret_value(),
                settings.TWILIO_WHATSAPP_NUMBER,
                api_base=str(settings.TWILIO_API_BASE),
                content_api_base=str(settings.TWILIO_CONTENT_API_BASE),
                http=http,
                contents=contents,
            ),
        )
    if settings.meta_configured:
        assert settings.META_ACCESS_TOKEN and settings.META_PHONE_NUMBER_ID
        channels.register(
            "meta",
            MetaClient(
                settings.META_ACCESS_TOKEN.get_secret_value(),
                settings.META_PHONE_NUMBER_ID,
                graph_base=str(settings.META_GRAPH_BASE),
                http=http,
            ),
        )
    if settings.ALLOW_UNSIGNED_WEBHOOKS:
        for channel in ("twilio", "meta"):
            if channel not in channels:
                channels.register(channel, LogChannel(channel))
    return channels


def build_crm(settings: Settings, http: httpx.AsyncClient) -> CrmDelivery:
    """The team's CRM destinations: the webhook receivers and HubSpot, those configured."""
    webhooks = hubspot = None
    if settings.crm_webhooks_configured:
        assert settings.CRM_WEBHOOK_URLS and settings.CRM_WEBHOOK_SECRET
        webhooks = WebhookClient(
            [str(url) for url in settings.CRM_WEBHOOK_URLS],
            settings.CRM_WEBHOOK_SECRET.get_secret_value(),
            http=http,
            timeout_seconds=settings.CRM_WEBHOOK_TIMEOUT_SECONDS,
        )
    if settings.HUBSPOT_ACCESS_TOKEN is not None:
        hubspot = HubSpotClient(
            hubspot_api(
                settings.HUBSPOT_ACCESS_TOKEN.get_secret_value(),
                host=str(settings.HUBSPOT_API_BASE),
            ),
            pipeline=settings.HUBSPOT_PIPELINE,
            stages=settings.HUBSPOT_DEAL_STAGES,
        )
    return CrmDelivery(webhooks=webhooks, hubspot=hubspot)


@asynccontextmanager
async def build_pipeline(resources: Resources) -> AsyncIterator[Pipeline]:
    """The pipeline over `resources`; background loops not started (see `start_background`)."""
    settings = resources.settings
    # The language detector's models (seconds to load) load now, off the event loop, rather than
    # in the first turn with every other contact waiting.
    await asyncio.to_thread(load_detector)
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30.0, sock_connect=5.0)) as send,
    ):
        business = load_business(settings.BUSINESS_FILE)
        channels = build_channels(  # on aiohttp: see integrations.whatsapp.sender
            settings, send,
            templates=templates_from_settings(settings, business=business.company.name),
            contents=PostgresContentCache(resources.pool),
        )
        crm = build_crm(settings, http)
        store = LeadStore.open(
            resources.pool, human_idle_hours=settings.HUMAN_IDLE_HOURS,
            event_destinations=crm.destinations,
            follow_up_after_hours=settings.FOLLOWUP_AFTER_HOURS if settings.FOLLOWUP_MAX else None,
        )
        outbox = OutboxWorker.from_settings(
            resources.pool, mailer_from_settings(settings), settings
        )
        crm.register(outbox)  # lead events to the CRM go through the same outbox
        ScheduledMessages(
            channels=channels,
            contacts=store.contacts,
            schedule=ScheduleStore(resources.pool),
            clock=outbox.clock,
            default_timezone=settings.TIMEZONE,
            quiet_hours=settings.quiet_hours,
            follow_up_after=timedelta(hours=settings.FOLLOWUP_AFTER_HOURS),
            follow_up_max=settings.FOLLOWUP_MAX,
        ).register(outbox)

        async def email_invitation(invitation: Invitation) -> None:
            name, mime, data = invitation.attachment
            booking = invitation.booking
            payload = {
                "to": invitation.to,
                "subject": invitation.subject,
                "text": invitation.body,  # in the lead's language (integrations.calendar.local)
                "attachments": [[name, mime, base64.b64encode(data).decode()]],
            }
            key = f"invitation:{booking.id}:{booking.status}:{booking.start.isoformat()}"
            async with resources.pool.acquire() as conn:
                await enqueue(conn, kind=LEAD_EMAIL_KIND, dedup_key=key, payload=payload)
            outbox.wake()

        calendar = calendar_from_settings(settings, resources.pool, on_invitation=email_invitation)
        llm_http = http_client()  # one connection pool for the models and speech
        oai = _openai_client(settings, llm_http)
        speech = None
        if oai is not None:
            speech = Speech(
                oai,
                stt_model=settings.STT_MODEL,
                tts_model=settings.TTS_MODEL,
                voice=settings.TTS_VOICE,
            )
        secret = _secret
        downloader = MediaDownloader(
            http=http,
            max_bytes=settings.MEDIA_MAX_BYTES,
            timeout_seconds=settings.MEDIA_TIMEOUT_SECONDS,
            allowed_types=settings.MEDIA_ALLOWED_TYPES,
            twilio_account_sid=settings.TWILIO_ACCOUNT_SID,
            twilio_auth_token=secret(settings.TWILIO_AUTH_TOKEN),
            twilio_api_base=str(settings.TWILIO_API_BASE),
            meta_access_token=secret(settings.META_ACCESS_TOKEN),
            meta_graph_base=str(settings.META_GRAPH_BASE),
        )
        voice = VoiceReplier(
            speech,
            channels=channels,
            enabled=settings.VOICE_REPLIES,
            store=AudioStore(resources.redis),
            public_base_url=str(settings.PUBLIC_BASE_URL) if settings.PUBLIC_BASE_URL else None,
        )
        # History is kept while a turn runs, so a stale draft can be discarded by forking from the
        # checkpoint the burst started from; it is pruned to the newest checkpoint after each turn.
        checkpointer = AsyncRedisSaver(
            resources.redis,
            ttl_seconds=settings.CONVERSATION_TTL_SECONDS,
            shallow=False,
            serde=JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST),
            prefix=CHECKPOINT_PREFIX,
        )
        engine = ConversationEngine(
            checkpointer=checkpointer, settings=settings, calendar=calendar, sink=store.sink,
            business=business,
            models=model_factory(settings, http=llm_http),
        )
        buffer = BurstBuffer(
            resources.redis,
            quiet_ms=settings.BUFFER_QUIET_MS,
            max_wait_ms=settings.BUFFER_MAX_WAIT_MS,
            lease_ms=int(settings.BURST_LEASE_SECONDS * 1000),
            max_messages=settings.BUFFER_MAX_MESSAGES,
        )
        converter = MediaConverter(
            downloader,
            speech=speech,
            sandbox=DecodeSandbox(
                timeout_seconds=settings.MEDIA_DECODE_TIMEOUT_SECONDS,
                memory_bytes=settings.MEDIA_DECODE_MEMORY_MB * 1024 * 1024,
            ),
            document_max_chars=settings.MEDIA_PDF_MAX_CHARS,
            video_frames=settings.MEDIA_VIDEO_FRAMES,
            video_max_seconds=settings.MEDIA_VIDEO_MAX_SECONDS,
        )
        processor = BurstProcessor(
            buffer=buffer,
            engine=engine,
            sender=channels,
            store=store.contacts,
            converter=converter,
            on_handoff=outbox.wake,
            voice=voice,
            apology_after=settings.APOLOGY_AFTER_SECONDS,
        )
        workers = WorkerPool(
            buffer, processor, concurrency=settings.WORKER_CONCURRENCY,
            shutdown_grace=settings.SHUTDOWN_GRACE_SECONDS,
        )
        erasure = ContactEraser(
            buffer=buffer, contacts=store.contacts, calendar=calendar, engine=engine,
            converter=converter, mail_files=FileMailer(Path(settings.DATA_DIR) / "mail"),
            mail_from=settings.MAIL_FROM,
        )
        pipeline = Pipeline(
            buffer=buffer,
            processor=processor,
            workers=workers,
            engine=engine,
            channels=channels,
            store=store,
            outbox=outbox,
            erasure=erasure,
            media=downloader,
        )
        try:
            yield pipeline
        finally:
            await pipeline.stop_background()
            await llm_http.aclose()
