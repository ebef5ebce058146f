"""Lead events into HubSpot: the lead's contact and deal, kept up to date, and notes.

One small client over an injected `hubspot.Client` (the official `hubspot-api-client`, whose host
is `HUBSPOT_API_BASE`: tests point it at a local stand-in). That library is synchronous (urllib3),
so each event is synced in a thread, off the event loop. It is one more receiver of the event
body of `integrations.leads.events`, through the outbox: in order per lead, retried with backoff.

For each event:

1. The contact: searched by our key (`wa_contact_id`, `<channel>:<E.164>`), by phone and by
   email; the one found is used (its empty name, company, email and phone filled in, nothing of
   the team's overwritten, our key added). None found: created with an upsert keyed by
   `wa_contact_id`, so a retry after a lost answer finds the contact it made instead of making a
   second (HubSpot's search lags behind its writes; the upsert does not).
2. The deal: an upsert keyed by `wa_lead_id`, the lead's id (one deal per lead, whatever the
   retries): name, pipeline, the stage that follows the lead's status (`DEFAULT_STAGES`,
   overridable), amount, BANT, score, status and the conversation summary.
3. The deal's association with the contact (an idempotent PUT).
4. A note on both, for a handoff (its reason, and the call when one is booked) and for a call
   moved or cancelled. A note is the last step, so a failure before it makes none; only an
   answer lost after HubSpot stored the note can make it twice.

`contact.erased` changes nothing in HubSpot: what the team keeps there is theirs to erase.

The custom properties (`wa_contact_id` on contacts; `wa_lead_id`, `wa_status`, `wa_score`,
`wa_need`, `wa_budget`, `wa_authority`, `wa_timeline` on deals; the two ids with unique values)
are created once by the team (README, "HubSpot"). Errors: 429 and 5xx are retried by the outbox;
401 and 403 pause HubSpot deliveries until restart (`HubSpotUnauthorized`), reported once; other
4xx are retried and alerted on, with HubSpot's message (a missing property, say).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import ApiException as AssociationsApiException
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
)
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInputUpsert as DealUpsertBatch
from hubspot.crm.deals import SimplePublicObjectBatchInputUpsert as DealUpsert
from hubspot.crm.objects.notes import ApiException as NotesApiException
from hubspot.crm.objects.notes import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)
from urllib3.util.retry import Retry

from integrations.crm.errors import (
    HubSpotRateLimited,
    HubSpotRejected,
    HubSpotUnauthorized,
    HubSpotUnavailable,
)
from integrations.leads.events import CallData, EventBody, LeadData

__all__ = [
    "CONTACT_KEY",
    "DEAL_KEY",
    "DEFAULT_STAGES",
    "HubSpotClient",
    "deal_properties",
    "hubspot_api",
    "note_text",
]

CONTACT_KEY = "wa_contact_id"
"""The contacts' custom property (unique values) that holds our `<channel>:<E.164>` key."""
DEAL_KEY = "wa_lead_id"
"""The deals' custom property (unique values) that holds our lead id."""
DEFAULT_STAGES: dict[str, str] = {
    "new": "appointmentscheduled",
    "qualifying": "appointmentscheduled",
    "qualified": "qualifiedtobuy",
    "nurture": "qualifiedtobuy",
    "disqualified": "closedlost",
    "booked": "presentationscheduled",
    "handed_off": "qualifiedtobuy",
    "won": "closedwon",
    "lost": "closedlost",
}
"""The lead's status -> the deal stage, in HubSpot's default sales pipeline."""
# HubSpot's own association types (HUBSPOT_DEFINED).
_NOTE_TO_CONTACT, _NOTE_TO_DEAL = 202, 214
_CONTACT_PROPERTIES = ["firstname", "lastname", "email", "phone", "company", CONTACT_KEY]
_API_ERRORS = (
    ContactsApiException, DealsApiException, NotesApiException, AssociationsApiException,
)
_REASONS = {
    "requested": "the lead asked for a person",
    "booked": "a call was booked",
    "unresolved": "the bot could not resolve what the lead asked",
    "low_confidence": "the bot was not sure enough of its answers",
}

T = TypeVar("T")


def hubspot_api(access_token: str, *, host: str) -> Any:
    """The official client on `host`, without urllib3's own retries (the outbox retries)."""
    return HubSpot(access_token=access_token, host=host.rstrip("/"), retry=Retry(total=0))


def _split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name:
        return None, None
    first, _, last = name.strip().partition(" ")
    return first or None, last.strip() or None


