"""Meta Cloud API webhooks: handshake, signature and parsing of recorded deliveries."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.whatsapp.errors import PayloadMalformed
from integrations.whatsapp.meta import (
    SIGNATURE_HEADER,
    parse_meta,
    verify_challenge,
    verify_meta_signature,
)
from integrations.whatsapp.types import InboundMessage, Location, MediaRef
from tests.integrations.whatsapp.conftest import DATA, load_meta

APP_SECRET = "meta-test-app-secret"
CONTACT = "+5491123456789"
WHEN = datetime(2024, 6, 10, 14, 40, tzinfo=UTC)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """`X-Hub-Signature-256` the way Meta computes it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- Handshake ---------------------------------------------------------------------------------


def test_challenge_echoed_when_the_token_matches() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1158201444"}
    assert verify_challenge(params, "vt-123") == "1158201444"


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, "vt-123"),
        ({"hub.mode": "unsubscribe", "hub.verify_token": "vt-123", "hub.challenge": "1"}, "vt-123"),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, "vt-123"),
        ({"hub.mode": "subscribe", "hub.verify_token": "vt-123"}, "vt-123"),
        ({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}, ""),
        ({"hub.mode": "subscribe", "hub.verify_token": "vt-123", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "vté", "hub.challenge": "1"}, "vt-123"),
    ],
)
def test_challenge_refused(params: dict[str, str], token: str | None) -> None:
    assert verify_challenge(params, token) is None


# --- Signature ---------------------------------------------------------------------------------


def test_signature_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Hub-Signature-256"


def test_valid_signature() -> None:
    body = (DATA / "meta" / "text.json").read_bytes()
    assert verify_meta_signature(APP_SECRET, body, sign(body))
    assert verify_meta_signature(APP_SECRET, body, sign(body).upper().replace("SHA256", "sha256"))


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "sha256=zz", "sha256=" + "0" * 64, "é" * 70, "sha256"],
)
def test_missing_or_forged_signature(header: str | None) -> None:
    body = (DATA / "meta" / "text.json").read_bytes()
    assert not verify_meta_signature(APP_SECRET, body, header)


def test_signature_with_another_secret_is_refused() -> None:
    body = (DATA / "meta" / "text.json").read_bytes()
    assert not verify_meta_signature(APP_SECRET, body, sign(body, "someone-else"))


def test_signature_of_an_altered_body_is_refused() -> None:
    """A stale signature (captured from an earlier body) does not cover a changed body, even one
    that parses to the same JSON: the HMAC is over the raw bytes."""
    body = (DATA / "meta" / "text.json").read_bytes()
    signature = sign(body)
    altered = body.replace(b"plan Pro", b"plan Max")
    reformatted = json.dumps(json.loads(body)).encode()
    assert not verify_meta_signature(APP_SECRET, altered, signature)
    assert not verify_meta_signature(APP_SECRET, reformatted, signature)
    assert not verify_meta_signature("", body, sign(body, ""))


# --- Parsing: one case per message type --------------------------------------------------------


def only(case: str) -> InboundMessage:
    messages = parse_meta(load_meta(case))
    assert len(messages) == 1
    message = messages[0]
    assert message.channel == "meta"
    assert message.contact == CONTACT
    assert message.profile_name == "Ana García"
    assert message.timestamp == WHEN
    assert message.message_id.startswith("wamid.")
    assert message.raw == load_meta(case)["entry"][0]["changes"][0]["value"]["messages"][0]
    assert InboundMessage.from_json(message.to_json()) == message
    return message


def test_text() -> None:
    message = only("text")
    assert (message.kind, message.text) == ("text", "Hola! Quiero saber precios del plan Pro")
    assert message.media == () and message.reply_to is None and message.payload is None


