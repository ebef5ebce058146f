"""Prometheus metrics shared across parts; each part may define its own next to its code."""

from __future__ import annotations

from prometheus_client import Gauge

__all__ = ["DEPENDENCY_UP"]

DEPENDENCY_UP = Gauge(
    "wa_dependency_up",
    "Whether a dependency answered the last readiness check (1) or not (0).",
    ["dependency"],
)
