"""Email: building the manager's quote request (`quote.py`, pure) and sending it (`mailer.py`)."""

from integrations.mail.mailer import (
    FileMailer,
    Mailer,
    MailError,
    MailRejected,
    MailUnavailable,
    SmtpMailer,
    envelope_recipients,
    mailer_from_settings,
)
from integrations.mail.quote import (
    REASON_LABELS,
    Attachment,
    QuoteRequest,
    build_quote_request,
    header_text,
    wa_me_link,
)

__all__ = [
    "REASON_LABELS",
    "Attachment",
    "FileMailer",
    "MailError",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "QuoteRequest",
    "SmtpMailer",
    "build_quote_request",
    "envelope_recipients",
    "header_text",
    "mailer_from_settings",
    "wa_me_link",
]
