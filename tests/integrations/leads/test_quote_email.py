"""Building the manager's email (pure), the mailers, and the outbox's backoff rule."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from domain.booking import Attendee
from domain.lead import LeadProfile
from integrations.calendar.ics import invitation_attachment
from integrations.mail import (
    FileMailer,
    MailRejected,
    MailUnavailable,
    QuoteRequest,
    SmtpMailer,
    build_quote_request,
    header_text,
    mailer_from_settings,
    wa_me_link,
)
from integrations.outbox import exponential_backoff, stable_message_id
from tests.integrations.leads.conftest import (
    MAIL_FROM,
    MANAGER,
    NUMBER,
    booking,
    free_port,
    handoff_event,
    parts,
)


def request(**changes: Any) -> QuoteRequest:
    return replace(QuoteRequest.from_event(handoff_event("booked"), lead_id=7), **changes)


def build(req: QuoteRequest, **options: Any) -> EmailMessage:
    return build_quote_request(req, to=MANAGER, mail_from=MAIL_FROM, **options)


def test_header_text_and_wa_me_link() -> None:
    assert header_text("Bob\r\nBcc: evil@x.com") == "Bob Bcc: evil@x.com"
    assert header_text("a\x00b\u2028c\u0085d\te") == "a b c d e"
    assert header_text("x" * 300, limit=10) == "x" * 10
    assert header_text(None) == ""
    assert wa_me_link("+34 600-111-222") == "https://wa.me/34600111222"


def test_the_payload_round_trips_through_json() -> None:
    req = request(attachments=(("invite.ics", "text/calendar", b"BEGIN:VCALENDAR"),))
    assert QuoteRequest.from_json(req.to_json()) == req


def test_subject_without_company_or_name() -> None:
    lead = LeadProfile()
    assert build(request(profile=lead))["Subject"] == "Quote request: Ana WA"
    assert build(request(profile=lead, profile_name=None))["Subject"] == f"Quote request: {NUMBER}"


def test_reply_to_only_when_the_email_is_known() -> None:
    assert "Reply-To" not in build(request(profile=LeadProfile(name="Ana")))
    assert str(build(request())["Reply-To"]) == "Ana Pérez <ana@acme.example>"


def test_the_same_row_builds_the_same_bytes() -> None:
    message_id = stable_message_id(7, "handoff:3", MAIL_FROM)
    assert message_id.endswith("@sales.example>")
    first, second = build(request(), message_id=message_id), build(request(), message_id=message_id)
    assert first.as_bytes() == second.as_bytes()
    assert first["Message-ID"] == message_id


def test_unknown_items_say_so_and_html_escapes_everything() -> None:
    req = request(
        profile=LeadProfile(name="<b>Eve</b>", company="A&B"),
        summary='"quoted" <i>summary</i>',
        booking=replace(booking(), link="javascript:alert(1)"),
    )
    plain, html = parts(build(req))
    assert "Budget: (unknown)" in plain
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html and "A&amp;B" in html
    assert "&lt;i&gt;summary&lt;/i&gt;" in html and "<i>" not in html
    assert "javascript:" not in html and "javascript:" not in plain


def test_attachments_such_as_the_calendar_invitation() -> None:
    attendee = Attendee(name="Ana", email="ana@acme.example", phone=NUMBER)
    ics = invitation_attachment(booking(), attendee, MAIL_FROM, "Call with Ana", "CRM")
    message = build(request(), attachments=[ics])
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    attached = list(parsed.iter_attachments())
    assert [a.get_filename() for a in attached] == ["invite.ics"]
    assert attached[0].get_content_type() == "text/calendar"
    assert attached[0].get_param("method") == "REQUEST"
    assert b"BEGIN:VCALENDAR" in attached[0].get_payload(decode=True)
    assert parts(parsed)[0].startswith("Quote request from WhatsApp")


async def test_file_mailer_writes_a_parseable_eml_once_per_message(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "mail")
    message = build(request(), message_id=stable_message_id(1, "handoff:1", MAIL_FROM))
    await mailer.send(message)
    await mailer.send(message)  # a resend of the same row
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 1
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Quote request: Ana Pérez (Acme SL)"
    assert parsed["To"] == MANAGER
    assert isinstance(parsed, EmailMessage)
    assert "https://wa.me/34600111222" in parts(parsed)[1]


def test_mailer_from_settings(make_settings: Any) -> None:
    settings = make_settings()
    mailer = mailer_from_settings(settings)
    assert isinstance(mailer, FileMailer)
    assert mailer.directory == Path(settings.DATA_DIR) / "mail"
    smtp = mailer_from_settings(make_settings(SMTP_HOST="smtp.example", SMTP_PORT=2525))
    assert isinstance(smtp, SmtpMailer) and (smtp.host, smtp.port) == ("smtp.example", 2525)


class RefusingHandler:
    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        return "550 No such user here"


async def test_smtp_errors_map_to_mail_errors() -> None:
    controller = Controller(RefusingHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with pytest.raises(MailRejected):
            await SmtpMailer("127.0.0.1", controller.port, starttls=False).send(build(request()))
    finally:
        controller.stop()
    with pytest.raises(MailUnavailable):  # nothing listens there any more
        await SmtpMailer("127.0.0.1", controller.port, starttls=False).send(build(request()))
    with pytest.raises(ValueError, match="exclude"):
        SmtpMailer("127.0.0.1", 25, starttls=True, tls=True)


def test_exponential_backoff_is_capped() -> None:
    assert [exponential_backoff(n) for n in (1, 2, 3, 4)] == [5.0, 10.0, 20.0, 40.0]
    assert exponential_backoff(8) == 600.0
    assert exponential_backoff(10_000) == 600.0
    assert exponential_backoff(3, base=1, cap=3) == 3.0


def test_every_lead_field_of_the_plain_text_is_one_line() -> None:
    # CR/LF in a lead's name or company printed fake field lines ("Bcc: ...") in the email.
    event = handoff_event("booked")
    profile = event.profile.model_copy(
        update={"name": "Bob\r\nBcc: evil@x.com", "company": "Acme\nEmail: fake@x.com\u2028Ltd"}
    )
    req = request(profile=profile, profile_name="Bob\rTo: x")
    plain, _ = parts(build(req))
    lines = plain.splitlines()
    assert "Name: Bob Bcc: evil@x.com" in lines
    assert "Company: Acme Email: fake@x.com Ltd" in lines
    assert not any(line.startswith(("Bcc:", "Email: fake", "To:")) for line in lines)


def test_a_budget_amount_is_bounded_and_the_words_are_kept() -> None:
    # A model's 1e308 was stored and printed as a 309-digit number.
    from langchain_core.messages import HumanMessage

    from agents.extraction import LeadMessages, merge_profile
    from agents.output import LeadFields

    with pytest.raises(ValueError):
        LeadProfile.model_validate({"budget": {"words": "a lot", "amount": 1e308}})
    said = "budget 999999999999999 USD"
    values = dict.fromkeys(LeadFields.model_fields) | {"budget": said}
    fields = LeadFields.model_validate(values | {"budget_amount": 1e15})
    messages = LeadMessages.of([HumanMessage(said, id="m1")], ())
    profile = merge_profile(LeadProfile(), fields, messages=messages, today=date(2030, 1, 7))
    assert profile.budget is not None and profile.budget.amount is None
    assert profile.budget.words == said
