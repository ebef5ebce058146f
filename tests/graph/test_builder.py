"""The graph's drawing: the README shows the compiled graph as it is."""

from __future__ import annotations

import re
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver

from graph.builder import build_graph

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_the_compiled_graph() -> None:
    drawn = build_graph(checkpointer=InMemorySaver()).get_graph().draw_mermaid()
    body = drawn[drawn.index("graph TD;"):].strip()
    shown = re.search(r"```mermaid\n(.*?)```", README.read_text(), re.S)
    assert shown is not None, "README.md has no mermaid block"
    assert shown.group(1).strip() == body, "update the README's drawing from draw_mermaid()"
    for step in ("greeting", "qualification", "scheduling", "follow_up", "apply_rules",
                 "hand_over", "record"):
        assert f"\t{step}({step})" in body
