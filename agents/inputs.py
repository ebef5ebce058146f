"""What an agent sees of the conversation in one turn: `AgentInput`, built by the graph's node.

Agents are pure with respect to I/O and read nothing else: not the graph's state (a layer above
them), not the settings' globals, not the clock. The graph builds this view from its state and the
turn's context (`graph.nodes.agent_input`), so an agent is tested with a plain value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from langchain_core.messages import AnyMessage, HumanMessage

from domain.booking import Booking, Slot
from domain.business import BusinessProfile
from domain.contact import ContactInfo, HumanStretch
from domain.events import Stage
from domain.lead import Fit, LeadProfile

__all__ = ["TAP_KEY", "AgentInput"]

TAP_KEY = "tap"
"""The key of a lead's message's `additional_kwargs` that holds the payload of the option they
tapped (`domain.reply`): the pipeline's converter puts it there, the agents read it (`taps`).
The model never sees it: chat clients send a message's content, not these."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentInput:
    """One turn as the agent of its stage sees it."""

    contact: ContactInfo
    """Who wrote (channel, number, WhatsApp profile name)."""
    now: datetime
    """The turn's time (timezone-aware), from the graph's injected clock."""
    business: BusinessProfile
    """What the business sells, its FAQ and its qualification rules."""
    burst: list[HumanMessage]
    """The lead's messages of this turn, in order (ids = provider message ids)."""
    history: list[AnyMessage] = field(default_factory=list)
    """The recent conversation, this turn's messages last (older ones are in `summary`)."""
    summary: str = ""
    """The running summary of the messages folded out of `history`."""
    stage: Stage | None = None
    """The stage before this turn; None for a new conversation."""
    profile: LeadProfile = field(default_factory=LeadProfile)
    language: str | None = None
    """The language the bot replied in last (ISO 639-1)."""
    asked: str | None = None
    """What the bot's last reply asked for: a profile item, with the fallback policy's repeat
    count ("budget/2") or its slot offers ("slots") (`agents.fallback.policy.read_asked`)."""
    offered_slots: list[Slot] = field(default_factory=list)
    """The slots offered earlier, numbered from 1: the only ones that may be booked."""
    proposed_slot: int | None = None
    """The offered slot (1-based) the fallback policy asked the lead to confirm."""
    booking: Booking | None = None
    changing_booking: bool = False
    """A move or cancellation of the booked call is under way."""
    human_stretch: HumanStretch | None = None
    """The last stretch a person handled, once given back to the bot."""
    fit: Fit | None = None
    """The lead's fit as the graph judged it (`graph.qualification`), once judged."""

    @property
    def texts(self) -> list[str]:
        """The text of this turn's messages (image parts and empty ones left out)."""
        return [message.text for message in self.burst if message.text.strip()]

    @property
    def taps(self) -> list[str]:
        """The payloads of the options the lead tapped in this turn, in order."""
        found = (message.additional_kwargs.get(TAP_KEY) for message in self.burst)
        return [payload for payload in found if isinstance(payload, str)]

    @property
    def earlier(self) -> list[HumanMessage]:
        """The lead's messages before this burst that are still in the history."""
        ids = {message.id for message in self.burst}
        return [m for m in self.history if isinstance(m, HumanMessage) and m.id not in ids]

    @property
    def first_turn(self) -> bool:
        return self.stage is None
