"""Buttons, lists and templates through the Twilio and Meta stand-ins (issue #17).

A reply with options goes out as a Meta `interactive` message or a Twilio content template
(created through the Content API once per shape, then sent by `ContentSid`); a refused one goes
out as its numbered text; a message refused because the 24-hour window closed is sent again as
the configured template, and without one the error reaches the caller."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from core.migrate import apply_migrations
from domain.booking import Slot
from domain.reply import NO, YES, Choice, Options, OutgoingReply, slot_choice_id
from integrations.whatsapp.contents import PostgresContentCache
from integrations.whatsapp.errors import WindowClosed
from integrations.whatsapp.interactive import layout, meta_interactive, twilio_content
from integrations.whatsapp.meta import MetaClient
from integrations.whatsapp.sender import Channels, RetryPolicy
from integrations.whatsapp.templates import TemplateBook
from integrations.whatsapp.twilio import TwilioClient
from tests.utils.whatsapp_stand_ins import (
    ACCESS_TOKEN,
    ACCOUNT_SID,
    AUTH_TOKEN,
    PHONE_NUMBER_ID,
    MetaStandIn,
    Scripted,
    TwilioStandIn,
)

TO = "+5491123456789"
START = datetime(2030, 1, 8, 13, 0, tzinfo=UTC)
SLOTS = [Slot(start=START + timedelta(hours=h), end=START + timedelta(hours=h, minutes=30))
         for h in range(3)]
SLOT_OPTIONS = Options(
    kind="slots",
    choices=tuple(
        Choice(id=slot_choice_id(slot), title=f"Tue 8 Jan, {10 + n}:00",
               description="America/Sao_Paulo")
        for n, slot in enumerate(SLOTS)
    ),
    button="Choose a time",
)
YES_NO = Options(
    kind="yes_no", choices=(Choice(id=YES, title="Yes"), Choice(id=NO, title="No")),
    button="Choose",
)
OFFER = "These times are free for a call. Which one suits you?"
APPROVED = "HX" + "a" * 32


def meta_client(url: str, http: aiohttp.ClientSession, retry: RetryPolicy) -> MetaClient:
    return MetaClient(ACCESS_TOKEN, PHONE_NUMBER_ID, graph_base=f"{url}/v21.0", http=http,
                      retry=retry)


def twilio_client(
    url: str, http: aiohttp.ClientSession, retry: RetryPolicy, **kwargs: object
) -> TwilioClient:
    return TwilioClient(
        ACCOUNT_SID, AUTH_TOKEN, "+14155238886", api_base=url, content_api_base=url, http=http,
        retry=retry, **kwargs,  # type: ignore[arg-type]
    )


def book(**refs: str) -> TemplateBook:
    return TemplateBook(
        {"reply": {"*": refs["reply"]}} if "reply" in refs else {}, business="Nimbus CRM"
    )


# --- Layouts (pure) --------------------------------------------------------------------------


def test_slots_use_a_list_and_other_options_buttons_where_they_fit() -> None:
    assert layout(OFFER, SLOT_OPTIONS) == "list"
    assert layout("Shall I book it?", YES_NO) == "buttons"
    many = Options(kind="budget", choices=tuple(
        Choice(id=f"budget:{n}", title=f"Range {n}") for n in range(1, 5)
    ), button="Choose")
    assert layout("Your budget?", many) == "list"  # more than three: a list


@pytest.mark.parametrize(
    ("body", "options"),
    [
        ("x" * 1025, YES_NO),  # body over WhatsApp's 1,024 characters
        ("", YES_NO),
        (OFFER, Options(kind="slots", choices=tuple(
            Choice(id=f"slot:{n}", title=f"Slot {n}") for n in range(11)
        ), button="Pick")),  # 11 rows
        (OFFER, Options(kind="slots", choices=(
            Choice(id="slot:1", title="A title longer than 24 chars"),
        ), button="Pick")),
        ("Pick", Options(kind="yes_no", choices=(
            Choice(id="yes", title="Same"), Choice(id="no", title="Same"),
        ), button="Choose")),  # two buttons of one title
    ],
)
def test_options_that_do_not_fit_go_as_text(body: str, options: Options) -> None:
    assert layout(body, options) is None


def test_the_provider_requests_name_every_option() -> None:
    listed = meta_interactive(OFFER, SLOT_OPTIONS, "list")
    assert listed["type"] == "list" and listed["action"]["button"] == "Choose a time"
    rows = listed["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [slot_choice_id(s) for s in SLOTS]
    buttons = meta_interactive("Shall I?", YES_NO, "buttons")["action"]["buttons"]
    assert [b["reply"] for b in buttons] == [{"id": "yes", "title": "Yes"},
                                            {"id": "no", "title": "No"}]
    types, values = twilio_content(OFFER, SLOT_OPTIONS, "list")
    picker = types["twilio/list-picker"]
    assert picker["body"] == "{{1}}" and picker["button"] == "{{2}}"
    assert picker["items"][0] == {"item": "{{3}}", "id": "{{4}}", "description": "{{5}}"}
    assert values["1"] == OFFER and values["4"] == slot_choice_id(SLOTS[0])
    # Every text is a variable: another offer of three slots is the same template.
    other = Options(kind="slots", choices=tuple(
        Choice(id=f"slot:{n}", title=f"Wed {n}", description="UTC") for n in range(3)
    ), button="Pick")
    assert twilio_content("Other words", other, "list")[0] == types


def test_a_slot_offer_as_text_numbers_its_slots_when_the_words_do_not() -> None:
    reply = OutgoingReply(text="Which one suits you: 1, 2 or 3?", options=SLOT_OPTIONS)
    assert reply.as_text().splitlines()[1:] == [
        "1. Tue 8 Jan, 10:00 (America/Sao_Paulo)",
        "2. Tue 8 Jan, 11:00 (America/Sao_Paulo)",
        "3. Tue 8 Jan, 12:00 (America/Sao_Paulo)",
    ]
    listed = "\n".join(f"{n}. {c.title}" for n, c in enumerate(SLOT_OPTIONS.choices, 1))
    assert OutgoingReply(text=listed, options=SLOT_OPTIONS).as_text() == listed
    assert OutgoingReply(text="Shall I book it?", options=YES_NO).as_text() == "Shall I book it?"


# --- Meta ------------------------------------------------------------------------------------


async def test_meta_sends_a_slot_offer_as_a_list_message(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"meta": meta_client(meta_server[1], send_http, retry)})
    (part,) = channels.parts("meta", OutgoingReply(text=OFFER, options=SLOT_OPTIONS))
    assert await channels.send("meta", TO, part, language="en") == ["wamid.OUT1"]
    (request,) = meta_api.requests
    assert request.json["type"] == "interactive"
    assert request.json["interactive"] == meta_interactive(OFFER, SLOT_OPTIONS, "list")


async def test_meta_refusing_the_interactive_message_gets_the_numbered_text(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"meta": meta_client(meta_server[1], send_http, retry)})
    meta_api.script(Scripted(400, {"error": {"message": "Invalid parameter", "code": 131009}}))
    reply = OutgoingReply(text="Which one suits you?", options=SLOT_OPTIONS)
    (part,) = channels.parts("meta", reply)
    assert await channels.send("meta", TO, part, language="en") == ["wamid.OUT1"]
    (request,) = meta_api.requests  # the refused one was not accepted
    assert request.json["type"] == "text"
    assert request.json["text"]["body"] == reply.as_text()
    assert "2. Tue 8 Jan, 11:00 (America/Sao_Paulo)" in request.json["text"]["body"]


async def test_options_over_the_limits_are_composed_as_text(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"meta": meta_client(meta_server[1], send_http, retry)})
    long_words = "Free times. " * 100  # over 1,024 characters
    parts = channels.parts("meta", OutgoingReply(text=long_words, options=SLOT_OPTIONS))
    assert [p.options for p in parts] == [None]
    assert parts[0].text.endswith("3. Tue 8 Jan, 12:00 (America/Sao_Paulo)")


async def test_meta_window_closed_sends_the_reply_template(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels(
        {"meta": meta_client(meta_server[1], send_http, retry)},
        templates=TemplateBook(
            {"reply": {"*": "reengage"}}, business="Nimbus CRM",
            language_codes={"en": "en_US", "pt": "pt_BR"},
        ),
    )
    meta_api.script(Scripted(400, {"error": {
        "message": "Re-engagement message", "code": 131047,
        "error_data": {"details": "Message failed to send because more than 24 hours have "
                                  "passed since the customer last replied to this number."},
    }}))
    ids = await channels.send("meta", TO, OutgoingReply(text="Olá!"), language="pt")
    assert ids == ["wamid.OUT1"]
    (request,) = meta_api.requests
    assert request.json["type"] == "template"
    assert request.json["template"] == {
        "name": "reengage", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Nimbus CRM"}]}],
    }


async def test_window_closed_without_a_template_reaches_the_caller(
    meta_server: tuple[MetaStandIn, str], meta_api: MetaStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"meta": meta_client(meta_server[1], send_http, retry)})
    meta_api.script(Scripted(400, {"error": {"message": "Re-engagement", "code": 131047}}))
    with pytest.raises(WindowClosed):
        await channels.send("meta", TO, OutgoingReply(text="Hi"), language="en")
    assert meta_api.requests == []


# --- Twilio ----------------------------------------------------------------------------------


async def test_twilio_creates_the_list_picker_once_and_sends_it_by_content_sid(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"twilio": twilio_client(twilio_server[1], send_http, retry)})
    (part,) = channels.parts("twilio", OutgoingReply(text=OFFER, options=SLOT_OPTIONS))
    await channels.send("twilio", TO, part, language="en")
    create, send = twilio_api.requests
    assert create.path == "/v1/Content"
    assert list(create.json["types"]) == ["twilio/list-picker"]
    assert create.json["types"]["twilio/list-picker"]["items"][1]["id"] == "{{7}}"
    (sid,) = twilio_api.contents
    assert send.path.endswith("/Messages.json")
    assert send.form["ContentSid"] == sid and "Body" not in send.form
    values = json.loads(send.form["ContentVariables"])
    assert values["1"] == OFFER and values["2"] == "Choose a time"
    assert [values[str(n)] for n in (3, 4, 5)] == [
        "Tue 8 Jan, 10:00", slot_choice_id(SLOTS[0]), "America/Sao_Paulo",
    ]
    # Another offer of the same shape: no new content, the same SID.
    await channels.send("twilio", TO, part, language="en")
    assert [r.path for r in twilio_api.requests].count("/v1/Content") == 1
    assert twilio_api.requests[-1].form["ContentSid"] == sid


async def test_twilio_content_sids_are_shared_through_postgres(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy, pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    for _ in range(2):  # two processes (or a restart): one content created
        client = twilio_client(
            twilio_server[1], send_http, retry, contents=PostgresContentCache(pool)
        )
        await client.send_interactive(TO, "Shall I book it?", YES_NO)
    assert [r.path for r in twilio_api.requests].count("/v1/Content") == 1
    quick_reply = twilio_api.requests[0].json["types"]["twilio/quick-reply"]
    assert quick_reply["actions"] == [{"title": "{{2}}", "id": "{{3}}"},
                                      {"title": "{{4}}", "id": "{{5}}"}]
    sends = [r.form["ContentSid"] for r in twilio_api.requests if "ContentSid" in r.form]
    assert len(sends) == 2 and len(set(sends)) == 1


async def test_twilio_refusing_the_content_gets_the_text(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels({"twilio": twilio_client(twilio_server[1], send_http, retry)})
    twilio_api.script(Scripted(400, {"code": 21655, "message": "Invalid content"}))
    await channels.send(
        "twilio", TO, OutgoingReply(text="Shall I book it?", options=YES_NO), language="en"
    )
    (request,) = twilio_api.requests
    assert request.form["Body"] == "Shall I book it?"


async def test_twilio_window_closed_sends_the_approved_content(
    twilio_server: tuple[TwilioStandIn, str], twilio_api: TwilioStandIn,
    send_http: aiohttp.ClientSession, retry: RetryPolicy,
) -> None:
    channels = Channels(
        {"twilio": twilio_client(twilio_server[1], send_http, retry)},
        templates=TemplateBook({"reply": {"en": APPROVED}}, business="Nimbus CRM"),
    )
    twilio_api.approved.add(APPROVED)
    twilio_api.script(Scripted(400, {
        "code": 63016, "message": "Failed to send freeform message because you are outside the "
        "allowed window. Please use a Template.",
    }))
    await channels.send("twilio", TO, OutgoingReply(text="Hi Ana"), language="en")
    (request,) = twilio_api.requests
    assert request.form["ContentSid"] == APPROVED
    assert json.loads(request.form["ContentVariables"]) == {"1": "Nimbus CRM"}


# --- The template book -----------------------------------------------------------------------


def test_templates_by_purpose_language_and_channel() -> None:
    templates = TemplateBook(
        {"reminder": {"*": "call_reminder"}, "followup": {"en": APPROVED, "es": "HX" + "b" * 32}},
        business="Nimbus CRM", language_codes={"es": "es_MX"},
    )
    reminder = templates.message("reminder", "es", "meta", when="mar 8 ene, 10:00 (UTC)")
    assert reminder is not None
    assert (reminder.ref, reminder.language, reminder.variables) == (
        "call_reminder", "es_MX", ("mar 8 ene, 10:00 (UTC)",)
    )
    assert templates.message("reminder", "es", "twilio", when="x") is None  # a name: Meta only
    followup = templates.message("followup", "es", "twilio")
    assert followup is not None and followup.ref == "HX" + "b" * 32
    assert templates.message("followup", "fr", "twilio") is None  # no French one, no default
    assert templates.message("followup", "en", "meta") is None  # a SID: Twilio only
    assert templates.message("reply", "en", "meta") is None
