"""The conversation engine: the one entry point the inbound pipeline and the terminal chat call.

It owns the compiled graph and speaks in turns: `run_turn` answers a burst, `summarize` folds old
history after the reply went out, `release_to_bot` ends a human stretch. Threads are
`<channel>:<E.164>`; state lives in the injected checkpointer, so a new engine on the same
checkpointer (a restart, another worker) continues every conversation where it was.

Turns are checkpointed once, at the end (`durability="exit"`): one checkpoint write per turn
instead of one per node, which matters with Redis on the hot path.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from core.logs import mask_phone
from graph.builder import Clock, build_graph, handoff_event, turn_input, utc_now
from graph.events import HandoffEvent, LeadSink, Stage
from graph.routing import booking_changes_allowed
from integrations.llm import ModelFactory, model_factory

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from core.config import Settings
    from integrations.calendar.base import Calendar

__all__ = ["BaseCheckpointGone", "ContactInfo", "ConversationEngine", "TurnResult"]

log = logging.getLogger(__name__)


@runtime_checkable
class _KnowsLatest(Protocol):
    """A checkpointer that tells its newest checkpoint id without loading it (the Redis one)."""

    async def alatest_id(self, thread_id: str, checkpoint_ns: str = "") -> str | None: ...


class BaseCheckpointGone(LookupError):
    """`run_turn` was asked to run from a checkpoint the saver does not hold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactInfo:
    """Who wrote the burst."""

    channel: str
    contact: str
    """E.164 number."""
    profile_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnResult:
    """What a turn produced."""

    reply: str | None
    """The message to send; None means stay silent (human mode)."""
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
    ) -> None:
        self._checkpointer = checkpointer
        # The newest checkpoint id without loading it, where the saver can (the Redis one).
        self._latest_id = (
            checkpointer.alatest_id if isinstance(checkpointer, _KnowsLatest) else None
        )
        self._settings = settings
        self._graph = build_graph(
            checkpointer=checkpointer,
            settings=settings,
            calendar=calendar,
            sink=sink,
            models=models or model_factory(settings),
            clock=clock,
        )

    @staticmethod
    def _config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_id:
            configurable["checkpoint_id"] = checkpoint_id
        return {"configurable": configurable}

    async def run_turn(
        self,
        thread_id: str,
        messages: list[HumanMessage],
        *,
        contact: ContactInfo,
        base_checkpoint_id: str | None = None,
    ) -> TurnResult:
        """Answer one burst (its messages in order, ids = provider message ids).

        With `base_checkpoint_id` the turn runs from that checkpoint instead of the latest, which
        discards a stale run of the same burst. A sink failure raises: retry the burst."""
        started = time.perf_counter()
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
            turn_input(
                burst,
                {
                    "channel": contact.channel,
                    "contact": contact.contact,
                    "profile_name": contact.profile_name,
                },
            ),
            self._config(thread_id, base_checkpoint_id),
            durability="exit",
        )
        turn = values["turn"]
        handoff = (
            handoff_event(thread_id, values, recent=self._settings.HISTORY_KEEP)
            if turn["handed_off"]
            else None
        )
        log.info(
            "turn %s msgs=%s stage=%s fallback=%s llm_calls=%d handoff=%s silent=%s %.0fms",
            mask_phone(thread_id), [m.id for m in burst], values.get("stage"), turn["fallback"],
            turn["llm_calls"], handoff.reason if handoff else None, turn["reply"] is None,
            (time.perf_counter() - started) * 1000,
        )
        return TurnResult(
            reply=turn["reply"],
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
        """Fold messages older than the last `HISTORY_KEEP` into the summary; call it after the
        reply is sent. True if it folded something. `history` (the turn's `TurnResult.history`)
        spares reading the state when there is nothing to fold."""
        if history is None:
            history = len((await self.state(thread_id)).get("messages") or ())
        if history <= self._settings.HISTORY_KEEP:
            return False
        values = await self._graph.ainvoke(
            {"task": "summarize"}, self._config(thread_id), durability="exit"
        )
        return bool(values.get("folded"))

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

    async def answers_booking_changes(self, thread_id: str) -> bool:
        """Whether this conversation is in human mode only because a call was booked: its turns
        then still answer requests to move or cancel that call, and stay silent otherwise
        (`graph.routing`). The pipeline asks before running a turn for a silenced contact."""
        current = await self.state(thread_id)
        return bool(current.get("human_mode")) and booking_changes_allowed(current)

    async def release_to_bot(self, thread_id: str, *, human_notes: str | None = None) -> None:
        """Leave human mode; the agents then know a person handled a stretch (and its notes).

        Outside human mode this records the stretch only when there are notes: a manager who took
        over by simply writing to the lead (no handoff) still hands what they settled to the bot."""
        current = await self.state(thread_id)
        if not current or (not current.get("human_mode") and not human_notes):
            return
        await self._graph.ainvoke(
            {"task": "release", "release_notes": human_notes},
            self._config(thread_id),
            durability="exit",
        )
