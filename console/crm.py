"""What the team's CRM has been sent: per destination (each webhook receiver, HubSpot), the lead
events delivered, waiting and failing, and the latest ones with their last error
(`integrations.crm.status`). A configured destination is listed before its first event, so a
receiver that never answered shows as such. Errors never hold a secret, and destinations are named
by host and a hash of the URL, never the URL (whose query may hold a token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from console.deps import ConsoleDep, SessionDep
from console.pages import render
from core.config import Settings
from integrations.crm import crm_deliveries, destination_name
from integrations.crm.status import DestinationSummary

__all__ = ["configured_destinations", "router"]

router = APIRouter(prefix="/console", include_in_schema=False)

LATEST = 50


def configured_destinations(settings: Settings) -> list[str]:
    """The destinations the settings deliver to, named as the outbox rows name them."""
    names = []
    if settings.crm_webhooks_configured:
        names += [destination_name(str(url)) for url in settings.CRM_WEBHOOK_URLS or []]
    if settings.hubspot_configured:
        names.append("hubspot")
    return names


@router.get("/crm")
async def crm_page(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    waiting: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    """The CRM deliveries: per destination, then the latest events (only those waiting if
    asked)."""
    status = await crm_deliveries(console.pool, limit=LATEST, waiting_only=waiting)
    seen = {summary.destination for summary in status.destinations}
    idle = [
        DestinationSummary(
            destination=name, delivered=0, waiting=0, failing=0, oldest_waiting=None,
            last_delivered=None,
        )
        for name in configured_destinations(console.settings)
        if name not in seen
    ]
    return render(
        request, "crm.html", session=session, destinations=status.destinations + idle,
        latest=status.latest, waiting=waiting, configured=bool(seen or idle),
    )