@pytest.mark.parametrize(
    ("wa_id", "contact"),
    [("5215512345678", "+525512345678"), ("5491123456789", "+5491123456789")],
    ids=["mexico", "argentina"],
)
def test_wa_id_forms_give_the_canonical_contact_and_keep_the_wa_id_for_replies(
    wa_id: str, contact: str
) -> None:
    # A Mexican mobile's 521... form used to be refused as an impossible number.
    payload = load_meta("text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = wa_id
    (message,) = parse_meta(payload)
    assert (message.contact, message.address, message.recipient) == (contact, wa_id, wa_id)
    assert message.thread_id == f"meta:{contact}"
    assert message.profile_name == "Ana García"
    assert InboundMessage.from_json(message.to_json()) == message


def test_text_replying_to_a_message() -> None:
    message = only("text_reply")
    assert message.reply_to == "wamid.HBgNNTQ5MTEyMzQ1Njc4ORUCABEYEjQ0QkQ2RDYzRTQ4MEQzNjI4MgA="


@pytest.mark.parametrize(
    ("case", "kind", "text", "media"),
    [
        ("image", "image", "Este es el modelo que tengo",
         MediaRef(id="1003383421387256", mime_type="image/jpeg")),
        ("video", "video", None, MediaRef(id="1157249858882497", mime_type="video/mp4")),
        ("audio_voice", "audio", None,
         MediaRef(id="1227829768162607", mime_type="audio/ogg; codecs=opus", voice=True)),
        ("audio_file", "audio", None, MediaRef(id="1385423549095516", mime_type="audio/mpeg")),
        ("document", "document", "Presupuesto actual",
         MediaRef(id="1466587070798823", mime_type="application/pdf",
                  filename="presupuesto-2024.pdf")),
        ("sticker", "sticker", None, MediaRef(id="1524718434785419", mime_type="image/webp")),
    ],
)
def test_media(case: str, kind: str, text: str | None, media: MediaRef) -> None:
    message = only(case)
    assert (message.kind, message.text, message.media) == (kind, text, (media,))


def test_location() -> None:
    message = only("location")
    assert message.kind == "location"
    assert message.location == Location(
        latitude=-34.603722, longitude=-58.381592, name="Oficina Centro",
        address="Av. Corrientes 1234, Buenos Aires",
    )


def test_contacts_become_text() -> None:
    message = only("contacts")
    assert message.kind == "contacts"
    assert message.text == "Carlos Pérez: +54 9 11 5555-1234, carlos@acme.example (Acme SA)"


@pytest.mark.parametrize(
    ("case", "text", "payload"),
    [
        ("interactive_button_reply", "Martes 10:00", "slot_2024-06-11T10:00"),
        ("interactive_list_reply", "USD 10k - 50k", "budget_10k_50k"),
    ],
)
def test_interactive_replies(case: str, text: str, payload: str) -> None:
    message = only(case)
    assert (message.kind, message.text, message.payload) == ("interactive", text, payload)
    assert message.reply_to is not None


def test_template_quick_reply_button() -> None:
    message = only("button")
    assert (message.kind, message.text) == ("button", "Agendar llamada")
    assert message.payload == "BOOK_CALL"
    assert message.reply_to == "wamid.HBgNNTQ5MTEyMzQ1Njc4ORUCABEYEkJGNjE0QzdGNDk0RkQ2QTJGRQA="


def test_reaction() -> None:
    message = only("reaction")
    assert (message.kind, message.text) == ("reaction", "\N{THUMBS UP SIGN}")
    assert message.reply_to == "wamid.HBgNNTQ5MTEyMzQ1Njc4ORUCABEYEjQ0QkQ2RDYzRTQ4MEQzNjI4MgA="


def test_removed_reaction_has_no_text() -> None:
    message = only("reaction_removed")
    assert (message.kind, message.text) == ("reaction", None)


@pytest.mark.parametrize("case", ["unsupported", "unknown_type"])
def test_unsupported_and_unknown_types(case: str) -> None:
    message = only(case)
    assert (message.kind, message.text, message.media) == ("unsupported", None, ())


@pytest.mark.parametrize("case", ["status_only", "template_status_update"])
def test_deliveries_without_messages_give_nothing(case: str) -> None:
    assert parse_meta(load_meta(case)) == []


def test_every_entry_and_change_of_one_delivery() -> None:
    messages = parse_meta(load_meta("multi_entry"))
    assert [(m.message_id, m.contact, m.profile_name, m.kind) for m in messages] == [
        ("wamid.A1", "+5491123456789", "Ana García", "text"),
        ("wamid.B1", "+16505551234", "John Smith", "text"),
        ("wamid.A2", "+5491123456789", "Ana García", "text"),
        ("wamid.C1", "+34612345678", "Lucía", "audio"),
    ]
    assert [m.thread_id for m in messages][1] == "meta:+16505551234"


def test_unknown_keys_never_break_parsing() -> None:
    message = only("unknown_keys")
    assert (message.kind, message.text) == ("text", "hola")


def test_type_object_of_an_unexpected_shape_reads_as_empty() -> None:
    payload = load_meta("image")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["image"] = "not an object"
    (message,) = parse_meta(payload)
    assert message.kind == "image" and message.text is None
    assert message.media == (MediaRef(),)


# --- Malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None, [], "entry", 42, {}, {"object": "whatsapp_business_account"},
        {"entry": {}}, {"entry": [1]}, {"entry": [{"changes": {}}]},
        {"entry": [{"changes": [{"field": "messages"}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": []}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": {}}}]}]},
    ],
)
def test_malformed_bodies_raise_the_malformed_error(payload: Any) -> None:
    with pytest.raises(PayloadMalformed):
        parse_meta(payload)


