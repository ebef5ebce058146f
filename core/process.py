"""Tuning of a long-running server process: the web process (`python -m server`) and each
`make worker` process, applied once they have started."""

from __future__ import annotations

import gc

__all__ = ["settle_garbage_collector"]

# Container allocations between two young collections (CPython's default is 700).
YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Move every object alive after start-up into the collector's permanent generation and
    collect the young generation less often.

    A started process holds a few hundred thousand long-lived objects (LangGraph, LangChain,
    pydantic models and schemas); without `gc.freeze` every full collection walks them all and
    stalls the event loop for tens of milliseconds under load, and the default young threshold
    runs a collection every 700 allocations, dozens of times per turn. On the pipeline bench
    (`make bench`, issue #5) this took the webhook ack p99 at 1,000/s from 150-250 ms spikes to
    5-30 ms and the webhook capacity from ~1,100 to ~1,500-2,200/s. Objects that become garbage
    later are still collected (reference counting frees almost all of them; cycles at the
    next young or full collection)."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
