"""The conversation engine: the one entry point the inbound pipeline, the admin API and the
terminal chat call.

It owns the compiled graph and speaks in turns: `run_turn` answers a burst, `summarize` folds old
history after the reply went out, `release_to_bot` ends a human stretch. The last two are not
turns: they edit the conversation's state directly (`aupdate_state`), each in its own entry point.
Threads are `<channel>:<E.164>`; state lives in the injected checkpointer, so a new engine on the
same checkpointer (a restart, another worker) continues every conversation where it was.

Turns are checkpointed once, at the end (`durability="exit"`): one checkpoint write per turn
instead of one per step, which matters with Redis on the hot path.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from core.logs import mask_phone
from domain.business import BusinessProfile, load_business
from domain.contact import ContactInfo, ContactMode
from domain.events import HandoffEvent, LeadSink, Stage
from domain.reply import Options
from graph.builder import build_graph
from graph.checkpoint import AsyncRedisSaver
from graph.context import Clock, TurnContext
from graph.lead_events import handoff_event
from graph.nodes import QUIET
from graph.release import released
from graph.summarize import fold_history, needs_folding
from integrations.llm import AGENT_NAMES, ModelFactory, model_factory

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from core.config import Settings
    from integrations.calendar.base import Calendar

__all__ = ["BaseCheckpointGone", "ConversationEngine", "TurnResult", "utc_now"]

log = logging.getLogger(__name__)

# The step the engine's own state edits are recorded as (its successor is the end: nothing is
# left pending for the next turn).
_EDITOR = "record"


def utc_now() -> datetime:
    return datetime.now(UTC)


class BaseCheckpointGone(LookupError):
    """`run_turn` was asked to run from a checkpoint the saver does not hold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnResult:
    """What a turn produced."""

    reply: str | None
    """The message to send; None means stay silent."""
    options: Options | None
    """What the lead can tap under the reply (`graph.options`); None: words alone."""
    stage: Stage
    handoff: HandoffEvent | None
    """The handoff this turn made, if any (the sink has already received it)."""
    fallback: bool
    """The reply came from the deterministic fallback policy."""
    llm_calls: int
    """Chat completion calls the turn made (summarization excluded)."""
    language: str | None
    history: int
    """Messages in the conversation's state after the turn (`summarize` takes it as a hint)."""


