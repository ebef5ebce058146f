"""Sending replies: the channel protocol, the registry the pipeline sends through, and the retry
policy every outbound call of the channel clients shares.

The pipeline holds one `Channels` (it satisfies the pipeline's `ReplySender`): `parts` formats the
model's Markdown for WhatsApp and composes the messages of a reply (one with its options as
buttons or a list where they fit WhatsApp's limits, else text cut at the channel's limit, a slot
offer numbered), `send` sends one of them; `typing` shows the contact a read receipt and a typing
indicator where the channel has them.

Two fallbacks live in `send`, so every caller gets them: an interactive message the provider
refuses (a limit, a content template it would not create) goes out as its numbered text; a
message refused because the 24-hour window has closed (Meta 131047, Twilio 63016) is sent again
as the purpose's approved template when the settings name one (`templates.TemplateBook`), and
otherwise the `WindowClosed` error reaches the caller, which records the message undeliverable.

Retries: 429, 5xx and connections that could not be opened are retried with exponential backoff
(tenacity), honouring `Retry-After` up to `RetryPolicy.max_retry_after`; then the `SendFailed`
subclass of the last attempt is raised. A connection that broke *after* the request was written is
not retried: the provider may have delivered the message, and a duplicate reply is worse than a
failed one the pipeline retries as a whole. Permanent 4xx answers are never retried.

The clients talk HTTP through an injected `aiohttp.ClientSession` rather than httpx: a send or a
typing indicator costs a quarter of httpx's CPU with it (0.3 ms instead of 1.2 ms per request
here), and every turn makes two of them (issue #5's turns/s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import aiohttp
from prometheus_client import Counter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from core.logs import line_fields, mask_phone
from core.tracing import span
from domain.reply import Options, OutgoingReply
from integrations.whatsapp.errors import (
    ChannelAuthError,
    ChannelError,
    ChannelNotConfigured,
    MessageRejected,
    ProviderUnavailable,
    RateLimited,
    RecipientInvalid,
    SendFailed,
    WindowClosed,
)
from integrations.whatsapp.formatting import split_message, to_whatsapp
from integrations.whatsapp.interactive import layout

if TYPE_CHECKING:
    from integrations.whatsapp.errors import Provider
    from integrations.whatsapp.templates import Purpose, TemplateBook, TemplateMessage
    from integrations.whatsapp.types import InboundMessage

__all__ = [
    "INTERACTIVE",
    "TEMPLATES",
    "ChannelSender",
    "Channels",
    "ReadMarker",
    "RetryPolicy",
    "parse_retry_after",
    "request_json",
    "send_in_order",
    "with_retry",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

INTERACTIVE = Counter(
    "wa_interactive_messages_total",
    "Replies with options: sent as buttons or a list, or as text after the provider refused.",
    ["channel", "outcome"],
)
"""`outcome`: `sent`, or `refused` (sent as its numbered text instead)."""
TEMPLATES = Counter(
    "wa_template_messages_total",
    "Template messages sent, by purpose (reminder, followup, reply).",
    ["channel", "purpose"],
)


@runtime_checkable
class ChannelSender(Protocol):
    """What the pipeline needs of a channel client: send a text, get the provider message ids."""

    text_limit: int
    """Characters in one message on this channel (Twilio 1,600, Meta 4,096)."""

    async def send_text(self, to: str, text: str) -> list[str]:
        """Send `text` to the E.164 number `to`, split at `text_limit`; the ids, in order."""
        ...

    async def send_interactive(self, to: str, body: str, options: Options) -> list[str]:
        """Send `body` with `options` as reply buttons or a list message; its id, in a list."""
        ...

    async def send_template(self, to: str, template: TemplateMessage) -> list[str]:
        """Send an approved template message (outside the 24-hour window too)."""
        ...


@runtime_checkable
class ReadMarker(Protocol):
    """A channel that can show the contact their messages were read and a reply is being typed."""

    async def mark_read_and_typing(self, message_id: str) -> None: ...


class Channels:
    """Channel name (`InboundMessage.channel`) -> client: replies go out on the right channel.

    It is the pipeline's reply sender: `parts` then `send` part by part (so the pipeline can
    record each accepted part), or `reply` for all parts at once; `typing` while a burst runs.
    `templates` are the deployment's approved templates (none: a message refused for the window
    is not retried)."""

    def __init__(
        self,
        clients: Mapping[str, ChannelSender] | None = None,
        *,
        templates: TemplateBook | None = None,
    ) -> None:
        self._clients: dict[str, ChannelSender] = dict(clients or {})
        self.templates = templates

    def register(self, channel: str, client: ChannelSender) -> None:
        self._clients[channel] = client

    def get(self, channel: str) -> ChannelSender:
        try:
            return self._clients[channel]
        except KeyError:
            raise ChannelNotConfigured(
                f"No client is configured for the {channel!r} channel; "
                "set its credentials in the settings or stop routing messages to it."
            ) from None

    def __contains__(self, channel: object) -> bool:
        return channel in self._clients

    def __iter__(self) -> Iterator[str]:
        return iter(self._clients)

    def split(self, channel: str, markdown: str) -> list[str]:
        """The model's Markdown as WhatsApp-formatted parts within `channel`'s length limit."""
        return split_message(to_whatsapp(markdown), self.get(channel).text_limit)

    async def send_text(self, channel: str, to: str, text: str) -> list[str]:
        """Send WhatsApp text (one part, or more split at the limit); the ids, in order."""
        return await self.get(channel).send_text(to, text)

    def parts(self, channel: str, reply: OutgoingReply) -> list[OutgoingReply]:
        """The messages that carry the model's Markdown `reply`, WhatsApp-formatted: one with
        its options where they fit WhatsApp's limits, else text parts within the channel's
        limit (the options' numbered text included where the words do not list them)."""
        text = to_whatsapp(reply.text)
        if reply.options is not None:
            message = OutgoingReply(text=text, options=reply.options)
            if layout(text, reply.options) is not None:
                return [message]
            text = message.as_text()
        limit = self.get(channel).text_limit
        return [OutgoingReply(text=part) for part in split_message(text, limit)]

    async def send(
        self,
        channel: str,
        to: str,
        message: OutgoingReply,
        *,
        language: str | None,
        purpose: Purpose = "reply",
        when: str | None = None,
    ) -> list[str]:
        """Send one message (a part of `parts`) free-form; refused for the 24-hour window, the
        `purpose`'s template in `language` instead, when one is configured (`when`: the call's
        time, for a reminder's). The provider's ids, in order."""
        try:
            return await self._free_form(channel, to, message)
        except WindowClosed:
            template = self.template(purpose, language, channel, when=when)
            if template is None:
                raise
            logger.info(
                "%s: the window to %s has closed; sending the %s template instead",
                channel, mask_phone(to), purpose,
            )
            return await self.send_template(channel, to, template)

    def template(
        self, purpose: Purpose, language: str | None, channel: str, *, when: str | None = None
    ) -> TemplateMessage | None:
        """The configured template for `purpose` in `language` on `channel`, if any."""
        if self.templates is None:
            return None
        return self.templates.message(purpose, language, channel, when=when)

    async def send_template(self, channel: str, to: str, template: TemplateMessage) -> list[str]:
        """Send an approved template message; the ids."""
        ids = await self.get(channel).send_template(to, template)
        TEMPLATES.labels(channel=channel, purpose=template.purpose).inc()
        return ids

    async def _free_form(self, channel: str, to: str, message: OutgoingReply) -> list[str]:
        client = self.get(channel)
        if message.options is None:
            return await client.send_text(to, message.text)
        try:
            ids = await client.send_interactive(to, message.text, message.options)
        except (MessageRejected, ChannelAuthError) as exc:
            if isinstance(exc, WindowClosed | RecipientInvalid):
                raise  # text would be refused just the same
            INTERACTIVE.labels(channel=channel, outcome="refused").inc()
            logger.warning(
                "%s refused the interactive message to %s (%s); sending it as text",
                channel, mask_phone(to), exc,
            )
            return await client.send_text(to, message.as_text())
        INTERACTIVE.labels(channel=channel, outcome="sent").inc()
        return ids

    async def reply(self, message: InboundMessage, markdown: str) -> list[str]:
        """Answer `message`'s contact on its channel with the model's Markdown, all parts in order.

        Each part goes out once the provider accepted the one before; on a failure the ids of
        the parts already sent are on the error (`SendFailed.sent_ids`)."""
        ids: list[str] = []
        for part in self.split(message.channel, markdown):
            try:
                ids.extend(await self.send_text(message.channel, message.contact, part))
            except SendFailed as exc:
                exc.sent_ids = (*ids, *exc.sent_ids)
                raise
        return ids

    async def typing(self, channel: str, message_id: str) -> None:
        """Best effort: show `message_id` read, with a typing indicator, where the channel can.

        Cosmetic, so it never raises: a failure is logged. Twilio has no such call: no-op."""
        client = self._clients.get(channel)
        if not isinstance(client, ReadMarker):
            return
        try:
            await client.mark_read_and_typing(message_id)
        except ChannelError as exc:
            logger.warning("read/typing indicator failed on %s: %s", channel, exc)


# --- Retries -----------------------------------------------------------------------------------


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How an outbound call is retried. Tests pass a recording `sleep` and tiny waits."""

    attempts: int = 4
    """Tries in all, the first included."""
    backoff: float = 0.5
    """The wait before the first retry, in seconds; doubled on each retry (with jitter)."""
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    """A `Retry-After` longer than this is not waited out: `RateLimited` is raised at once."""
    sleep: Callable[[float], Awaitable[None]] = field(default=_sleep)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return float(exc.retry_after)
        base: float = min(self.max_backoff, self.backoff * 2.0 ** (state.attempt_number - 1))
        return base / 2 + random.uniform(0, base / 2)  # jitter, not security

    def should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, SendFailed) or not exc.retryable:
            return False
        retry_after = getattr(exc, "retry_after", None)
        return retry_after is None or retry_after <= self.max_retry_after


async def send_in_order(
    policy: RetryPolicy,
    calls: list[Callable[[], Awaitable[str]]],
    *,
    channel: str,
    to: str,
) -> list[str]:
    """Make each call (one message each) once the one before was accepted, each under `policy`.

    The ids in order; on a failure the ids already accepted are on the error (`sent_ids`).
    One span (`send`) covers the parts and their retries."""
    started = time.perf_counter()
    ids: list[str] = []
    with span("send", channel=channel, contact=mask_phone(to), parts=len(calls)):
        for call in calls:
            try:
                ids.append(await with_retry(policy, call))
            except SendFailed as exc:
                exc.sent_ids = tuple(ids)
                logger.warning(
                    "%s send failed contact=%s part=%d/%d: %s",
                    channel, mask_phone(to), len(ids) + 1, len(calls), exc,
                )
                raise
    ms = (time.perf_counter() - started) * 1000
    logger.info(
        "%s sent contact=%s parts=%d ms=%.0f", channel, mask_phone(to), len(ids), ms,
        extra=line_fields(channel=channel, contact=to, outcome="sent", ms=ms, parts=len(ids)),
    )
    return ids


async def with_retry(policy: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, retrying transient `SendFailed` errors under `policy`; then raise the last."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=policy.wait,
        retry=retry_if_exception(policy.should_retry),
        sleep=policy.sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: a number of seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


ErrorTranslator = Callable[..., SendFailed]

# Failures before a byte of the request could reach the provider: safe to retry.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


async def request_json(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    provider: Provider,
    translate: ErrorTranslator,
    **kwargs: Any,
) -> Any:
    """One HTTP call to a provider: the JSON of a 2xx answer, else the translated `SendFailed`.
    `kwargs` go to `aiohttp.ClientSession.request` (`json`, `data`, `auth`, `headers`)."""
    name = "Twilio" if provider == "twilio" else "The Meta Graph API"
    try:
        async with http.request(method, url, **kwargs) as response:
            status, content = response.status, await response.read()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except _NOT_SENT as exc:
        raise ProviderUnavailable(
            f"{name} could not be reached ({type(exc).__name__}); the message was not sent. "
            "Check the network and the API base URL.",
            provider=provider,
        ) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SendFailed(
            f"The connection to {name} broke after the request was sent "
            f"({type(exc).__name__}); the message may have been delivered, so it is not retried.",
            provider=provider,
        ) from exc
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if 200 <= status < 300:
        return body
    raise translate(status, body, retry_after=retry_after)
