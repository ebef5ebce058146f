"""Stand-ins for the graph engine, the channels and the store, to test the pipeline's own rules.

End-to-end tests with the real graph and channels live in tests/api/test_webhooks.py."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.contact import ContactInfo, ContactMode
from domain.reply import OutgoingReply
from graph.engine import BaseCheckpointGone, TurnResult
from integrations.whatsapp.types import InboundMessage

_ids = itertools.count(1)


def message(
    text: str, *, contact: str = "+34600111222", channel: str = "meta", mid: str | None = None
) -> InboundMessage:
    return InboundMessage(
        channel=channel,  # type: ignore[arg-type]
        contact=contact,
        message_id=mid or f"wamid.{next(_ids)}",
        timestamp=datetime.now(UTC),
        kind="text",
        text=text,
        profile_name="Ana",
    )


@dataclass
class FakeEngine:
    """Answers "got: <texts>"; `gate` holds a run until released; `fail` raises."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    fail: int = 0
    checkpoint: str | None = "cp-0"
    resets: list[str] = field(default_factory=list)
    summaries: int = 0

    async def run_turn(
        self,
        contact: ContactInfo,
        messages: list[Any],
        *,
        mode: ContactMode = ContactMode.BOT,
        base_checkpoint_id: str | None = None,
    ) -> TurnResult:
        texts = [m.content for m in messages]
        if base_checkpoint_id and self.base_gone:
            raise BaseCheckpointGone("pruned")
        self.runs.append({
            "thread": contact.thread_id, "texts": texts, "base": base_checkpoint_id, "mode": mode,
        })
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise ConnectionError("postgres is down")
        return self.result("got: " + " | ".join(texts), mode=mode)

    def result(self, reply: str | None, *, mode: ContactMode) -> TurnResult:
        """What the turn answers (a subclass may stay silent in some modes)."""
        return TurnResult(
            reply=reply, options=None, stage="greeting", handoff=None, fallback=False,
            llm_calls=1, language=None, history=2,
        )

    async def checkpoint_id(self, thread_id: str) -> str | None:
        return self.checkpoint

    summary_gate: asyncio.Event | None = None
    base_gone: bool = False
    releases: list[str | None] = field(default_factory=list)
    fail_release: int = 0

    summary_hints: list[int | None] = field(default_factory=list)

    async def summarize(self, thread_id: str, *, history: int | None = None) -> bool:
        if self.summary_gate is not None:
            await self.summary_gate.wait()
        self.summaries += 1
        self.summary_hints.append(history)
        return True

    async def reset(self, thread_id: str) -> None:
        self.resets.append(thread_id)

    async def prune(self, thread_id: str) -> None:
        return None

    async def release_to_bot(self, thread_id: str, *, human_notes: str | None = None) -> None:
        if self.fail_release:
            self.fail_release -= 1
            raise ConnectionError("redis blip")
        self.releases.append(human_notes)


@dataclass
class FakeSender:
    """Records parts sent; `fail` makes the next sends raise; `limit` splits naively."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: int = 0
    limit: int = 4096
    typing_calls: int = 0
    block_after: int | None = None
    blocked: asyncio.Event = field(default_factory=asyncio.Event)

    def split(self, channel: str, text: str) -> list[str]:
        return [text[i : i + self.limit] for i in range(0, len(text), self.limit)] or [""]

    def parts(self, channel: str, reply: OutgoingReply) -> list[OutgoingReply]:
        return [OutgoingReply(text=part) for part in self.split(channel, reply.text)]

    async def send(
        self, channel: str, to: str, message: OutgoingReply, *, language: str | None
    ) -> list[str]:
        return await self.send_text(channel, to, message.text)

    async def send_text(self, channel: str, to: str, text: str) -> list[str]:
        if self.block_after is not None and len(self.sent) >= self.block_after:
            self.blocked.set()
            await asyncio.Event().wait()  # hang, as a dying worker would
        if self.fail:
            self.fail -= 1
            raise ConnectionError("provider 503")
        self.sent.append((channel, to, text))
        return [f"out.{len(self.sent)}"]

    async def typing(self, channel: str, message_id: str) -> None:
        self.typing_calls += 1

    @property
    def texts(self) -> list[str]:
        return [text for _, _, text in self.sent]


@dataclass
class FakeStore:
    inbound: list[str] = field(default_factory=list)
    outbound: list[str] = field(default_factory=list)
    opted_out: bool = False
    human: bool = False

    fail_record: int = 0

    async def record_inbound(self, message: InboundMessage) -> bool:
        if self.fail_record:
            self.fail_record -= 1
            raise ConnectionError("postgres is down")
        self.inbound.append(message.message_id)
        return True

    async def record_outbound(
        self,
        channel: str,
        number: str,
        text: str,
        *,
        message_ids: Sequence[str] = (),
        kind: str = "text",
    ) -> bool:
        self.outbound.append(text)
        return True

    parts: dict[tuple[str, int], list[str]] = field(default_factory=dict)

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
        if (burst, part) in self.parts:
            return False
        self.parts[(burst, part)] = list(message_ids)
        self.outbound.append(text)
        return True

    async def sent_parts(self, channel: str, burst: str) -> dict[int, list[str]]:
        return {part: ids for (key, part), ids in self.parts.items() if key == burst}

    stretch_over: str | None = None
    """The notes of a human stretch that went idle and is not released yet."""

    async def mode(self, channel: str, number: str) -> ContactMode:
        if self.opted_out:
            return ContactMode.OPTED_OUT
        if self.human:
            return ContactMode.HUMAN
        return ContactMode.RETURNING if self.stretch_over is not None else ContactMode.BOT

    async def human_notes(self, channel: str, number: str) -> str:
        return self.stretch_over or ""

    async def release(self, channel: str, number: str) -> bool:
        self.stretch_over = None
        return True

    async def set_opt_out(self, channel: str, number: str, opted_out: bool) -> bool:
        self.opted_out = opted_out
        return True
