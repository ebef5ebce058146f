"""Prometheus metrics of the inbound pipeline."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "ACK_LATENCY",
    "BURST_SIZE",
    "BURSTS",
    "OUTBOUND_FAILURES",
    "QUEUE_LAG",
    "RERUNS",
    "TURN_LATENCY",
    "WEBHOOKS",
]

_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

WEBHOOKS = Counter(
    "wa_webhooks_total", "Webhook requests by channel and outcome.", ["channel", "outcome"]
)
ACK_LATENCY = Histogram(
    "wa_webhook_ack_seconds", "Time to answer a webhook.", ["channel"], buckets=_FAST
)
BURSTS = Counter("wa_bursts_total", "Bursts processed, by outcome.", ["outcome"])
BURST_SIZE = Histogram(
    "wa_burst_messages", "Messages per processed burst.", buckets=(1, 2, 3, 4, 5, 8, 13, 21)
)
TURN_LATENCY = Histogram(
    "wa_turn_seconds",
    "From claiming a burst to its reply accepted by the provider.",
    buckets=_SLOW,
)
QUEUE_LAG = Histogram(
    "wa_queue_lag_seconds", "From a burst being due to a worker claiming it.", buckets=_FAST
)
RERUNS = Counter("wa_stale_reruns_total", "Graph runs repeated because the contact wrote again.")
OUTBOUND_FAILURES = Counter(
    "wa_outbound_failures_total", "Replies that could not be sent (after retries).", ["channel"]
)
