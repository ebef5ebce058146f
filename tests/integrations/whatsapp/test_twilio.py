"""Twilio WhatsApp webhooks: signature (as `RequestValidator` computes it) and form parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from integrations.whatsapp.errors import PayloadMalformed
from integrations.whatsapp.twilio import (
    SIGNATURE_HEADER,
    is_status_callback,
    parse_twilio,
    signed_url,
    verify_twilio_signature,
)
from integrations.whatsapp.types import InboundMessage, Location, MediaRef
from tests.integrations.whatsapp.conftest import DATA, load_twilio

AUTH_TOKEN = "twilio-test-auth-token"
PUBLIC_URL = "https://bot.example.com/webhooks/twilio"
RECEIVED = datetime(2024, 6, 10, 14, 40, tzinfo=UTC)


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """`X-Twilio-Signature` the way Twilio computes it."""
    signature: str = RequestValidator(token).compute_signature(url, form)
    return signature


# --- Signature ---------------------------------------------------------------------------------


def test_signature_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Twilio-Signature"


def test_valid_signature() -> None:
    form = load_twilio("text")
    assert verify_twilio_signature(AUTH_TOKEN, PUBLIC_URL, form, sign(PUBLIC_URL, form))


@pytest.mark.parametrize("signature", [None, "", "not-base64!", "AAAA", "é"])
def test_missing_or_forged_signature(signature: str | None) -> None:
    form = load_twilio("text")
    assert not verify_twilio_signature(AUTH_TOKEN, PUBLIC_URL, form, signature)


def test_signature_with_another_token_or_no_token_is_refused() -> None:
    form = load_twilio("text")
    assert not verify_twilio_signature(AUTH_TOKEN, PUBLIC_URL, form, sign(PUBLIC_URL, form, "x"))
    assert not verify_twilio_signature("", PUBLIC_URL, form, sign(PUBLIC_URL, form, ""))


def test_signature_of_altered_parameters_is_refused() -> None:
    """A stale signature from an earlier request does not cover changed or added parameters."""
    form = load_twilio("text")
    signature = sign(PUBLIC_URL, form)
    assert not verify_twilio_signature(AUTH_TOKEN, PUBLIC_URL, {**form, "Body": "Hi"}, signature)
    assert not verify_twilio_signature(AUTH_TOKEN, PUBLIC_URL, {**form, "X": "1"}, signature)
    assert not verify_twilio_signature(
        AUTH_TOKEN, PUBLIC_URL + "?x=1", form, signature
    )


def test_signature_is_over_the_public_url_not_the_proxied_host() -> None:
    """Behind a proxy the app sees its own host; Twilio signed PUBLIC_BASE_URL's."""
    form = load_twilio("media")
    signature = sign(PUBLIC_URL, form)
    seen_by_app = "http://10.0.0.7:8000/webhooks/twilio"
    assert not verify_twilio_signature(AUTH_TOKEN, seen_by_app, form, signature)
    url = signed_url(seen_by_app, "https://bot.example.com")
    assert url == PUBLIC_URL
    assert verify_twilio_signature(AUTH_TOKEN, url, form, signature)


@pytest.mark.parametrize(
    ("request_url", "public_base", "expected"),
    [
        ("http://127.0.0.1:8000/webhooks/twilio", None, "http://127.0.0.1:8000/webhooks/twilio"),
        ("http://app:8000/webhooks/twilio?a=1&b=2", "https://bot.example.com/",
         "https://bot.example.com/webhooks/twilio?a=1&b=2"),
        ("http://app/webhooks/twilio", "https://example.com/bot",
         "https://example.com/bot/webhooks/twilio"),
        ("http://app/bot/webhooks/twilio", "https://example.com/bot/",
         "https://example.com/bot/webhooks/twilio"),
        ("http://app/webhooks/twilio", "https://example.com:8443",
         "https://example.com:8443/webhooks/twilio"),
    ],
)
def test_signed_url(request_url: str, public_base: str | None, expected: str) -> None:
    assert signed_url(request_url, public_base) == expected


# --- Parsing -----------------------------------------------------------------------------------


def parse(case: str) -> InboundMessage:
    form = load_twilio(case)
    (message,) = parse_twilio(form, received_at=RECEIVED)
    assert message.channel == "twilio"
    assert message.contact == "+5491123456789"
    assert message.message_id == form["MessageSid"]
    assert message.profile_name == "Ana García"
    assert message.timestamp == RECEIVED
    assert message.raw == form
    assert InboundMessage.from_json(message.to_json()) == message
    return message


def test_text() -> None:
    message = parse("text")
    assert (message.kind, message.text) == ("text", "Hola! Quiero saber precios del plan Pro")
    assert (message.media, message.location, message.reply_to) == ((), None, None)


@pytest.mark.parametrize(
    ("sender", "contact", "address"),
    [
        ("+5215512345678", "+525512345678", "+5215512345678"),
        ("+525512345678", "+525512345678", None),
        ("+5491123456789", "+5491123456789", None),
    ],
)
def test_whatsapp_forms_give_the_canonical_contact_and_keep_the_sender_for_replies(
    sender: str, contact: str, address: str | None
) -> None:
    form = load_twilio("text") | {"From": f"whatsapp:{sender}", "WaId": sender.lstrip("+")}
    (message,) = parse_twilio(form, received_at=RECEIVED)
    assert (message.contact, message.address, message.recipient) == (contact, address, sender)


