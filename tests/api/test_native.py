"""WhatsApp-native messages end to end through the app (issue #17): signed webhooks in, the real
pipeline and graph (the scripted model), the stand-ins recording every request out.

- "Shall we book a call?" goes out with Yes/No reply buttons, the slot offer as a Meta list
  message or a Twilio list picker (its content template created through the Content API, then
  sent by `ContentSid`); the lead taps, and exactly the tapped slot is booked.
- A reply the provider refuses because the 24-hour window closed is sent as the reply template;
  without one it is recorded in the transcript as undeliverable, for the manager to see.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from domain.texts import text as fixed_text
from tests.graph.fakes import agent_json, tool_call
from tests.utils.console import add_user, signed_in
from tests.utils.e2e import (
    CONTACT,
    StandIns,
    llm_settings,
    meta_payload,
    running,
    settings_for,
    twilio_text,
    wait_until,
)
from tests.utils.whatsapp_stand_ins import Scripted

QUALIFIED = agent_json(
    "Thanks Ana! Shall we book a call with the team?", name="Ana", company="Acme",
    need="a CRM for our 20 sellers", need_summary="CRM", budget="5k USD", budget_amount=5000,
    budget_currency="USD", authority="I decide", authority_role="CEO", authority_decides=True,
    timeline="next month",
)
FIRST = "Hi, I'm Ana, CEO of Acme: a CRM for our 20 sellers, 5k USD, I decide, next month"
OFFER = "These times are free. Which one suits you?"
_ids = itertools.count(1)


def script(llm: Any) -> None:
    """The model qualifies the lead, then finds slots and offers them (words only)."""
    llm.push(json=QUALIFIED)
    llm.push(tool_calls=[tool_call("find_free_slots", after=None)])
    llm.push(json=agent_json(OFFER, name="Ana", company="Acme"))


def meta_tap(reply_type: str, choice_id: str, title: str) -> dict[str, Any]:
    """The lead taps a button (`button_reply`) or a list row (`list_reply`) on Meta."""
    message = {
        "from": CONTACT.lstrip("+"), "id": f"wamid.TAP{next(_ids)}",
        "timestamp": str(int(time.time())), "type": "interactive",
        "interactive": {"type": reply_type, reply_type: {"id": choice_id, "title": title}},
    }
    return meta_payload(message)


def twilio_tap(choice_id: str, title: str, *, button: bool) -> dict[str, str]:
    """The lead taps a quick reply (`ButtonPayload`) or a list picker row (`ListId`) on Twilio."""
    form = twilio_text(title)
    if button:
        form |= {"MessageType": "button", "ButtonText": title, "ButtonPayload": choice_id}
    else:
        form |= {"MessageType": "interactive", "ListId": choice_id, "ListTitle": title}
    return form


async def booked_start(e2e: Any) -> Any:
    return await e2e.fetchval(
        "SELECT lower(during) FROM calendar_bookings WHERE status = 'confirmed'"
    )


async def test_meta_buttons_then_a_slot_list_and_the_tap_books_that_slot(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    script(llm)
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.meta(FIRST)
        await e2e.wait_meta_replies(1)
        (question,) = e2e.meta_interactive()
        assert question["type"] == "button"
        assert question["body"]["text"] == "Thanks Ana! Shall we book a call with the team?"
        assert [b["reply"] for b in question["action"]["buttons"]] == [
            {"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"},
        ]

        assert (await e2e.post_meta(meta_tap("button_reply", "yes", "Yes"))).status_code == 200
        await e2e.wait_meta_replies(2)
        listed = e2e.meta_interactive()[-1]
        assert listed["type"] == "list" and listed["body"]["text"].startswith(OFFER)
        assert listed["action"]["button"] == "Choose a time"
        rows = listed["action"]["sections"][0]["rows"]
        assert len(rows) == 3 and all(row["id"].startswith("slot:") for row in rows)
        assert {row["description"] for row in rows} == {"America/Buenos_Aires"}  # the lead's zone

        calls = len(llm.chat_requests)
        tapped = rows[1]
        response = await e2e.post_meta(meta_tap("list_reply", tapped["id"], tapped["title"]))
        assert response.status_code == 200
        replies = await e2e.wait_meta_replies(3)
        start = await booked_start(e2e)
        reminders = await e2e.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'reminder' AND status = 'pending'"
        )
    assert len(llm.chat_requests) == calls  # the tap booked; no model call chose the slot
    assert tapped["id"] == f"slot:{start.isoformat()}"  # exactly the tapped slot
    assert tapped["title"] in replies[-1] and replies[-1].endswith(
        fixed_text("handoff.booked", "en")
    )
    assert reminders >= 1


async def test_twilio_quick_replies_then_a_list_picker_and_the_tap_books_that_slot(
    app_client: Any, make_settings: Any, stand_ins: StandIns, llm: Any
) -> None:
    script(llm)
    twilio = stand_ins.twilio
    settings = settings_for(make_settings, stand_ins, **llm_settings(llm))
    async with running(app_client, settings, stand_ins) as e2e:
        await e2e.twilio(FIRST)
        await e2e.wait_twilio_replies(1)
        created = [r for r in twilio.requests if r.path == "/v1/Content"]
        assert [list(r.json["types"]) for r in created] == [["twilio/quick-reply"]]
        question = twilio.requests[-1]
        assert question.form["ContentSid"] in twilio.contents
        values = json.loads(question.form["ContentVariables"])
        assert values == {"1": "Thanks Ana! Shall we book a call with the team?",
                          "2": "Yes", "3": "yes", "4": "No", "5": "no"}

        await e2e.post_twilio(twilio_tap("yes", "Yes", button=True))
        await e2e.wait_twilio_replies(2)
        created = [r for r in twilio.requests if r.path == "/v1/Content"]
        assert list(created[-1].json["types"]) == ["twilio/list-picker"]  # created, then...
        send = twilio.requests[-1]
        assert send.path.endswith("/Messages.json")  # ...sent by its SID
        sid = send.form["ContentSid"]
        assert twilio.contents[sid]["types"] == created[-1].json["types"]
        picker = json.loads(send.form["ContentVariables"])
        assert picker["1"].startswith(OFFER) and picker["2"] == "Choose a time"
        rows = [(picker[str(n)], picker[str(n + 1)]) for n in (3, 6, 9)]  # (title, id)

        title, choice_id = rows[2]
        await e2e.post_twilio(twilio_tap(choice_id, title, button=False))
        replies = await e2e.wait_twilio_replies(3)
        start = await booked_start(e2e)
    assert choice_id == f"slot:{start.isoformat()}"
    assert title in replies[-1]


async def test_a_reply_outside_the_window_goes_as_the_reply_template(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(make_settings, stand_ins, TEMPLATE_REPLY="we_replied")
    meta = stand_ins.meta
    async with running(app_client, settings, stand_ins) as e2e:
        meta.script(
            Scripted(200, {"success": True}),  # the read receipt and typing indicator
            Scripted(400, {"error": {"message": "Re-engagement message", "code": 131047}}),
        )
        await e2e.meta("Hi, I'm Ana")
        await wait_until(
            lambda: any(r.json.get("type") == "template" for r in meta.requests if r.json),
            what="the template",
        )
        await e2e.wait_idle()
        template = next(r.json for r in meta.requests if r.json.get("type") == "template")
    assert template["template"] == {
        "name": "we_replied", "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Nimbus CRM"}]}],
    }
    assert e2e.meta_replies() == []  # no free-form message went out


async def test_without_a_template_the_reply_is_recorded_undeliverable(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = settings_for(make_settings, stand_ins)
    async with running(app_client, settings, stand_ins) as e2e:
        stand_ins.meta.script(
            Scripted(200, {"success": True}),
            Scripted(400, {"error": {"message": "Re-engagement message", "code": 131047}}),
        )
        await e2e.meta("Hi, I'm Ana")

        async def undeliverable() -> Any:
            return await e2e.fetch(
                "SELECT text FROM transcript WHERE kind = 'undeliverable' AND direction = 'out'"
            )

        (row,) = await wait_until(undeliverable, what="the undeliverable reply")
        await e2e.wait_idle()  # acked: not retried
        # The manager sees it in the conversation, marked as not delivered.
        email = "marta@sales.example"
        manager = await signed_in(e2e.app, email, await add_user(e2e.app, email=email))
        contact_id = await e2e.fetchval("SELECT id FROM contacts")
        page = (await manager.get(f"/console/c/{contact_id}")).text
        await manager.aclose()
    assert row["text"].startswith(fixed_text("greeting.hello", "en", name=" Ana"))
    assert page.count("Not delivered: WhatsApp's 24-hour window had closed") == 1
