"""The lead store as the burst processor's `PipelineStore`.

The processor speaks in its own small protocols (`pipeline.processor`); the lead store serves more
callers than the pipeline (the admin API, the graph's sink), so this thin class translates rather
than bending either side. (The channel registry, `integrations.whatsapp.sender.Channels`, already
is a `ReplySender`.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from integrations.leads import LeadStore
    from integrations.whatsapp.types import InboundMessage

__all__ = ["StoreForPipeline"]


class StoreForPipeline:
    """The lead store as the processor's `PipelineStore`."""

    def __init__(self, store: LeadStore, *, human_idle_hours: float) -> None:
        self.store = store
        self.idle = timedelta(hours=human_idle_hours)

    async def record_inbound(self, message: InboundMessage) -> None:
        await self.store.record_inbound(message)

    async def record_outbound(
        self, *, channel: str, contact: str, text: str, message_ids: list[str]
    ) -> None:
        await self.store.record_outbound(
            channel, contact, text, author="bot", message_ids=message_ids
        )

    async def silenced(self, channel: str, contact: str) -> str | None:
        state = await self.store.get_contact(channel, contact)
        if state is None:
            return None
        if state.opted_out:
            return "opted_out"
        if state.human_active(now=datetime.now(UTC), idle=self.idle):
            # Nobody of the team has acted since the stretch began (the handoff set both times
            # and a human message or takeover moves the last one on, or wrote the message that
            # began it): the graph may still answer a booked call's changes.
            untouched = state.human_last_activity in (None, state.human_since)
            if untouched and not await self.store.human_notes(channel, contact):
                return "handoff"
            return "human"
        if state.human_since is not None:  # a human stretch went idle: not released yet
            return "returning"
        return None

    async def human_notes(self, channel: str, contact: str) -> str:
        return await self.store.human_notes(channel, contact)

    async def release(self, channel: str, contact: str) -> None:
        await self.store.release(channel, contact)

    async def set_opt_out(self, channel: str, contact: str, opted_out: bool) -> None:
        await self.store.set_opt_out(channel, contact, opted_out)
