"""Sending a built email: over SMTP (aiosmtplib), or into `.eml` files when SMTP is not configured.

    MailError                 an email could not be handed over
     +-- MailUnavailable      the server could not be reached, timed out or answered 4xx
     +-- MailRejected         the server refused the message or a recipient (5xx)

The outbox retries both (a rejection is usually a configuration error that someone will fix, and
giving up would lose the lead); the distinction is for logs and alerts. The envelope recipients
are the addresses of the `To` header only, never derived from anything the lead wrote.

`FileMailer` is the embedded default: `make run` without SMTP settings writes each email under
`DATA_DIR/mail` and logs the path, so the whole flow is visible locally. Its file name comes from
the Message-ID, so a resent outbox row overwrites its own file instead of adding a second one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Collection
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosmtplib

if TYPE_CHECKING:
    from core.config import Settings

__all__ = [
    "FileMailer",
    "MailError",
    "MailRejected",
    "MailUnavailable",
    "Mailer",
    "SmtpMailer",
    "envelope_recipients",
    "mailer_from_settings",
]

log = logging.getLogger(__name__)


class MailError(Exception):
    """An email could not be handed over; the outbox will try again."""


class MailUnavailable(MailError):
    """The mail server could not be reached or answered with a temporary error; retry later."""


class MailRejected(MailError):
    """The mail server refused the message or its recipient; check MAIL_FROM and MANAGER_EMAIL."""


class Mailer(Protocol):
    """Hands one built email over for delivery; raises `MailError` when it could not."""

    async def send(self, message: EmailMessage) -> None: ...


def envelope_recipients(message: EmailMessage) -> list[str]:
    """The addresses of the message's `To` header (the only recipients the project uses)."""
    return [address for _, address in getaddresses(message.get_all("To", [])) if address]


class SmtpMailer:
    """SMTP through aiosmtplib, with STARTTLS or implicit TLS as configured."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        tls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        if starttls and tls:
            raise ValueError("starttls and tls exclude each other; choose one")
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._tls = tls
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        recipients = envelope_recipients(message)
        if not recipients:
            raise MailRejected("The message has no To address; set MANAGER_EMAIL.")
        try:
            await aiosmtplib.send(
                message,
                recipients=recipients,
                hostname=self.host,
                port=self.port,
                username=self._username,
                password=self._password,
                use_tls=self._tls,
                # False, not None: without STARTTLS configured, never upgrade opportunistically.
                start_tls=self._starttls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPSenderRefused) as exc:
            raise MailRejected(f"{self.host}:{self.port} refused the message: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            error = MailRejected if 500 <= exc.code < 600 else MailUnavailable
            raise error(f"{self.host}:{self.port} answered {exc.code}: {exc.message}") from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise MailUnavailable(
                f"The mail server {self.host}:{self.port} could not be reached: {exc!r}"
            ) from exc


class FileMailer:
    """Writes each email as an `.eml` file into `directory` and logs its path."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path_for(self, message: EmailMessage) -> Path:
        return self.path_for_id(str(message.get("Message-ID") or message.as_string()))

    async def send(self, message: EmailMessage) -> None:
        path = self.path_for(message)
        try:
            await asyncio.to_thread(self._write, path, bytes(message))
        except OSError as exc:
            raise MailUnavailable(f"Could not write the email to {path}: {exc}") from exc
        # Not the subject or the recipient: a quote request's subject falls back on the lead's
        # full phone number, and the To of an invitation is the lead's address.
        log.info("email written to %s", path)

    def path_for_id(self, message_id: str) -> Path:
        """Where the email with this Message-ID is written (as `path_for` names it)."""
        digest = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        return self.directory / f"{digest}.eml"

    async def erase(self, message_ids: Collection[str]) -> int:
        """Delete the files of these emails (a data-deletion request); how many there were."""
        return await asyncio.to_thread(self._unlink, [self.path_for_id(i) for i in message_ids])

    @staticmethod
    def _unlink(paths: list[Path]) -> int:
        removed = 0
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(data)
        os.replace(partial, path)  # a reader never sees half a file


def mailer_from_settings(settings: Settings) -> Mailer:
    """SMTP when `SMTP_HOST` is set, else `.eml` files under `DATA_DIR/mail`."""
    if settings.SMTP_HOST:
        password = settings.SMTP_PASSWORD.get_secret_value() if settings.SMTP_PASSWORD else None
        return SmtpMailer(
            settings.SMTP_HOST,
            settings.SMTP_PORT,
            username=settings.SMTP_USERNAME,
            password=password,
            starttls=settings.SMTP_STARTTLS,
            tls=settings.SMTP_TLS,
        )
    return FileMailer(Path(settings.DATA_DIR) / "mail")
