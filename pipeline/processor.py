"""One leased burst from buffered messages to a sent reply.

Order of work for a burst: record the inbound messages (the transcript keeps everything, also
for silenced contacts), read the contact's mode once (Postgres owns it), handle commands, stay
silent while the contact is not the bot's (but for a booked call's changes in `call_booked`,
which the graph still answers), give the contact back to the bot when a person went idle, run the
graph in that mode, re-run it if the contact wrote again before the reply went out (bounded),
store the drafted reply (its words and the options the graph gave it) in the burst's state, send
its parts in order (the sender composes them: one message with buttons or a list where the
options fit, else text), each recorded as sent in Postgres and Redis, ack, and only then
summarize (the lead never waits for that). A reply the provider refuses for good (the 24-hour
window closed and no template is configured, say) is recorded in the transcript as
`undeliverable`, where the manager sees it.

Each part the provider accepts is recorded twice before the next one goes: as an outbound
transcript row in Postgres, unique per burst and part (durable), and as `sent:<i>` in the burst's
state in Redis (the fast path). A retried burst skips the parts either one knows; so a Redis blip
right after the provider accepted a part, which loses the Redis mark and the lease's release,
costs the lead a wait for the lease but never a second copy of the reply.

A failure (Postgres, Redis, the provider) releases the burst for a later try with backoff. The
lead hears of it only when the burst has kept failing for `apology_after` seconds: then one short
apology in their language. A shorter outage (a Postgres failover, a Redis blip) is fixed by a
retry the lead never notices, and an apology followed seconds later by the answer only confuses.
(Bursts are retried until they go through, the backoff capped at `RETRY_MAX_SECONDS`, so no
attempt is known to be the last: the time is what counts.) A retried burst starts the graph from
the checkpoint its first try started from (a fork), so a half-finished run leaves no trace, and a
reply that was already drafted is sent, the rest of its parts only, instead of a new one.

A burst whose processing is cancelled (a shutdown past its grace, `pipeline.workers`) is handed
back to the buffer due at once, so another worker takes it without waiting for the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from core.logs import line_fields, mask_phone
from core.tracing import in_span
from domain.contact import ContactInfo, ContactMode
from domain.language import number_language
from domain.reply import Options, OutgoingReply
from domain.texts import text
from graph.engine import BaseCheckpointGone, TurnResult
from integrations.whatsapp.errors import ChannelNotConfigured, MessageRejected
from pipeline import metrics
from pipeline.buffer import Burst, BurstBuffer, LeaseLost
from pipeline.commands import command_language, parse_command
from pipeline.convert import MessageConverter, TextConverter
from pipeline.voice import VoiceReplier, burst_had_voice

if TYPE_CHECKING:
    from langchain_core.messages import HumanMessage

    from integrations.whatsapp.types import InboundMessage

__all__ = ["BurstProcessor", "PipelineStore", "ReplySender", "TurnEngine"]

log = logging.getLogger(__name__)

UNDELIVERABLE = (ChannelNotConfigured, MessageRejected)
# A chatty lead can delay their own reply by at most this many re-runs.
MAX_RERUNS = 2
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 300.0
NO_BASE = "-"


class TurnEngine(Protocol):
    """The conversation graph as the pipeline uses it (`graph.engine.ConversationEngine`)."""

    async def run_turn(
        self,
        contact: ContactInfo,
        messages: list[HumanMessage],
        *,
        mode: ContactMode = ContactMode.BOT,
        base_checkpoint_id: str | None = None,
    ) -> TurnResult: ...

    async def checkpoint_id(self, thread_id: str) -> str | None: ...

    async def summarize(self, thread_id: str, *, history: int | None = None) -> bool: ...

    async def reset(self, thread_id: str) -> None: ...

    async def release_to_bot(self, thread_id: str, *, human_notes: str | None = None) -> None: ...

    async def prune(self, thread_id: str) -> None:
        """Drop all but the newest checkpoint (memory stays bounded between turns)."""
        ...


class PipelineStore(Protocol):
    """The contacts in Postgres: the transcript and the contact's mode
    (`integrations.leads.contacts.ContactStore`)."""

    async def record_inbound(self, message: InboundMessage) -> bool: ...

    async def record_outbound(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        message_ids: Sequence[str] = (),
        kind: str = "text",
    ) -> bool: ...

    async def record_reply_part(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        burst: str,
        part: int,
        message_ids: Sequence[str],
    ) -> bool:
        """Store one sent part of a burst's reply (unique per burst and part)."""
        ...

    async def sent_parts(self, channel: str, burst: str) -> dict[int, list[str]]:
        """The parts of `burst`'s reply stored as sent, by index, with their provider ids."""
        ...

    async def mode(self, channel: str, number: str) -> ContactMode:
        """Who has the conversation; one read of the contact per burst."""
        ...

    async def human_notes(self, channel: str, number: str) -> str:
        """What a person wrote during the current stretch ("" if nothing)."""
        ...

    async def release(self, channel: str, number: str) -> bool:
        """Give the contact back to the bot."""
        ...

    async def set_opt_out(self, channel: str, number: str, opted_out: bool) -> bool: ...


