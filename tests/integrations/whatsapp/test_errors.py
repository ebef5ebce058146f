"""The error tree and the provider error tables: every code maps where its docs say it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from integrations.whatsapp import errors
from integrations.whatsapp.errors import (
    META_ERRORS,
    TWILIO_ERRORS,
    ChannelAuthError,
    ChannelError,
    MessageInvalid,
    MessageRejected,
    PayloadMalformed,
    ProviderUnavailable,
    RateLimited,
    RecipientInvalid,
    SendFailed,
    SignatureInvalid,
    WebhookError,
    WindowClosed,
    meta_error,
    twilio_error,
)
from integrations.whatsapp.sender import parse_retry_after


def test_every_error_is_a_channel_error_with_a_docstring() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name[0].isupper()]
    classes = [cls for cls in classes if isinstance(cls, type)]
    assert len(classes) >= 13
    for cls in classes:
        assert issubclass(cls, ChannelError), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls


def test_tree() -> None:
    assert issubclass(SignatureInvalid, WebhookError)
    assert issubclass(PayloadMalformed, WebhookError)
    assert issubclass(WindowClosed, MessageRejected)
    assert issubclass(RecipientInvalid, MessageRejected)
    assert issubclass(MessageRejected, SendFailed)
    assert RateLimited.retryable and ProviderUnavailable.retryable
    assert not WindowClosed.retryable and not ChannelAuthError.retryable


def _meta_body(code: int, details: str = "details") -> dict[str, object]:
    return {"error": {"message": f"(#{code}) Something", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details},
                      "fbtrace_id": "AbC"}}


@pytest.mark.parametrize(
    ("code", "expected"),
    [(131047, WindowClosed), (131026, RecipientInvalid), (131030, RecipientInvalid),
     (190, ChannelAuthError), (130429, RateLimited), (131000, ProviderUnavailable),
     (100, MessageInvalid), (368, MessageRejected), (999999, MessageRejected)],
)
def test_meta_codes(code: int, expected: type[SendFailed]) -> None:
    error = meta_error(400, _meta_body(code))
    assert type(error) is expected
    assert (error.provider, error.status_code, error.code) == ("meta", 400, code)
    assert str(error).endswith(f"(meta error {code})")


def test_window_closed_says_what_to_do() -> None:
    error = meta_error(400, _meta_body(131047, "Message failed to send because more than 24 "
                                               "hours have passed since the customer last replied"))
    assert isinstance(error, WindowClosed)
    assert "template" in str(error)
    assert error.detail is not None and "24 hours" in error.detail


@pytest.mark.parametrize(
    ("code", "expected"),
    [(63016, WindowClosed), (21211, RecipientInvalid), (63003, RecipientInvalid),
     (20003, ChannelAuthError), (21617, MessageInvalid), (12345, MessageRejected)],
)
def test_twilio_codes(code: int, expected: type[SendFailed]) -> None:
    body = {"code": code, "message": "The 'To' number whatsapp:+5491123456789 is not valid.",
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": 400}
    error = twilio_error(400, body)
    assert type(error) is expected
    assert "5491123456789" not in (error.detail or "")  # provider text is redacted
    assert "5491123456789" not in str(error)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [(429, None, RateLimited), (503, None, ProviderUnavailable), (500, {"code": 21211},
     ProviderUnavailable), (401, "not json", ChannelAuthError), (404, [], MessageRejected),
     (429, {"code": 21211}, RateLimited)],
)
def test_http_status_without_known_code(status: int, body: object, expected: type) -> None:
    assert type(twilio_error(status, body)) is expected
    assert type(meta_error(status, body)) is expected


def test_meta_rate_limit_code_wins_on_any_status() -> None:
    error = meta_error(400, _meta_body(130429), retry_after=2.0)
    assert isinstance(error, RateLimited) and error.retry_after == 2.0


def test_tables_only_hold_send_errors() -> None:
    for table in (META_ERRORS, TWILIO_ERRORS):
        assert all(issubclass(cls, SendFailed) for cls in table.values())


def test_retry_after() -> None:
    now = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30
    assert parse_retry_after(earlier, now=now) == 0
    assert parse_retry_after("-3") == 0
    for junk in (None, "", "soon", "Mon, 99 Foo"):
        assert parse_retry_after(junk) is None