def _words(item: Mapping[str, object] | None, *figures: object) -> str | None:
    """A BANT item as one line: its figures (when known), then the lead's words."""
    if item is None:
        return None
    known = " ".join(str(f) for f in figures if f not in (None, ""))
    return f"{known} ({item['words']})" if known else str(item["words"])


def deal_properties(
    lead: LeadData, *, pipeline: str, stages: Mapping[str, str]
) -> dict[str, str]:
    """The deal's properties from the lead (unknown values left out: HubSpot keeps its own)."""
    need, budget, authority, timeline = (
        lead["need"], lead["budget"], lead["authority"], lead["timeline"]
    )
    who = lead["name"] or lead["profile_name"] or lead["number"]
    decides = None
    if authority is not None and authority.get("decides") is not None:
        decides = "decides" if authority["decides"] else "does not decide"
    values: dict[str, object] = {
        "dealname": f"{who} ({lead['company']})" if lead["company"] else who,
        "pipeline": pipeline,
        "dealstage": stages[lead["status"]],
        "amount": budget.get("amount") if budget else None,
        "description": lead["summary"],
        DEAL_KEY: lead["id"],
        "wa_status": lead["status"],
        "wa_score": lead["score"],
        "wa_need": need and (need.get("summary") or need["words"]),
        "wa_budget": budget and _words(budget, budget.get("amount"), budget.get("currency")),
        "wa_authority": authority and _words(authority, authority.get("role"), decides),
        "wa_timeline": timeline and _words(timeline, timeline.get("date")),
    }
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def _call_line(call: CallData) -> str:
    link = f" {call['link']}" if call["link"] else ""
    return f"{call['start']} to {call['end']}{link}"


def note_text(event: EventBody) -> str | None:
    """The note an event leaves on the contact and the deal, if any."""
    lead = event["lead"]
    call = lead["call"] if lead else None
    if event["type"] == "lead.handed_off":
        reason = event.get("reason", "")
        text = f"Handed over to the team: {_REASONS.get(reason, reason)}."
        if call and call["status"] == "confirmed":
            text += f" Call booked: {_call_line(call)}."
        return text
    if event["type"] == "call.rescheduled" and call:
        return f"Call moved to {_call_line(call)}."
    if event["type"] == "call.cancelled" and call:
        return f"Call cancelled ({call['start']})."
    return None


def _contact_properties(lead: LeadData) -> dict[str, str]:
    first, last = _split_name(lead["name"] or lead["profile_name"])
    values = {
        "firstname": first, "lastname": last, "email": lead["email"], "phone": lead["number"],
        "company": lead["company"],
    }
    return {key: value for key, value in values.items() if value}