class ConversationEngine:
    """The graph, its checkpointer and its collaborators, behind a turn-by-turn API."""

    def __init__(
        self,
        *,
        checkpointer: BaseCheckpointSaver[Any],
        settings: Settings,
        calendar: Calendar | None,
        sink: LeadSink,
        models: ModelFactory | None = None,
        clock: Clock = utc_now,
        business: BusinessProfile | None = None,
    ) -> None:
        """`business`: the business profile (the repository's example when None)."""
        self._checkpointer = checkpointer
        self._business = business or load_business()
        # The newest checkpoint id without loading it, where the saver can (the Redis one).
        self._latest_id: Callable[[str], Awaitable[str | None]] | None = (
            checkpointer.alatest_id if isinstance(checkpointer, AsyncRedisSaver) else None
        )
        self._settings = settings
        factory = models or model_factory(settings)
        self._models = {name: factory(name) for name in AGENT_NAMES}
        self._calendar = calendar
        self._sink = sink
        self._clock = clock
        self._graph = build_graph(checkpointer=checkpointer)

    @staticmethod
    def _config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        return {"configurable": configurable}

    def _context(self, contact: ContactInfo, mode: ContactMode) -> TurnContext:
        return TurnContext(
            settings=self._settings, business=self._business, calendar=self._calendar,
            sink=self._sink,
            models=self._models, clock=self._clock, contact=contact, mode=mode,
        )

    async def run_turn(
        self,
        contact: ContactInfo,
        messages: list[HumanMessage],
        *,
        mode: ContactMode = ContactMode.BOT,
        base_checkpoint_id: str | None = None,
    ) -> TurnResult:
        """Answer one burst of `contact` (its messages in order, ids = provider message ids),
        in the contact's `mode` (Postgres's, read for this burst).

        With `base_checkpoint_id` the turn runs from that checkpoint instead of the latest, which
        discards a stale run of the same burst. A sink failure raises: retry the burst."""
        started = time.perf_counter()
        thread_id = contact.thread_id
        if base_checkpoint_id is not None:
            base = await self._checkpointer.aget_tuple(self._config(thread_id, base_checkpoint_id))
            if base is None:
                # Running from a checkpoint the saver no longer has would start from an empty
                # state and wipe the conversation; a shallow saver keeps only the newest one.
                raise BaseCheckpointGone(
                    f"checkpoint {base_checkpoint_id} of {mask_phone(thread_id)} is not stored "
                    "(a shallow checkpointer keeps only the newest); re-run without "
                    "base_checkpoint_id or use a saver that keeps history (shallow=False)"
                )
        burst = [m if m.id else m.model_copy(update={"id": str(uuid.uuid4())}) for m in messages]
        values = await self._graph.ainvoke(
            {
                "messages": burst,
                "burst": [m.id for m in burst],
                # The per-turn fields reset: no step starts from the last turn's draft.
                "draft": None,
                "handoff_reason": None,
                "commit": None,
                "reply": None,
                "options": None,
                "turn": QUIET,
            },
            self._config(thread_id, base_checkpoint_id),
            context=self._context(contact, mode),
            durability="exit",
        )
        turn = values["turn"]
        handoff = (
            handoff_event(contact, values)
            if turn["handed_off"]
            else None
        )
        log.info(
            "turn %s mode=%s msgs=%s stage=%s fallback=%s llm_calls=%d handoff=%s silent=%s "
            "%.0fms",
            mask_phone(thread_id), mode.value, [m.id for m in burst], values.get("stage"),
            turn["fallback"], turn["llm_calls"], handoff.reason if handoff else None,
            turn["reply"] is None, (time.perf_counter() - started) * 1000,
        )
        return TurnResult(
            reply=turn["reply"],
            options=turn["options"],
            stage=values.get("stage") or "greeting",
            handoff=handoff,
            fallback=turn["fallback"],
            llm_calls=turn["llm_calls"],
            language=values.get("language"),
            history=len(values.get("messages") or ()),
        )

    async def checkpoint_id(self, thread_id: str) -> str | None:
        """The thread's latest checkpoint id (None for a new thread); read before every turn, so
        without loading the checkpoint where the saver can (`alatest_id`)."""
        if self._latest_id is not None:
            return await self._latest_id(thread_id)
        saved = await self._checkpointer.aget_tuple(self._config(thread_id))
        if saved is None:
            return None
        return str(saved.config["configurable"]["checkpoint_id"])

    async def summarize(self, thread_id: str, *, history: int | None = None) -> bool:
        """Fold older history into the summary once it exceeds twice `HISTORY_KEEP` messages
        (`graph.summarize`); call it after the reply is sent. True if it folded something.
        `history` (the turn's `TurnResult.history`) spares reading the state when there is
        nothing to fold."""
        if history is not None and not needs_folding(history, self._settings.HISTORY_KEEP):
            return False
        config = self._config(thread_id)
        values = (await self._graph.aget_state(config)).values
        update = await fold_history(
            values, model=self._models["summary"], keep=self._settings.HISTORY_KEEP
        )
        if update is None:
            return False
        await self._graph.aupdate_state(config, update, as_node=_EDITOR)
        return True

    async def prune(self, thread_id: str) -> None:
        """Drop all but the newest checkpoint of the thread (the saver's `aprune`), so a saver
        that keeps history for re-runs stays bounded; a saver without pruning keeps it all."""
        try:
            await self._checkpointer.aprune([thread_id], strategy="keep_latest")
        except NotImplementedError:
            log.debug("the checkpointer cannot prune; %s keeps its history", mask_phone(thread_id))

    async def reset(self, thread_id: str) -> None:
        """Forget the conversation (`/reset`, a deletion request)."""
        await self._checkpointer.adelete_thread(thread_id)

    async def state(self, thread_id: str) -> dict[str, Any]:
        """The conversation's current state values (empty for a new thread)."""
        snapshot = await self._graph.aget_state(self._config(thread_id))
        return dict(snapshot.values)

    async def release_to_bot(self, thread_id: str, *, human_notes: str | None = None) -> None:
        """A person gave the contact back to the bot (Postgres says so; call this after): the
        agents then know a person handled a stretch, and its notes. Nothing for a new thread."""
        config = self._config(thread_id)
        values = (await self._graph.aget_state(config)).values
        if not values:
            return
        await self._graph.aupdate_state(
            config, released(values, notes=human_notes, now=self._clock()), as_node=_EDITOR
        )
