"""Every scenario of `make eval`, one test each: the scorecard's verdicts are test results."""

from __future__ import annotations

import pytest

from evals.runner import run_scenario
from evals.scenario import Scenario, load_scenarios
from tests.utils.scripted_llm import ScriptedLLM

SCENARIOS = load_scenarios()


def test_the_suite_covers_the_languages_and_both_modes() -> None:
    assert len(SCENARIOS) >= 40
    languages = {s.language for s in SCENARIOS}
    assert {"en", "es", "pt", "fr", "de"} <= languages
    assert any(not s.llm for s in SCENARIOS) and any(s.llm for s in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_scenario(scenario: Scenario, llm: ScriptedLLM, redis_url: str) -> None:
    outcome = await run_scenario(scenario, llm=llm, redis_url=redis_url)
    assert outcome.passed, "; ".join(outcome.problems)