def test_reply_to_an_earlier_message() -> None:
    message = parse("reply")
    assert message.reply_to == "SM000000000000000000000000000000b1"


def test_media() -> None:
    form = load_twilio("media")
    message = parse("media")
    assert (message.kind, message.text) == ("image", "Fotos del local")
    assert message.media == (
        MediaRef(url=form["MediaUrl0"], mime_type="image/jpeg"),
        MediaRef(url=form["MediaUrl1"], mime_type="image/png"),
    )


def test_audio_without_body() -> None:
    message = parse("audio")
    assert (message.kind, message.text) == ("audio", None)
    assert message.media[0].mime_type == "audio/ogg"


def test_kind_from_the_media_type_when_message_type_is_absent() -> None:
    message = parse("document_no_type")
    assert message.kind == "document"


def test_button() -> None:
    message = parse("button")
    assert (message.kind, message.text) == ("button", "Agendar llamada")
    assert message.payload == "BOOK_CALL"
    assert message.reply_to == "SM000000000000000000000000000000b2"


def test_location() -> None:
    message = parse("location")
    assert message.kind == "location"
    assert message.location == Location(
        latitude=-34.603722, longitude=-58.381592, name="Oficina Centro",
        address="Av. Corrientes 1234, Buenos Aires",
    )


@pytest.mark.parametrize("case", ["status_callback", "status_callback_failed"])
def test_status_callbacks_give_nothing(case: str) -> None:
    form = load_twilio(case)
    assert is_status_callback(form)
    assert parse_twilio(form) == []


def test_timestamp_defaults_to_now() -> None:
    (message,) = parse_twilio(load_twilio("text"))
    assert message.timestamp.tzinfo is not None
    assert abs((datetime.now(UTC) - message.timestamp).total_seconds()) < 3600


def test_unknown_fields_are_ignored_and_kept_raw() -> None:
    form = {**load_twilio("text"), "SomethingNew": "1", "Forwarded": "true"}
    (message,) = parse_twilio(form)
    assert message.text == "Hola! Quiero saber precios del plan Pro"
    assert message.raw["SomethingNew"] == "1"


def test_plain_sms_sender_is_accepted() -> None:
    form = {**load_twilio("text"), "From": "+5491123456789"}
    (message,) = parse_twilio(form)
    assert message.contact == "+5491123456789"


# --- Malformed forms ---------------------------------------------------------------------------


def _without(case: str, *keys: str) -> dict[str, str]:
    return {k: v for k, v in load_twilio(case).items() if k not in keys}


@pytest.mark.parametrize(
    "form",
    [
        None, [], "Body=hi", 42,
        {},
        _without("text", "From"),
        _without("text", "MessageSid"),
        {**load_twilio("text"), "From": "whatsapp:not-a-number"},
        {**load_twilio("text"), "From": "whatsapp:+12"},
        {**load_twilio("text"), "NumMedia": "two"},
        {**load_twilio("text"), "NumMedia": "-1"},
        {**load_twilio("text"), "NumMedia": "11"},
        _without("media", "MediaUrl1"),
        {**load_twilio("media"), "MediaUrl0": "javascript:alert(1)"},
        {**load_twilio("location"), "Latitude": "north"},
        {**load_twilio("location"), "Latitude": "123"},
        _without("location", "Longitude"),
        {**load_twilio("text"), "Body": 5},
    ],
)
def test_malformed_forms_raise_the_malformed_error(form: Any) -> None:
    with pytest.raises(PayloadMalformed):
        parse_twilio(form)


_JUNK = ["", " ", "0", "-1", "1e400", "nan", "whatsapp:", "+", "é" * 3, "9" * 40, "\x00"]


@pytest.mark.parametrize("case", sorted(p.stem for p in (DATA / "twilio").glob("*.json")))
def test_random_corruptions_parse_or_raise_only_the_malformed_error(case: str) -> None:
    rng = random.Random(f"twilio-{case}")
    keys = [*load_twilio(case), "NumMedia", "Latitude", "Longitude", "MediaUrl0", "MessageStatus"]
    for _ in range(300):
        form = load_twilio(case)
        for key in rng.sample(keys, k=rng.randint(1, 3)):
            if rng.random() < 0.25:
                form.pop(key, None)
            else:
                form[key] = rng.choice(_JUNK)
        try:
            messages = parse_twilio(form)
        except PayloadMalformed:
            continue
        for message in messages:
            assert message.contact.startswith("+")
            assert InboundMessage.from_json(message.to_json()) == message


def test_nul_characters_are_dropped_from_fields() -> None:
    # Postgres refuses NUL in text: kept, it failed the contact's burst on every retry.
    form = {**load_twilio("text"), "Body": "Hola\x00 precios\x00", "ProfileName": "Ana\x00"}
    [message] = parse_twilio(form, received_at=RECEIVED)
    assert (message.text, message.profile_name) == ("Hola precios", "Ana")
