"""The manager's admin API through the real app, after real conversations over the webhooks."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.contact import ContactMode
from domain.texts import text as fixed_text
from tests.graph.fakes import agent_json, tool_call
from tests.utils.e2e import (
    ADMIN_TOKEN,
    CONTACT,
    E2E,
    StandIns,
    llm_settings,
    meta_payload,
    meta_text,
    running,
    settings_for,
    wait_until,
)

THREAD = f"meta:{CONTACT}"
OTHERS = ["+16505551234", "+34612345678"]
HANDOFF = fixed_text("handoff.requested", "en")


async def hand_over(e2e: E2E, contact: str = CONTACT) -> None:
    """A conversation that ends with the lead asking for a person."""
    await e2e.meta("/human", contact=contact)
    await e2e.wait_meta_replies(1, contact=contact)


async def lead_id(e2e: E2E, contact: str = CONTACT) -> int:
    value = await e2e.fetchval(
        "SELECT l.id FROM leads l JOIN contacts c ON c.id = l.contact_id WHERE c.number = $1",
        contact,
    )
    assert isinstance(value, int)
    return value


# --- Auth --------------------------------------------------------------------------------------


ROUTES = [
    ("GET", "/admin/leads", None),
    ("GET", "/admin/leads/1", None),
    ("POST", "/admin/leads/1/outcome", {"outcome": "won"}),
    ("POST", f"/admin/contacts/meta/{CONTACT}/reply", {"text": "hi"}),
    ("POST", f"/admin/contacts/meta/{CONTACT}/release", None),
    ("DELETE", f"/admin/contacts/meta/{CONTACT}", None),
]


async def test_every_route_needs_the_admin_token(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},
            {"Authorization": ADMIN_TOKEN},
            {"Authorization": "Bearer "},
        ):
            for method, path, body in ROUTES:
                response = await e2e.client.request(method, path, headers=headers, json=body)
                assert response.status_code == 401, (method, path, headers)
                assert ADMIN_TOKEN not in response.text
        ok = await e2e.admin("GET", "/leads")
        assert ok.status_code == 200
        assert ok.json() == {"total": 0, "limit": 50, "offset": 0, "items": []}
        assert e2e.stand_ins.meta.requests == []

    unset = settings_for(make_settings, stand_ins, ADMIN_TOKEN=None)
    async with running(app_client, unset, stand_ins) as e2e:
        for method, path, body in ROUTES:
            response = await e2e.admin(method, path[len("/admin"):], json=body)
            assert response.status_code == 503, (method, path)


# --- Leads -------------------------------------------------------------------------------------


async def test_list_leads_filtered_by_status_and_date_and_paginated(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        for contact in [CONTACT, *OTHERS]:
            await hand_over(e2e, contact)
        await e2e.meta("Hi, I'm Bob", contact="+14155550100")  # still with the bot
        await e2e.wait_meta_replies(1, contact="+14155550100")

        everything = (await e2e.admin("GET", "/leads")).json()
        assert everything["total"] == 4
        handed = (await e2e.admin("GET", "/leads", params={"status": "handed_off"})).json()
        assert handed["total"] == 3
        assert {item["number"] for item in handed["items"]} == {CONTACT, *OTHERS}
        assert all(item["status"] == "handed_off" for item in handed["items"])

        first = (await e2e.admin("GET", "/leads", params={"status": "handed_off", "limit": 2}))
        second = await e2e.admin(
            "GET", "/leads", params={"status": "handed_off", "limit": 2, "offset": 2}
        )
        page1, page2 = first.json()["items"], second.json()["items"]
        assert (len(page1), len(page2)) == (2, 1)
        assert {i["id"] for i in page1}.isdisjoint({i["id"] for i in page2})
        ids = [i["id"] for i in page1 + page2]
        assert ids == sorted(ids, reverse=True)  # newest first

        now = datetime.now(UTC)
        hour = timedelta(hours=1)
        for params, total in (
            ({"since": (now - hour).isoformat()}, 4),
            ({"since": (now + hour).isoformat()}, 0),
            ({"until": (now - hour).isoformat()}, 0),
            ({"until": (now + hour).isoformat(), "status": "new"}, 1),
            ({"since": (now - hour).isoformat(), "until": (now + hour).isoformat()}, 4),
            ({"since": (now - hour).strftime("%Y-%m-%dT%H:%M:%S")}, 4),
            ({"since": (now - timedelta(days=1)).date().isoformat()}, 4),
        ):
            response = await e2e.admin("GET", "/leads", params=params)
            assert response.status_code == 200, (params, response.text)
            assert response.json()["total"] == total, params
            assert len(response.json()["items"]) == total, params

        bad: list[dict[str, Any]] = [
            {"status": "bogus"}, {"limit": 0}, {"limit": 1000}, {"offset": -1},
            {"since": "yesterday"},
        ]
        for params in bad:
            assert (await e2e.admin("GET", "/leads", params=params)).status_code == 422, params


async def test_one_lead_with_its_transcript_and_handoffs(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hi, I'm Ana")
        await e2e.wait_meta_replies(1)
        await hand_over(e2e)
        await e2e.wait_meta_replies(2)
        detail = (await e2e.admin("GET", f"/leads/{await lead_id(e2e)}")).json()
        assert (await e2e.admin("GET", "/leads/999999")).status_code == 404
    assert detail["lead"]["status"] == "handed_off"
    assert detail["lead"]["number"] == CONTACT and detail["lead"]["channel"] == "meta"
    # Inbound messages carry the provider's timestamp (whole seconds), so within one second
    # they may sort before the reply that preceded them: compare each direction in order.
    transcript = [(m["direction"], m["author"], m["text"]) for m in detail["transcript"]]
    assert [t for d, a, t in transcript if (d, a) == ("in", "lead")] == ["Hi, I'm Ana", "/human"]
    outbound = [t for d, a, t in transcript if (d, a) == ("out", "bot")]
    assert len(outbound) == 2 and outbound[-1] == HANDOFF
    assert [(h["reason"], h["resolved_at"]) for h in detail["handoffs"]] == [("requested", None)]


async def test_reply_as_the_business_silences_the_bot_until_release(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await hand_over(e2e)
        text = "Hi Ana, this is Marta from sales. Price agreed: 4,500 EUR."
        sent = await e2e.admin("POST", f"/contacts/meta/{CONTACT}/reply", json={"text": text})
        assert sent.status_code == 200, sent.text
        assert sent.json()["message_ids"] and e2e.meta_replies()[-1] == text

        await e2e.meta("Great, thanks Marta!")
        await e2e.wait_transcript("Great, thanks Marta!")
        await e2e.wait_idle()
        assert e2e.meta_replies() == [HANDOFF, text]  # no bot message while the human talks
        transcript = await e2e.transcript()
        assert ("out", "human", text) in transcript
        assert ("in", "lead", "Great, thanks Marta!") in transcript
        assert [t for d, a, t in transcript if a == "bot"] == [HANDOFF]

        released = await e2e.admin("POST", f"/contacts/meta/{CONTACT}/release")
        assert released.json() == {"released": True}
        state = await e2e.pipeline.engine.state(THREAD)
        assert await e2e.pipeline.store.contacts.mode("meta", CONTACT) is ContactMode.BOT
        assert state["human_stretch"].notes == text

        await e2e.meta("One more question: do you offer training?")
        replies = await e2e.wait_meta_replies(3)
        assert HANDOFF not in replies[-1]
        handoffs = await e2e.fetch("SELECT resolved_at FROM handoffs")
        assert [h["resolved_at"] is not None for h in handoffs] == [True]
        assert await e2e.fetchval("SELECT human_since FROM contacts") is None

        # Replying to a contact the bot still has also silences the bot.
        other = OTHERS[0]
        await e2e.meta("Hi, I'm Bob", contact=other)
        await e2e.wait_meta_replies(1, contact=other)
        sent = await e2e.admin("POST", f"/contacts/meta/{other}/reply", json={"text": "Bob!"})
        assert sent.status_code == 200
        await e2e.meta("hello", contact=other)
        await e2e.wait_transcript("hello", contact=other)
        await e2e.wait_idle()
        assert e2e.meta_replies(other)[1:] == ["Bob!"]


async def test_releasing_a_contact_nobody_took_over_changes_nothing(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    """No human stretch and no notes: the conversation must not believe a person spoke."""
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hi, I'm Ana")
        await e2e.wait_meta_replies(1)
        await e2e.wait_idle()
        released = await e2e.admin("POST", f"/contacts/meta/{CONTACT}/release")
        assert released.json() == {"released": False}
        assert (await e2e.pipeline.engine.state(THREAD)).get("human_stretch") is None


async def test_admin_errors_are_4xx_not_500(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        unknown = "+14155550199"
        for method, path, body, status in (
            ("POST", f"/contacts/meta/{unknown}/reply", {"text": "hi"}, 404),
            ("POST", f"/contacts/meta/{unknown}/release", None, 404),
            ("DELETE", f"/contacts/meta/{unknown}", None, 200),
            ("POST", "/contacts/meta/not-a-number/reply", {"text": "hi"}, 422),
            ("POST", "/contacts/meta/not-a-number/release", None, 422),
            ("DELETE", "/contacts/meta/not-a-number", None, 422),
            ("POST", f"/contacts/sms/{CONTACT}/reply", {"text": "hi"}, 422),
            ("POST", f"/contacts/meta/{CONTACT}/reply", {"text": ""}, 422),
            ("POST", "/leads/999999/outcome", {"outcome": "won"}, 404),
            ("POST", "/leads/1/outcome", {"outcome": "maybe"}, 422),
        ):
            response = await e2e.admin(method, path, json=body)
            assert response.status_code == status, (method, path, response.text)
        assert e2e.stand_ins.meta.requests == []


async def test_a_reply_the_provider_refuses_is_502_and_not_recorded(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    from tests.utils.whatsapp_stand_ins import Scripted

    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await hand_over(e2e)
        e2e.stand_ins.meta.script(Scripted(400, {"error": {"message": "bad", "code": 131047}}))
        response = await e2e.admin("POST", f"/contacts/meta/{CONTACT}/reply", json={"text": "x"})
        assert response.status_code == 502
        assert ("out", "human", "x") not in await e2e.transcript()


async def test_won_and_lost(app_client: Any, make_settings: Any, stand_ins: StandIns) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await hand_over(e2e)
        await hand_over(e2e, OTHERS[0])
        won, lost = await lead_id(e2e), await lead_id(e2e, OTHERS[0])
        for lead, outcome in ((won, "won"), (lost, "lost")):
            response = await e2e.admin("POST", f"/leads/{lead}/outcome", json={"outcome": outcome})
            assert response.json() == {"status": outcome}
        detail = (await e2e.admin("GET", f"/leads/{won}")).json()
        assert detail["lead"]["status"] == "won" and detail["lead"]["closed_at"]
        listed = (await e2e.admin("GET", "/leads", params={"status": "lost"})).json()
        assert [item["id"] for item in listed["items"]] == [lost]


async def test_deleting_a_contact_erases_rows_state_and_buffered_messages(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.meta("Hi, I'm Ana")
        await e2e.wait_meta_replies(1)
        await hand_over(e2e)
        await hand_over(e2e, OTHERS[0])
        await wait_until(
            lambda: e2e.fetchval(
                "SELECT count(*) = 2 FROM outbox WHERE status = 'sent' AND kind = 'manager_email'"
            ),
            what="the emails",
        )
        assert await e2e.pipeline.engine.state(THREAD)
        await e2e.pipeline.workers.stop()  # the next message stays buffered
        await e2e.meta("please delete my data")
        assert await e2e.redis.keys(f"wa:c:{{{THREAD}}}:*")

        response = await e2e.admin("DELETE", f"/contacts/meta/{CONTACT}")
        assert response.json() == {"deleted": True}

        # The other contact's: its two messages, its email and its follow-up.
        left = {"contacts": 1, "leads": 1, "transcript": 2, "outbox": 2}
        for table, count in left.items():
            assert await e2e.fetchval(f"SELECT count(*) FROM {table}") == count, table
        assert await e2e.fetchval("SELECT count(*) FROM handoffs") == 1
        assert await e2e.fetchval(
            "SELECT count(*) FROM contacts WHERE number = $1", CONTACT
        ) == 0
        assert await e2e.pipeline.engine.state(THREAD) == {}
        assert await e2e.redis.keys(f"*{CONTACT}*") == []
        assert await e2e.redis.zscore("wa:due", THREAD) is None
        assert await e2e.pipeline.engine.state(f"meta:{OTHERS[0]}")  # untouched
        assert (await e2e.admin("DELETE", f"/contacts/meta/{CONTACT}")).json() == {
            "deleted": False
        }


NAME, COMPANY, EMAIL = "Zelda Quintanilla", "Quokka Labs", "zelda@quokka.example"


def traces(data: bytes) -> list[str]:
    """Which of the erased lead's number, name and email `data` holds (as text, in any case)."""
    text = data.decode("utf-8", "replace").lower()
    needles = (CONTACT.lstrip("+"), "zelda", "quintanilla", "quokka")
    return [needle for needle in needles if needle in text]