@pytest.mark.parametrize(
    "broken",
    [
        {"timestamp": "1718030400"},
        {"from": "5491123456789", "timestamp": "1718030400"},
        {"id": "wamid.X", "timestamp": "1718030400"},
        {"from": "5491123456789", "id": "wamid.X", "timestamp": "yesterday"},
        {"from": "5491123456789", "id": "wamid.X", "timestamp": "9" * 40},
        {"from": "not-a-number", "id": "wamid.X", "timestamp": "1718030400"},
        {"from": "12", "id": "wamid.X", "timestamp": "1718030400"},
        {"from_user_id": "AR.1234567890", "id": "wamid.X", "timestamp": "1718030400"},
        "not an object",
        None,
    ],
)
def test_an_unreadable_message_is_skipped_not_the_delivery(
    broken: Any, caplog: pytest.LogCaptureFixture
) -> None:
    payload = load_meta("multi_entry")
    payload["entry"][0]["changes"][0]["value"]["messages"].insert(1, broken)
    messages = parse_meta(payload)
    assert [m.message_id for m in messages] == ["wamid.A1", "wamid.B1", "wamid.A2", "wamid.C1"]
    assert "skipped" in caplog.text
    assert "5491123456789" not in caplog.text


_JUNK: list[Any] = [None, 0, -1, 1.5, True, "", "x", "9" * 30, [], [None], {}, {"a": 1}, [[[]]]]


def _mutate(node: Any, rng: random.Random) -> Any:
    """Replace one random subtree of a JSON document with junk (hypothesis-style, by hand)."""
    if isinstance(node, dict) and node and rng.random() < 0.8:
        key = rng.choice(sorted(node))
        if rng.random() < 0.2:
            del node[key]
        else:
            node[key] = _mutate(node[key], rng)
        return node
    if isinstance(node, list) and node and rng.random() < 0.8:
        index = rng.randrange(len(node))
        node[index] = _mutate(node[index], rng)
        return node
    return copy.deepcopy(rng.choice(_JUNK))


@pytest.mark.parametrize("case", sorted(p.stem for p in (DATA / "meta").glob("*.json")))
def test_random_corruptions_parse_or_raise_only_the_malformed_error(case: str) -> None:
    rng = random.Random(f"meta-{case}")
    for _ in range(200):
        payload = _mutate(load_meta(case), rng)
        try:
            messages = parse_meta(payload)
        except PayloadMalformed:
            continue
        for message in messages:  # whatever parses is a whole, serializable message
            assert message.contact.startswith("+")
            assert InboundMessage.from_json(message.to_json()) == message


def test_a_timestamp_beyond_the_platform_range_skips_the_message_not_the_delivery() -> None:
    # datetime.fromtimestamp raises OSError (EOVERFLOW) for this one: it was a 500.
    payload = load_meta("multi_entry")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(10**18)
    messages = parse_meta(payload)
    assert [m.message_id for m in messages] == ["wamid.B1", "wamid.A2", "wamid.C1"]


def test_nul_characters_are_dropped_from_text() -> None:
    # Postgres refuses NUL in text and jsonb: kept, it failed the contact's burst on every retry.
    payload = load_meta("text")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = "Hola\x00 precios\x00"
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Ana\x00"
    [parsed] = parse_meta(payload)
    assert parsed.text == "Hola precios"
    assert parsed.profile_name == "Ana"
