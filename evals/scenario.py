"""What a scenario is: the lead's messages turn by turn, the model's scripted answers (right ones
and wrong ones: invented facts, booking claims without a booking, overlong replies, shaky
confidence), and what must come out of it. Read from `evals/scenarios/*.yaml`.

One scenario (YAML):

    name: en-price-from-profile          # unique
    language: en
    llm: true                            # false: no model, the fallback policy answers
    profile_name: Ana                    # the WhatsApp profile name (optional)
    settings: {HANDOFF_UNRESOLVED: 3}    # setting overrides (optional)
    turns:
      - lead: "Hi, I'm Ana, we need a CRM"       # one message, or a list (a burst)
        model:                                   # the model's answers to this turn, in order
          - reply: "Hi Ana!"                     # an agent's structured answer...
            lead: {name: Ana, need: a CRM}       # ...with the facts it reports
            confidence: 0.9                      # (and resolved, answered, wants_human)
          - tool: find_free_slots                # a tool call (scheduling)
            args: {after: null}
          - error: 500                           # an API error (the fallback answers)
    expect:
      stage: qualification
      handoff: null                      # the reason of a handoff in the run, or null
      status: qualifying                 # the lead's status as the store keeps it
      score: [20, 40]                    # inclusive range (optional)
      fields: {name: Ana, budget: null, budget.amount: 5000}
      last_reply_contains: ["Ana"]       # (optional) texts of the catalogue: "text:key"
      last_reply_excludes: ["booked"]
      model_calls: 1                     # agent calls in the run (optional)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SCENARIOS_DIR", "Expect", "ModelStep", "Scenario", "Turn", "load_scenarios"]

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelStep(_Strict):
    """One scripted answer of the model."""

    reply: str | None = None
    lead: dict[str, Any] = Field(default_factory=dict)
    confidence: float = 0.9
    resolved: bool = True
    answered: bool = True
    wants_human: bool = False
    language: str | None = None
    tool: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    error: int | None = None


class Turn(_Strict):
    lead: list[str]
    model: list[ModelStep] = Field(default_factory=list)

    @field_validator("lead", mode="before")
    @classmethod
    def _burst(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Expect(_Strict):
    stage: str
    handoff: str | None = None
    status: str
    score: tuple[int, int] | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    last_reply_contains: list[str] = Field(default_factory=list)
    last_reply_excludes: list[str] = Field(default_factory=list)
    model_calls: int | None = None


class Scenario(_Strict):
    name: str
    language: str
    llm: bool = True
    profile_name: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    turns: list[Turn]
    expect: Expect


def load_scenarios(directory: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Every scenario of every file, in file order; names are unique."""
    scenarios: list[Scenario] = []
    for path in sorted(directory.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or ():
            scenarios.append(Scenario.model_validate(raw))
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate scenario names: {sorted(duplicates)}")
    return scenarios
