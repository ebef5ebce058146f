"""`make eval`: run every scenario and print the scorecard (Redis: REDIS_URL, or an embedded one).

Per scenario: its language, the stage reached, the handoff reason, the lead's status and score,
the facts stored (N name, C company, E email, n need, B budget, A authority, T timeline; "-" for
unknown), and pass or fail against the scenario's expectation with what differed; then a total.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

from core.embedded import start_redis
from evals.runner import Outcome, run_scenario
from evals.scenario import load_scenarios
from tests.utils.scripted_llm import ScriptedLLM

FACTS = (("name", "N"), ("company", "C"), ("email", "E"), ("need", "n"), ("budget", "B"),
         ("authority", "A"), ("timeline", "T"))


def _facts(outcome: Outcome) -> str:
    return "".join(
        letter if getattr(outcome.profile, field) is not None else "-" for field, letter in FACTS
    )


def _line(outcome: Outcome) -> str:
    scenario = outcome.scenario
    score = "-" if outcome.score is None else str(outcome.score)
    verdict = "pass" if outcome.passed else "FAIL: " + "; ".join(outcome.problems)
    return (
        f"{scenario.name:<44} {scenario.language:<3} {'llm' if scenario.llm else 'none':<5}"
        f"{outcome.stage:<14}{outcome.handoff or '-':<15}{outcome.status:<13}{score:>4}  "
        f"{_facts(outcome):<8} {verdict}"
    )


async def _run(redis_url: str) -> int:
    scenarios = load_scenarios()
    out = sys.stdout
    out.write(
        f"{'scenario':<44} {'la':<3} {'model':<5}{'stage':<14}{'handoff':<15}{'status':<13}"
        f"{'score':>4}  facts    result\n"
    )
    passed = 0
    with ScriptedLLM() as llm:
        for scenario in scenarios:
            llm.reset()
            outcome = await run_scenario(scenario, llm=llm, redis_url=redis_url)
            passed += outcome.passed
            out.write(_line(outcome) + "\n")
    languages = sorted({s.language for s in scenarios})
    out.write(
        f"\n{passed}/{len(scenarios)} scenarios pass ({', '.join(languages)}; "
        f"{sum(not s.llm for s in scenarios)} without a model)\n"
    )
    return 0 if passed == len(scenarios) else 1


def main() -> int:
    logging.basicConfig(level=logging.ERROR)  # the scorecard, not the agents' warnings
    if url := os.environ.get("REDIS_URL"):
        return asyncio.run(_run(url))
    with tempfile.TemporaryDirectory() as directory:
        url, handle = start_redis(Path(directory))
        try:
            return asyncio.run(_run(url))
        finally:
            handle.shutdown()


if __name__ == "__main__":
    sys.exit(main())