def file_traces(path: Path) -> list[str]:
    """`traces` of a file, an email's parts and attachments decoded (base64, quoted-printable)."""
    data = path.read_bytes()
    found = traces(data)
    if path.suffix == ".eml":
        message = email.message_from_bytes(data, policy=email.policy.default)
        for part in message.walk():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                found += traces(payload)
    return sorted(set(found))


async def redis_traces(e2e: E2E) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in await e2e.redis.keys("*"):
        kind = (await e2e.redis.type(key)).decode()
        if kind == "string":
            values = [await e2e.redis.get(key)]
        elif kind == "hash":
            values = [v for pair in (await e2e.redis.hgetall(key)).items() for v in pair]
        elif kind == "list":
            values = await e2e.redis.lrange(key, 0, -1)
        else:
            values = [m for m, _ in await e2e.redis.zrange(key, 0, -1, withscores=True)]
        if hit := traces(key + b" " + b" ".join(values)):
            found[key.decode()] = hit
    return found


async def test_erasing_a_booked_lead_leaves_no_trace_in_any_table_file_or_key(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    """Issue #15 item 5: the booking (its slot freed), the invitation email queued without a
    contact id, the `.eml` files, the conversation state: nothing names the lead afterwards."""
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    facts: dict[str, Any] = {"name": "Zelda", "company": COMPANY, "email": EMAIL}
    llm.push(json=agent_json(
        "Thanks Zelda, shall we book a call?", need="a CRM for our 20 sellers",
        budget="5k USD", budget_amount=5000, budget_currency="USD", authority="I decide",
        authority_decides=True, timeline="next month", **facts,
    ))
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json("These times are free: 1, 2 or 3?", **facts))
    llm.push(tool_calls=[tool_call("book_slot", option=1)])
    llm.push(json=agent_json("Booked!", **facts))
    said = [
        f"Hi, I'm Zelda, CEO of {COMPANY}: a CRM for our 20 sellers, 5k USD, I decide, "
        f"next month. Mail me at {EMAIL}",
        "yes, let's book",
        "the first one",
    ]
    async with running(app_client, settings, stand_ins) as e2e:
        for count, text in enumerate(said, start=1):
            response = await e2e.post_meta(meta_payload(meta_text(text), name=NAME))
            assert response.status_code == 200
            await e2e.wait_meta_replies(count)
        await hand_over(e2e, OTHERS[0])  # someone else, who stays
        await wait_until(
            lambda: e2e.fetchval("SELECT count(*) = 3 FROM outbox WHERE status = 'sent'"),
            what="the quote requests and the invitation",
        )
        booked = await e2e.fetchval("SELECT count(*) FROM calendar_bookings")
        tables = [r["table_name"] for r in await e2e.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )]
        files = sorted(Path(settings.DATA_DIR).rglob("*.*"))
        assert booked == 1 and len([f for f in files if f.suffix == ".eml"]) == 3
        assert all(table in tables for table in ("calendar_bookings", "outbox", "transcript"))

        response = await e2e.admin("DELETE", f"/contacts/meta/{CONTACT}")
        assert response.json() == {"deleted": True}

        left = {}
        for table in tables:
            rows = await e2e.fetch(f'SELECT t::text AS row FROM "{table}" AS t')
            hits = sorted({n for r in rows for n in traces(r["row"].encode())})
            if hits:
                left[table] = hits
        assert left == {}
        assert {str(f): file_traces(f) for f in Path(settings.DATA_DIR).rglob("*") if f.is_file()
                and file_traces(f)} == {}
        assert await redis_traces(e2e) == {}
        assert await e2e.fetchval("SELECT count(*) FROM calendar_bookings") == 0  # slot free
        # The other lead's rows, email file and conversation stay.
        assert await e2e.fetchval("SELECT count(*) FROM contacts") == 1
        assert len(list(Path(settings.DATA_DIR).rglob("*.eml"))) == 1
        assert await e2e.pipeline.engine.state(f"meta:{OTHERS[0]}")


