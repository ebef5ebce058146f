"""The team's CRM: lead events delivered to their webhook receivers (signed) and to HubSpot,
from the outbox rows the lead store writes (`integrations.leads.events`)."""

from integrations.crm.delivery import HUBSPOT_KIND, WEBHOOK_KIND, CrmDelivery
from integrations.crm.errors import (
    CrmError,
    HubSpotError,
    HubSpotUnauthorized,
    WebhookFailed,
)
from integrations.crm.hubspot import HubSpotClient, hubspot_api
from integrations.crm.signature import SIGNATURE_HEADER, verify
from integrations.crm.status import CrmDeliveries, crm_deliveries
from integrations.crm.webhook import WebhookClient, destination_name

__all__ = [
    "HUBSPOT_KIND",
    "SIGNATURE_HEADER",
    "WEBHOOK_KIND",
    "CrmDeliveries",
    "CrmDelivery",
    "CrmError",
    "HubSpotClient",
    "HubSpotError",
    "HubSpotUnauthorized",
    "WebhookClient",
    "WebhookFailed",
    "crm_deliveries",
    "destination_name",
    "hubspot_api",
    "verify",
]