class HubSpotClient:
    """Syncs lead events into HubSpot contacts, deals and notes (see the module docstring)."""

    def __init__(
        self,
        api: Any,
        *,
        pipeline: str = "default",
        stages: Mapping[str, str] | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        """`api` is a `hubspot.Client` (`hubspot_api`); `stages` overrides `DEFAULT_STAGES`."""
        merged = {**DEFAULT_STAGES, **(stages or {})}
        unknown = sorted(set(merged) - set(DEFAULT_STAGES))
        if unknown:
            raise ValueError(
                f"HUBSPOT_DEAL_STAGES names unknown statuses {', '.join(unknown)}; use "
                + ", ".join(DEFAULT_STAGES)
            )
        self._stages = merged
        self._pipeline = pipeline
        self._timeout = timeout_seconds
        # Built once: each attribute access of the library builds a new client and pool.
        self._contacts_search = api.crm.contacts.search_api
        self._contacts_basic = api.crm.contacts.basic_api
        self._contacts_batch = api.crm.contacts.batch_api
        self._deals_batch = api.crm.deals.batch_api
        self._associations = api.crm.associations.v4.basic_api
        self._notes = api.crm.objects.notes.basic_api

    async def sync(self, event: EventBody) -> None:
        """Bring HubSpot up to date with the event; raises a `HubSpotError` (retry) or
        `HubSpotUnauthorized` (pause)."""
        if event["type"] == "contact.erased" or event["lead"] is None:
            return
        await asyncio.to_thread(self._sync, event, event["lead"])

    def _sync(self, event: EventBody, lead: LeadData) -> None:
        contact_id = self._call("search or create the contact", self._contact, lead)
        deal_id = self._call("upsert the deal", self._deal, lead)
        self._call(
            "associate the deal with the contact",
            lambda: self._associations.create_default(
                "deals", deal_id, "contacts", contact_id, _request_timeout=self._timeout
            ),
        )
        text = note_text(event)
        if text is not None:
            self._call("add a note", self._note, text, event["time"], contact_id, deal_id)

    def _contact(self, lead: LeadData) -> str:
        key = f"{lead['channel']}:{lead['number']}"
        searches = [(CONTACT_KEY, key), ("phone", lead["number"])]
        if lead["email"]:
            searches.append(("email", lead["email"]))
        groups = [  # groups are ORed
            FilterGroup(filters=[Filter(property_name=name, operator="EQ", value=value)])
            for name, value in searches
        ]
        found = self._contacts_search.do_search(
            public_object_search_request=PublicObjectSearchRequest(
                filter_groups=groups, properties=_CONTACT_PROPERTIES, limit=10
            ),
            _request_timeout=self._timeout,
        ).results
        wanted = {**_contact_properties(lead), CONTACT_KEY: key}
        if found:
            ours = [c for c in found if (c.properties or {}).get(CONTACT_KEY) == key]
            contact = (ours or found)[0]
            have = contact.properties or {}
            missing = {name: value for name, value in wanted.items() if not have.get(name)}
            if missing:
                self._contacts_basic.update(
                    contact.id, SimplePublicObjectInput(properties=missing),
                    _request_timeout=self._timeout,
                )
            return str(contact.id)
        result = self._contacts_batch.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id_property=CONTACT_KEY, id=key, properties=wanted
                    )
                ]
            ),
            _request_timeout=self._timeout,
        )
        return _first_id(result, "contact")

    def _deal(self, lead: LeadData) -> str:
        properties = deal_properties(lead, pipeline=self._pipeline, stages=self._stages)
        result = self._deals_batch.upsert(
            DealUpsertBatch(
                inputs=[DealUpsert(id_property=DEAL_KEY, id=str(lead["id"]), properties=properties)]
            ),
            _request_timeout=self._timeout,
        )
        return _first_id(result, "deal")

    def _note(self, text: str, at: str, contact_id: str, deal_id: str) -> None:
        def to(object_id: str, type_id: int) -> PublicAssociationsForObject:
            return PublicAssociationsForObject(
                to=PublicObjectId(id=object_id),
                types=[
                    AssociationSpec(
                        association_category="HUBSPOT_DEFINED", association_type_id=type_id
                    )
                ],
            )

        self._notes.create(
            SimplePublicObjectInputForCreate(
                properties={"hs_note_body": text, "hs_timestamp": _millis(at)},
                associations=[to(contact_id, _NOTE_TO_CONTACT), to(deal_id, _NOTE_TO_DEAL)],
            ),
            _request_timeout=self._timeout,
        )

    @staticmethod
    def _call(what: str, function: Callable[..., T], *args: Any) -> T:
        """Run one API call, its errors mapped to ours (never with the token or the URL)."""
        try:
            return function(*args)
        except _API_ERRORS as exc:
            raise _mapped(what, exc.status, exc.body) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise HubSpotUnavailable(
                f"HubSpot did not answer ({type(exc).__name__}) to {what}"
            ) from exc


def _first_id(result: Any, what: str) -> str:
    """The id of a batch upsert's one result (a multi-status answer may carry errors instead)."""
    if not result.results:
        errors = getattr(result, "errors", None) or []
        detail = "; ".join(str(getattr(e, "message", e)) for e in errors)[:300]
        raise HubSpotRejected(f"HubSpot did not upsert the {what}: {detail or 'no details'}")
    return str(result.results[0].id)


def _millis(iso: str) -> str:
    """An ISO 8601 time as Unix milliseconds, the form HubSpot's `hs_timestamp` surely takes."""
    return str(int(datetime.fromisoformat(iso).timestamp() * 1000))


def _mapped(what: str, status: int | None, body: object) -> Exception:
    detail = _message(body)
    if status in (401, 403):
        return HubSpotUnauthorized(
            f"HubSpot refused the access token ({status}) to {what}: set a valid "
            "HUBSPOT_ACCESS_TOKEN (a private app's, with the CRM contacts and deals scopes) "
            "and restart"
        )
    if status == 429:
        return HubSpotRateLimited(f"HubSpot rate limit (429) to {what}", status=status)
    if status is not None and status >= 500:
        return HubSpotUnavailable(f"HubSpot answered {status} to {what}", status=status)
    return HubSpotRejected(f"HubSpot refused to {what} ({status}): {detail}", status=status)


def _message(body: object) -> str:
    """HubSpot's own error message, short (its JSON `message`)."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if not isinstance(body, str):
        return "no details"
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:300]
    message = parsed.get("message") if isinstance(parsed, dict) else None
    return str(message)[:300] if message else body[:300]
