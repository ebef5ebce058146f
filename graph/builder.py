"""The conversation graph: which step follows which. The steps are `graph.nodes`; the choices
between them are pure functions of `graph.routing`.

    START -> {greeting | qualification | scheduling | follow_up} -> apply_rules -> record -> END
      |                                                                  |          ^
      |                                                                  '-> hand_over
      |-- /human, "talk to a person" --------------------------------------> hand_over
      '-- the contact is not the bot's: record the messages only ----------------------> END

In the `call_booked` mode of a booked call's handoff, a request to move or cancel that call still
goes to the scheduling agent (the one exception to silence after a handoff; `graph.routing`).
`README.md` shows the compiled graph's own drawing (`draw_mermaid()`).

A turn is one run of this graph, checkpointed once at its end. Summarizing old history and giving
a contact back to the bot are not turns: they are the engine's own entry points, which edit the
state directly (`graph.engine`). The checkpointer is injected: `InMemorySaver` in tests and the
terminal chat, the Redis saver in the app.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from graph import nodes
from graph.context import TurnContext
from graph.routing import AGENT_NODES, first_step
from graph.state import ConversationState

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

__all__ = ["build_graph"]


# Branch labels in the drawing (`draw_mermaid()`): the step a branch goes to, by the label its
# edge is drawn with; unlabelled branches go to the step of their name.
_START_BRANCHES: dict[Hashable, str] = {
    **{agent: agent for agent in AGENT_NODES.values()},
    "asks for a person": "hand_over",
    "not with the bot: record only": END,
}
_RULES_BRANCHES: dict[Hashable, str] = {"a trigger fired": "hand_over", "no handoff": "record"}


def _start(state: ConversationState, runtime: Runtime[TurnContext]) -> str:
    step = first_step(state, runtime.context.mode)
    return {"hand_over": "asks for a person", END: "not with the bot: record only"}.get(step, step)


def _after_rules(state: ConversationState) -> str:
    return "a trigger fired" if state.get("handoff_reason") is not None else "no handoff"


def build_graph(
    *, checkpointer: BaseCheckpointSaver[Any]
) -> CompiledStateGraph[ConversationState, TurnContext, Any, Any]:
    """The compiled conversation graph, checkpointed by `checkpointer`; each run takes its
    `TurnContext` as `context=`."""
    builder = StateGraph(ConversationState, context_schema=TurnContext)
    builder.add_node("greeting", nodes.greeting)
    builder.add_node("qualification", nodes.qualification)
    builder.add_node("scheduling", nodes.scheduling)
    builder.add_node("follow_up", nodes.follow_up)
    builder.add_node("apply_rules", nodes.apply_rules)
    builder.add_node("hand_over", nodes.hand_over)
    builder.add_node("record", nodes.record)
    builder.add_conditional_edges(START, _start, _START_BRANCHES)
    for agent in AGENT_NODES.values():
        builder.add_edge(agent, "apply_rules")
    builder.add_conditional_edges("apply_rules", _after_rules, _RULES_BRANCHES)
    builder.add_edge("hand_over", "record")
    builder.add_edge("record", END)
    return builder.compile(checkpointer=checkpointer)