@pytest.mark.parametrize("channel", ["meta"])
async def test_reply_goes_through_the_contacts_channel(
    app_client: Any, make_settings: Any, stand_ins: StandIns, channel: str
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await e2e.twilio("/human")
        await e2e.wait_twilio_replies(1)
        response = await e2e.admin(
            "POST", f"/contacts/twilio/{CONTACT}/reply", json={"text": "Hi from sales"}
        )
        assert response.status_code == 200
        assert e2e.twilio_replies()[-1] == "Hi from sales"
        assert e2e.meta_replies() == []
        # The same number on the other channel is another contact.
        missing = await e2e.admin(
            "POST", f"/contacts/{channel}/{CONTACT}/reply", json={"text": "x"}
        )
        assert missing.status_code == 404


async def test_out_of_range_ids_dates_offsets_and_nul_text_are_422_not_500(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, settings_for(make_settings, stand_ins), stand_ins) as e2e:
        await hand_over(e2e)
        huge = "99999999999999999999"  # beyond Postgres bigint: asyncpg raised DataError
        for method, path, kwargs in (
            ("GET", f"/leads/{huge}", {}),
            ("POST", f"/leads/{huge}/outcome", {"json": {"outcome": "won"}}),
            ("GET", "/leads", {"params": {"offset": huge}}),
            # Python cannot convert these to UTC: asyncpg raised DataError.
            ("GET", "/leads", {"params": {"since": "0001-01-01T00:00:00+05:00"}}),
            ("GET", "/leads", {"params": {"until": "9999-12-31T23:59:59-05:00"}}),
            # Postgres refuses NUL: the message went out, then recording it failed (500).
            ("POST", f"/contacts/meta/{CONTACT}/reply", {"json": {"text": "a\x00b"}}),
        ):
            response = await e2e.admin(method, path, **kwargs)
            assert response.status_code == 422, (method, path, kwargs, response.text)
        assert e2e.meta_replies() == [HANDOFF]
        ok = await e2e.admin("GET", "/leads", params={"since": "2000-01-01T00:00:00+05:00"})
        assert ok.json()["total"] == 1
