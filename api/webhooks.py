"""WhatsApp webhooks: verify, parse, dedup and buffer, answer 200. Nothing else happens here.

No LLM call and no database write in the request: the burst buffer (Redis) takes the message and
a worker does the rest. Order (as pywa does it): a body over `MAX_BODY_BYTES` is 413 while it is
read (`api.body_limit`); a missing or forged signature is 403 and nothing is buffered; an
unparseable body is 400; status callbacks and unknown events are acknowledged and ignored; a Redis
outage is 503, so the provider delivers the message again later. Text the provider could never
have sent (lone surrogates) is replaced, never a 5xx: the provider would retry it for days.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from core.logs import line_fields, mask_phone
from core.text import without_lone_surrogates
from core.tracing import set_outcome, traced
from integrations.whatsapp import meta, twilio
from integrations.whatsapp.errors import PayloadMalformed
from pipeline import metrics
from pipeline.buffer import BufferFull

if TYPE_CHECKING:
    from integrations.whatsapp.types import InboundMessage
    from pipeline.wiring import Pipeline

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Twilio's form has about twenty fields, forty with ten attachments; a Body of 4,096 characters is
# at most 48 KiB percent-encoded. Anything beyond is not Twilio: 400 before it is held in memory.
TWILIO_MAX_FIELDS = 100
TWILIO_MAX_FIELD_BYTES = 64 * 1024


def _pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline = request.app.state.pipeline
    return pipeline


def _signed_url(request: Request) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL behind a proxy, else the request's own."""
    base = request.app.state.resources.settings.PUBLIC_BASE_URL
    return twilio.signed_url(str(request.url), str(base) if base else None)


def _refuse(channel: str, outcome: str, status: int, detail: str) -> Response:
    metrics.WEBHOOKS.labels(channel=channel, outcome=outcome).inc()
    set_outcome(outcome)
    log.warning("webhook %s refused (%d): %s", channel, status, detail)
    return PlainTextResponse(detail, status_code=status)


async def _accept(
    pipeline: Pipeline, channel: str, messages: list[InboundMessage], started: float
) -> Response | None:
    """Buffer the messages; a Redis failure is a 503 so that the provider retries."""
    fresh = dropped = 0
    try:
        for message in messages:
            try:
                if await pipeline.buffer.add(message):
                    fresh += 1
            except BufferFull:
                dropped += 1  # a flood: acknowledged, so that the provider does not repeat it
    except Exception as exc:  # noqa: BLE001 - any storage failure: make the provider retry
        log.error("webhook %s could not buffer: %s", channel, exc)
        metrics.WEBHOOKS.labels(channel=channel, outcome="unavailable").inc()
        set_outcome("unavailable")
        return PlainTextResponse("Temporarily unavailable; retry later.", status_code=503)
    if fresh:
        pipeline.workers.wake()
    outcome = "buffered" if fresh else (
        "dropped" if dropped else ("duplicate" if messages else "ignored")
    )
    metrics.WEBHOOKS.labels(channel=channel, outcome=outcome).inc()
    set_outcome(outcome)
    metrics.ACK_LATENCY.labels(channel=channel).observe(time.perf_counter() - started)
    if messages:
        ms = (time.perf_counter() - started) * 1000
        ids = [m.message_id for m in messages]
        log.info(
            "webhook %s contact=%s ids=%s outcome=%s ms=%.1f",
            channel, mask_phone(messages[0].contact), ",".join(ids), outcome, ms,
            extra=line_fields(
                channel=channel, contact=messages[0].contact, outcome=outcome, ms=ms,
                message_ids=ids,
            ),
        )
    return None


@router.post("/twilio")
@traced("webhook", channel="twilio")
async def twilio_webhook(request: Request) -> Response:
    """Twilio's form-encoded WhatsApp webhook (messages and status callbacks)."""
    started = time.perf_counter()
    settings = request.app.state.resources.settings
    form = await request.form(
        max_files=0, max_fields=TWILIO_MAX_FIELDS, max_part_size=TWILIO_MAX_FIELD_BYTES
    )
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    token = settings.TWILIO_AUTH_TOKEN
    if token is None:
        if not settings.ALLOW_UNSIGNED_WEBHOOKS:
            return _refuse("twilio", "unsigned", 403, "Twilio is not configured on this server.")
    else:
        signature = request.headers.get(twilio.SIGNATURE_HEADER, "")
        if not signature or not twilio.verify_twilio_signature(
            token.get_secret_value(), _signed_url(request), params, signature
        ):
            return _refuse("twilio", "forbidden", 403, "Invalid or missing X-Twilio-Signature.")
    try:
        messages = twilio.parse_twilio(params)
    except PayloadMalformed as exc:
        return _refuse("twilio", "malformed", 400, str(exc))
    failure = await _accept(_pipeline(request), "twilio", list(messages), started)
    return failure or Response(EMPTY_TWIML, media_type="text/xml")


@router.get("/meta")
async def meta_verify(request: Request) -> Response:
    """Meta's verification handshake: echo `hub.challenge` when the verify token matches."""
    token = request.app.state.resources.settings.META_VERIFY_TOKEN
    challenge = None
    if token is not None:
        challenge = meta.verify_challenge(dict(request.query_params), token.get_secret_value())
    if challenge is None:
        return PlainTextResponse("Verification failed.", status_code=403)
    return PlainTextResponse(challenge)


@router.post("/meta")
@traced("webhook", channel="meta")
async def meta_webhook(request: Request) -> Response:
    """Meta WhatsApp Cloud API notifications (messages; statuses are ignored)."""
    started = time.perf_counter()
    settings = request.app.state.resources.settings
    body = await request.body()
    secret = settings.META_APP_SECRET
    if secret is None:
        if not settings.ALLOW_UNSIGNED_WEBHOOKS:
            return _refuse("meta", "unsigned", 403, "Meta is not configured on this server.")
    else:
        signature = request.headers.get(meta.SIGNATURE_HEADER, "")
        if not signature or not meta.verify_meta_signature(
            secret.get_secret_value(), body, signature
        ):
            return _refuse("meta", "forbidden", 403, "Invalid or missing X-Hub-Signature-256.")
    try:
        # Invalid UTF-8 (raw surrogate bytes among it) becomes U+FFFD; so do `\ud800` escapes.
        payload = json.loads(body.decode("utf-8", "replace"))
        if b"\\ud" in body or b"\\uD" in body:
            payload = without_lone_surrogates(payload)
        messages = meta.parse_meta(payload)
    except (ValueError, RecursionError, PayloadMalformed) as exc:
        detail = str(exc) if isinstance(exc, PayloadMalformed) else "The body is not valid JSON."
        return _refuse("meta", "malformed", 400, detail)
    failure = await _accept(_pipeline(request), "meta", messages, started)
    return failure or PlainTextResponse("OK")
