"""What the manager's console shows of the CRM deliveries: per destination, what is delivered,
waiting and failing, and the latest rows with their last error.

A query function over the outbox rows of the CRM's kinds (the outbox owns the table; this module
only reads the rows it wrote). Errors in rows never hold a secret (`integrations.crm.errors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from integrations.crm.delivery import HUBSPOT_KIND, WEBHOOK_KIND

__all__ = ["CrmDeliveries", "DeliveryRow", "DestinationSummary", "crm_deliveries"]

_KINDS = [WEBHOOK_KIND, HUBSPOT_KIND]

SUMMARY = """
SELECT payload->>'destination' AS destination,
       count(*) FILTER (WHERE status = 'sent') AS delivered,
       count(*) FILTER (WHERE status = 'pending') AS waiting,
       count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS failing,
       min(created_at) FILTER (WHERE status = 'pending') AS oldest_waiting,
       max(sent_at) AS last_delivered
FROM outbox WHERE kind = ANY($1::text[])
GROUP BY 1 ORDER BY 1"""
LATEST = """
SELECT id, payload->>'destination' AS destination, payload->'event'->>'id' AS event_id,
       payload->'event'->>'type' AS type, (payload->'event'->>'lead_id')::bigint AS lead_id,
       status, attempts, last_error, created_at, next_attempt_at, sent_at
FROM outbox
WHERE kind = ANY($1::text[]) AND ($2::boolean IS FALSE OR status = 'pending')
ORDER BY id DESC
LIMIT $3"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DestinationSummary:
    destination: str
    """`hubspot`, or `webhook:<host>:<hash>` (`integrations.crm.webhook.destination_name`)."""
    delivered: int
    waiting: int
    failing: int
    """Waiting rows that failed at least once."""
    oldest_waiting: datetime | None
    last_delivered: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryRow:
    id: int
    destination: str
    event_id: str
    type: str
    lead_id: int | None
    status: str
    """`pending` or `sent`."""
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CrmDeliveries:
    destinations: list[DestinationSummary]
    latest: list[DeliveryRow]


async def crm_deliveries(
    pool: asyncpg.Pool, *, limit: int = 50, waiting_only: bool = False
) -> CrmDeliveries:
    """Per-destination counts and the latest `limit` rows (only waiting ones if asked)."""
    async with pool.acquire() as conn:
        summary = await conn.fetch(SUMMARY, _KINDS)
        rows = await conn.fetch(LATEST, _KINDS, waiting_only, limit)
    return CrmDeliveries(
        destinations=[DestinationSummary(**dict(r)) for r in summary],
        latest=[DeliveryRow(**dict(r)) for r in rows],
    )
