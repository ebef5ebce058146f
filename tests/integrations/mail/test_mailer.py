"""The mailers' logging: never the lead's phone number or address."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from pathlib import Path

import pytest

from integrations.mail.mailer import FileMailer


async def test_file_mailer_logs_neither_subject_nor_recipient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A quote request's subject falls back on the lead's full number when it has no name.
    message = EmailMessage()
    message["From"] = "agent@sales.example"
    message["To"] = "lead@example.com"
    message["Subject"] = "Quote request: +5491123456789"
    message.set_content("hi")
    caplog.set_level(logging.INFO)
    await FileMailer(tmp_path / "mail").send(message)
    assert "written to" in caplog.text
    assert "5491123456789" not in caplog.text
    assert "lead@example.com" not in caplog.text