class ReplySender(Protocol):
    """Sends replies through a channel (`integrations.whatsapp.sender.Channels`)."""

    def parts(self, channel: str, reply: OutgoingReply) -> list[OutgoingReply]:
        """The messages that carry `reply`, in order: one with its options where they fit the
        channel, else WhatsApp-formatted text parts within the channel's length limit."""
        ...

    async def send(
        self, channel: str, to: str, message: OutgoingReply, *, language: str | None
    ) -> list[str]:
        """Send one part; returns the provider's message ids. Raises when it cannot."""
        ...

    async def send_text(self, channel: str, to: str, text: str) -> list[str]:
        """Send one text message (the apology)."""
        ...

    async def typing(self, channel: str, message_id: str) -> None:
        """Show the last message read and a typing indicator, where the channel can."""
        ...


class BurstProcessor:
    """Processes leased bursts (see the module docstring)."""

    def __init__(
        self,
        *,
        buffer: BurstBuffer,
        engine: TurnEngine,
        sender: ReplySender,
        store: PipelineStore | None = None,
        converter: MessageConverter | None = None,
        max_reruns: int = MAX_RERUNS,
        on_handoff: Callable[[], None] | None = None,
        voice: VoiceReplier | None = None,
        apology_after: float = 30.0,
    ) -> None:
        self.buffer = buffer
        self.engine = engine
        self.sender = sender
        self.store = store
        self.converter = converter or TextConverter()
        self.max_reruns = max_reruns
        self.on_handoff = on_handoff
        self.voice = voice
        self.apology_after = apology_after
        """Seconds a burst must have been failing before the lead gets an apology."""

    async def process(self, burst: Burst) -> None:
        """Process `burst` to its end: acked when done, released for a retry when it failed."""
        started = time.perf_counter()
        metrics.BURST_SIZE.observe(len(burst.messages))
        first = burst.messages[0]
        who = mask_phone(burst.thread_id)
        heartbeat = asyncio.create_task(self._keep_lease(burst))
        try:
            outcome = await in_span("turn", self._process(burst), channel=first.channel, thread=who)
        except LeaseLost:
            log.warning("burst %s: lease lost, another worker continues it", who)
            metrics.BURSTS.labels(outcome="lease_lost").inc()
            return
        except asyncio.CancelledError:
            # A shutdown past its grace: hand the burst back, due now, so that another worker
            # takes it at once instead of when the lease expires (shielded: the cancellation that
            # brought us here must not cancel the release too).
            with contextlib.suppress(Exception):
                await asyncio.shield(self.buffer.release(burst, retry_in_seconds=0))
            metrics.BURSTS.labels(outcome="handed_back").inc()
            raise
        except UNDELIVERABLE as exc:
            # Retrying cannot help (no client for the channel, the 24-hour window closed, not a
            # WhatsApp number): the messages and the lead are stored; only the reply is dropped.
            log.error("burst %s: the reply cannot be delivered (%s); not retried", who, exc)
            metrics.BURSTS.labels(outcome="undeliverable").inc()
            with contextlib.suppress(Exception):
                await self.buffer.ack(burst)
            return
        except Exception as exc:  # noqa: BLE001 - any failure: keep the burst, retry later
            delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(burst.attempts - 1, 16))
            metrics.BURSTS.labels(outcome="failed").inc()
            await self._apologize(burst)
            try:
                await self.buffer.release(burst, retry_in_seconds=delay)
                retry = f"retrying in {delay:.0f} s"
            except Exception:  # noqa: BLE001 - Redis itself is what failed: the lease decides
                retry = (
                    "it could not be handed back, so it is retried when its lease expires "
                    f"(within {self.buffer.lease_ms / 1000:.0f} s)"
                )
            log.error(
                "burst %s (attempt %d, %d message(s)) failed: %s; %s",
                who,
                burst.attempts,
                len(burst.messages),
                exc,
                retry,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return
        finally:
            heartbeat.cancel()
        elapsed = time.perf_counter() - started
        metrics.BURSTS.labels(outcome=outcome).inc()
        metrics.TURN_LATENCY.observe(elapsed)
        log.info(
            "turn %s channel=%s messages=%s outcome=%s ms=%.0f",
            who,
            first.channel,
            ",".join(burst.message_ids),
            outcome,
            elapsed * 1000,
            extra=line_fields(channel=first.channel, contact=first.contact, outcome=outcome,
                              ms=elapsed * 1000, message_ids=burst.message_ids),
        )

    async def _keep_lease(self, burst: Burst) -> None:
        interval = self.buffer.lease_ms / 3000
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.buffer.extend(burst):
                    return
            except Exception as exc:  # noqa: BLE001 - a Redis blip: try again next interval
                log.warning("renewing the lease on %s failed: %s", mask_phone(burst.thread_id), exc)

    async def _process(self, burst: Burst) -> str:
        # A first attempt has no state of ours yet (the claim starts it; an ack or a deletion
        # removes it): no round trip to read it.
        state = {} if burst.attempts == 1 else await self.buffer.get_state(burst)
        first = burst.messages[0]
        contact = ContactInfo(
            channel=first.channel, contact=first.contact,
            profile_name=_profile_name(burst.messages),
        )
        if "reply" not in state:
            await self._record_inbound(burst.messages)
            outcome = await self._draft(burst, contact, state)
            if outcome is not None:
                await self.buffer.ack(burst)
                return outcome
        await self._send(burst, contact, state)
        await self._compact(burst, state)
        await self.buffer.ack(burst)
        return "replied"

    async def _store(self, burst: Burst, state: dict[str, str], fields: dict[str, str]) -> None:
        """Write `fields` into the burst's state in Redis (one round trip) and in `state`."""
        await self.buffer.update_state(burst, fields)
        state.update(fields)

    async def _compact(self, burst: Burst, state: dict[str, str]) -> None:
        """Summarize and prune after the reply went out but before the ack: still under the
        lease, so the contact's next burst never runs beside it (two runs on one thread would
        drop one's writes, and pruning would remove the checkpoint the next burst starts from)."""
        history = int(state["history"]) if state.get("history", "").isdigit() else None
        try:
            await self.engine.summarize(burst.thread_id, history=history)
            await self.engine.prune(burst.thread_id)
        except Exception:  # noqa: BLE001 - the reply is out; a summary can wait a turn
            log.warning(
                "summarizing %s failed; it is retried on the next turn", mask_phone(burst.thread_id)
            )

    async def _draft(self, burst: Burst, contact: ContactInfo, state: dict[str, str]) -> str | None:
        """Decide the reply and store it in the burst state (Redis and `state`); an outcome
        string when there is no reply."""
        thread = burst.thread_id
        commands = [parse_command(m.text) for m in burst.messages if m.kind == "text"]
        language = state.get("language") or command_language(
            " ".join(m.text or "" for m in burst.messages), number_language(contact.contact)
        )
        store = self.store
        mode = await store.mode(contact.channel, contact.contact) if store else ContactMode.BOT
        if "stop" in commands:
            if mode is ContactMode.OPTED_OUT or store is None:
                return "silenced_opted_out"  # confirmed once, when they opted out
            await store.set_opt_out(contact.channel, contact.contact, True)
            await self._store(burst, state, {"reply": text("commands.stopped", language)})
            return None
        if "start" in commands and store is not None and mode is ContactMode.OPTED_OUT:
            await store.set_opt_out(contact.channel, contact.contact, False)
            mode = await store.mode(contact.channel, contact.contact)
        if mode is ContactMode.RETURNING and store is not None:
            notes = await store.human_notes(contact.channel, contact.contact)
            # The graph first: if it fails, the store still says "returning" and a retry repeats.
            await self.engine.release_to_bot(thread, human_notes=notes or None)
            await store.release(contact.channel, contact.contact)
            mode = ContactMode.BOT
        if mode is ContactMode.OPTED_OUT:
            return "silenced_opted_out"
        # A booked call's handoff nobody has acted on yet: the graph still answers requests to
        # move or cancel the call (graph.routing) and records the rest silently; commands stay
        # silenced there, as in any mode a person has.
        if mode.silenced and (mode is not ContactMode.CALL_BOOKED or any(commands)):
            return "silenced_human"
        if "reset" in commands:
            await self.engine.reset(thread)
            await self._store(burst, state, {"reply": text("commands.reset", language)})
            return None
        if commands and all(c in ("help", "start") for c in commands):
            name = "commands.started" if "start" in commands else "commands.help"
            await self._store(burst, state, {"reply": text(name, language)})
            return None

        if mode is ContactMode.BOT:  # in call_booked most messages get no answer: no typing
            await self.sender.typing(contact.channel, burst.messages[-1].message_id)
        base = await self._base_checkpoint(burst, state)
        fork = burst.attempts > 1
        reruns = 0
        while True:
            if fork:
                if base is None:
                    await self.engine.reset(thread)  # the first try began a new conversation
                try:
                    result = await self.engine.run_turn(
                        contact, await self._convert(burst.messages), mode=mode,
                        base_checkpoint_id=base,
                    )
                except BaseCheckpointGone:
                    # Expired or pruned: run on the latest state rather than never (the inbound
                    # messages keep their ids, so they are replaced, not repeated).
                    log.warning(
                        "burst %s: start checkpoint gone; running on the latest state",
                        mask_phone(thread),
                    )
                    result = await self.engine.run_turn(
                        contact, await self._convert(burst.messages), mode=mode
                    )
            else:
                result = await self.engine.run_turn(
                    contact, await self._convert(burst.messages), mode=mode
                )
            if reruns >= self.max_reruns or not await self.buffer.has_new(burst):
                break
            new = await self.buffer.merge_new(burst)
            if not new:
                break
            reruns += 1
            fork = True
            metrics.RERUNS.inc()
            log.info(
                "burst %s: %d new message(s) during the turn, re-running",
                mask_phone(thread),
                len(new),
            )
            await self._record_inbound(new)
        if result.handoff is not None and self.on_handoff is not None:
            self.on_handoff()  # the manager's email goes out now, not at the next poll
        reply = result.reply
        if not reply:
            return "silent" if mode is ContactMode.BOT else "silenced_human"
        fields = {"reply": reply, "history": str(result.history)}
        if result.options is not None:
            fields["options"] = result.options.to_json()
        if lang := result.language:
            fields["language"] = lang
        await self._store(burst, state, fields)
        return None

    async def _base_checkpoint(self, burst: Burst, state: dict[str, str]) -> str | None:
        if "base" in state:
            return None if state["base"] == NO_BASE else state["base"]
        base = await self.engine.checkpoint_id(burst.thread_id)
        await self.buffer.set_state(burst, "base", base or NO_BASE, only_if_absent=True)
        return base

    async def _convert(self, messages: list[InboundMessage]) -> list[HumanMessage]:
        return await self.converter.convert(messages)

    async def _send(self, burst: Burst, contact: ContactInfo, state: dict[str, str]) -> None:
        """Send the parts of the reply not sent yet, recording each one in Postgres and Redis
        (see the module docstring)."""
        reply = state["reply"]
        options = Options.from_json(state["options"]) if state.get("options") else None
        parts = self.sender.parts(contact.channel, OutgoingReply(text=reply, options=options))
        store = self.store
        # Only a retry can find parts sent already: the first try costs no read.
        stored = (
            await store.sent_parts(contact.channel, burst.key)
            if store is not None and burst.attempts > 1 else {}
        )
        for index, part in enumerate(parts):
            field = f"sent:{index}"
            if index in stored:
                if field not in state:  # Redis lost its mark (a blip): the durable record holds
                    await self._store(burst, state, {field: ",".join(stored[index])})
                continue
            if field in state:
                ids = [i for i in state[field].split(",") if i]
            else:
                try:
                    ids = await self.sender.send(
                        contact.channel, _recipient(burst), part, language=state.get("language")
                    )
                except UNDELIVERABLE:
                    metrics.OUTBOUND_FAILURES.labels(channel=contact.channel).inc()
                    if store is not None:
                        await store.record_outbound(
                            contact.channel, contact.contact, reply, kind="undeliverable"
                        )
                    raise
                except Exception:
                    metrics.OUTBOUND_FAILURES.labels(channel=contact.channel).inc()
                    raise
            try:
                if store is not None:
                    await store.record_reply_part(
                        contact.channel, contact.contact, part.text, burst=burst.key,
                        part=index, message_ids=ids,
                    )
            finally:  # even when Postgres failed: Redis alone still prevents a resend
                if field not in state:
                    await self._store(burst, state, {field: ",".join(ids)})
        # Once per burst, even when a retry sends the rest of the text; no round trip at all
        # when voice replies are off or the lead sent no voice note.
        voice = self.voice
        if (
            voice is not None
            and voice.enabled
            and burst_had_voice(burst.messages)
            and await self.buffer.set_state(burst, "voice", "1", only_if_absent=True)
        ):
            await voice.maybe_send_voice(contact.channel, _recipient(burst), reply, True)

    async def _record_inbound(self, messages: list[InboundMessage]) -> None:
        if self.store is not None:
            for message in messages:
                await self.store.record_inbound(message)

    async def _apologize(self, burst: Burst) -> None:
        """Tell the lead once per burst that we could not answer, once the burst has been failing
        for `apology_after` seconds (the first failure starts the count); never raises.

        Not to a contact we know is opted out or with a person, nor to one who just sent STOP,
        nor once part of the reply went out. When the store cannot tell the mode (it may be what
        failed), the lead gets the apology: silence is the worse failure for the many who did
        not opt out. Without Redis (the burst's state) there is no apology: it could be neither
        timed nor sent only once."""
        first = burst.messages[0]
        if any(parse_command(m.text) == "stop" for m in burst.messages):
            return
        try:
            state = await self.buffer.get_state(burst)
            if "apologized" in state or any(key.startswith("sent:") for key in state):
                return  # once; and the lead has (part of) the answer: an apology would confuse
            now = self.buffer.clock()
            if "failing_since" in state:
                since = float(state["failing_since"])
            else:
                await self.buffer.set_state(burst, "failing_since", repr(now), only_if_absent=True)
                since = now
        except Exception:  # noqa: BLE001 - Redis is down: see the docstring
            return
        if now - since < self.apology_after:
            return
        if self.store is not None:
            with contextlib.suppress(Exception):  # unknown: apologize (see the docstring)
                if (await self.store.mode(first.channel, first.contact)).silenced:
                    return
        try:
            if not await self.buffer.set_state(burst, "apologized", "1", only_if_absent=True):
                return
            language = command_language(
                " ".join(m.text or "" for m in burst.messages), number_language(first.contact)
            )
            apology = text("errors.apology", language)
            await self.sender.send_text(first.channel, _recipient(burst), apology)
        except Exception:  # noqa: BLE001 - the provider may be what failed
            log.warning("could not send the apology to %s", mask_phone(burst.thread_id))


def _recipient(burst: Burst) -> str:
    """Where the burst's replies go: the number as the provider last wrote it (issue #15)."""
    return burst.messages[-1].recipient


def _profile_name(messages: list[InboundMessage]) -> str | None:
    return next((m.profile_name for m in reversed(messages) if m.profile_name), None)
