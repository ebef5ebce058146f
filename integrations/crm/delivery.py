"""Lead events from the outbox to the CRM clients: the destinations the lead store writes rows
for, and the outbox handlers that deliver them.

Each webhook receiver and HubSpot is a destination (`integrations.leads.events.EventDestination`)
with an outbox kind of its own, `crm_webhook` or `crm_hubspot`, so a refused HubSpot token pauses
HubSpot alone. Deliveries and failures are counted per destination
(`wa_crm_events_delivered_total`, `wa_crm_event_failures_total`), besides the outbox's counts per
kind; `integrations.crm.status` reads the rows for the manager's console.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable

from prometheus_client import Counter

from integrations.crm.hubspot import HubSpotClient
from integrations.crm.webhook import WebhookClient
from integrations.leads.events import EventBody, EventDestination
from integrations.outbox import OutboxRow, OutboxWorker

__all__ = ["HUBSPOT_DESTINATION", "HUBSPOT_KIND", "WEBHOOK_KIND", "CrmDelivery"]

log = logging.getLogger(__name__)

WEBHOOK_KIND = "crm_webhook"
HUBSPOT_KIND = "crm_hubspot"
HUBSPOT_DESTINATION = "hubspot"

DELIVERED = Counter(
    "wa_crm_events_delivered_total", "Lead events a CRM destination took.",
    ["destination", "type"],
)
FAILURES = Counter(
    "wa_crm_event_failures_total",
    "Lead event deliveries that failed (each is retried with backoff).",
    ["destination"],
)


class CrmDelivery:
    """The configured CRM destinations and their outbox handlers."""

    def __init__(
        self, *, webhooks: WebhookClient | None = None, hubspot: HubSpotClient | None = None
    ) -> None:
        self._webhooks = webhooks
        self._hubspot = hubspot

    @property
    def destinations(self) -> list[EventDestination]:
        """Where every lead event goes (empty: no event is written)."""
        found = [
            EventDestination(kind=WEBHOOK_KIND, name=name)
            for name in (self._webhooks.destinations if self._webhooks else [])
        ]
        if self._hubspot is not None:
            found.append(EventDestination(kind=HUBSPOT_KIND, name=HUBSPOT_DESTINATION))
        return found

    def register(self, outbox: OutboxWorker) -> None:
        """Deliver the CRM's rows with this worker. Registered even when nothing is configured,
        so rows written before a setting was removed still find a handler (which then says which
        setting is missing) instead of an unknown kind."""
        outbox.register(WEBHOOK_KIND, self._deliver_webhook)
        outbox.register(HUBSPOT_KIND, self._deliver_hubspot)

    async def _deliver_webhook(self, row: OutboxRow) -> None:
        destination, event = _parse(row)
        if self._webhooks is None:
            raise LookupError("CRM_WEBHOOK_URLS is not set; set it to deliver this row")
        await self._counted(destination, event, self._webhooks.deliver(
            destination, event, attempt=row.attempts
        ))

    async def _deliver_hubspot(self, row: OutboxRow) -> None:
        destination, event = _parse(row)
        if self._hubspot is None:
            raise LookupError("HUBSPOT_ACCESS_TOKEN is not set; set it to deliver this row")
        await self._counted(destination, event, self._hubspot.sync(event))

    @staticmethod
    async def _counted(destination: str, event: EventBody, delivery: Awaitable[None]) -> None:
        try:
            await delivery
        except Exception:
            FAILURES.labels(destination).inc()
            raise
        DELIVERED.labels(destination, event["type"]).inc()
        log.info(
            "crm: %s %s delivered to %s (lead %s)",
            event["type"], event["id"], destination, event["lead_id"],
        )


def _parse(row: OutboxRow) -> tuple[str, EventBody]:
    payload = json.loads(row.payload)
    event: EventBody = payload["event"]
    return str(payload["destination"]), event
