"""The agents that answer in one model call: greeting, qualification and follow-up.

They differ only in their prompt, their output model, the extra facts they are given and what the
fallback policy says in their place; `SingleCallAgent` is the one implementation. A failing call
(`LLM_ERRORS`) or no model at all gives the fallback policy's turn instead, never a failed turn.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agents.draft import Draft, make_draft
from agents.extraction import (
    LeadMessages,
    checked_disqualification,
    invented_fact,
    merge_profile,
)
from agents.fallback.policy import FALLBACK_TURNS, next_item, qualify
from agents.inputs import AgentInput
from agents.model_call import LLM_ERRORS, structured_call
from agents.output import AgentReply
from agents.prompts import context_block, prompt_messages
from domain.language import number_language

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from core.config import Settings

__all__ = ["FallbackCause", "SingleCallAgent", "qualification_fallback"]

log = logging.getLogger(__name__)

FallbackCause = Literal["no_model", "llm_error"]


def qualification_fallback(agent: str, view: AgentInput, *, llm_calls: int) -> Draft:
    """The policy's greeting/qualification turn: read the answer, ask the next missing item. A
    non-answer is reported unresolved, so the graph's unresolved rule can hand over."""
    step = qualify(
        view.profile,
        asked=view.asked,
        messages=[(message.id, message.text) for message in view.burst],
        language=view.language or number_language(view.contact.contact),
        first_turn=view.first_turn,
        profile_name=view.contact.profile_name,
        business=view.business,
    )
    return make_draft(
        view, agent=agent, reply=step.reply, profile=step.profile, language=step.language,
        resolved=step.resolved, stuck=step.stuck, fallback=True,
        llm_calls=llm_calls, asked=step.asked, proposed_slot=view.proposed_slot,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleCallAgent:
    """One agent: its name, prompt and output model; `run` is its turn."""

    name: str
    """The agent's name (metrics, logs, `Draft.agent`)."""
    prompt: str
    """Its instructions, first in the system message."""
    output: type[AgentReply]  # type: ignore[type-arg]
    """Its structured answer (the `lead` fields it may report)."""
    extra_context: Callable[[AgentInput], Sequence[str]] = lambda view: ()
    """Facts of the turn it needs beyond the common context block."""
    fallback: Callable[[str, AgentInput], Draft] = (
        lambda agent, view: qualification_fallback(agent, view, llm_calls=0)
    )
    """The fallback policy's turn in its place (`llm_calls` is set by `run`)."""

    async def run(
        self, view: AgentInput, *, model: BaseChatModel | None, settings: Settings
    ) -> Draft:
        """One turn: one structured model call, or the fallback policy."""
        if model is None:
            return self._fallback(view, cause="no_model", llm_calls=0)
        messages = prompt_messages(
            self.prompt, view, context=context_block(view, extra=self.extra_context(view)),
            history_limit=2 * settings.HISTORY_KEEP,
        )
        try:
            answer = await structured_call(model, self.output, messages)
        except LLM_ERRORS as exc:
            log.warning("%s agent: LLM failed (%s: %s); fallback policy for this turn",
                        self.name, type(exc).__name__, exc)
            return self._fallback(view, cause="llm_error", llm_calls=1)
        said = LeadMessages.of(view.burst, view.earlier)
        merged = merge_profile(view.profile, answer.lead, messages=said, today=view.now.date())
        disqualified_by = checked_disqualification(
            answer.lead, view.business.qualification.disqualify_when, messages=said
        )
        language = answer.language or view.language
        if language:
            merged = merged.model_copy(update={"language": language})
        return make_draft(
            view, agent=self.name, reply=answer.reply, profile=merged, language=language,
            confidence=answer.confidence, resolved=answer.resolved,
            wants_human=answer.wants_human, answered=answer.answered,
            disqualified_by=disqualified_by, fallback=False, llm_calls=1, asked=next_item(merged),
            invented=invented_fact(answer.reply, answer.lead, messages=said),
        )

    def _fallback(self, view: AgentInput, *, cause: FallbackCause, llm_calls: int) -> Draft:
        FALLBACK_TURNS.labels(agent=self.name, cause=cause).inc()
        log.info("%s agent: fallback policy (%s)", self.name, cause)
        draft = self.fallback(self.name, view)
        draft["llm_calls"] = llm_calls
        return draft
