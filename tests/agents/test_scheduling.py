"""The scheduling agent's own helpers; its turns run in tests/graph/test_scheduling_e2e.py."""

from __future__ import annotations

from agents.scheduling.tools import lead_zone


def test_lead_zone_uses_the_countrys_main_zone() -> None:
    # A Spanish mobile prefix spans Madrid and the Canaries: Madrid, not the business's zone.
    assert lead_zone(None, "+34612345678", "America/New_York").key == "Europe/Madrid"
    assert lead_zone("Atlantic/Canary", "+34612345678", "UTC").key == "Atlantic/Canary"
