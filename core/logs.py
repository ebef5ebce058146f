"""Logging set-up and the masking every log line with a contact in it goes through."""

from __future__ import annotations

import logging

__all__ = ["configure_logging", "mask_phone"]


def configure_logging(level: str = "INFO") -> None:
    """One line per record, with time, level and logger name."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # httpx logs every request URL at INFO and httpcore the headers at DEBUG; media URLs and
    # redirects carry tokens and signatures: keep both quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def mask_phone(number: str | None) -> str:
    """`+5491123456789` -> `+549******789`: enough to tell contacts apart, not to call them.

    Accepts thread ids too (`twilio:+5491123456789` keeps its channel prefix)."""
    if not number:
        return "?"
    prefix, sep, rest = number.rpartition(":")
    digits = rest
    if len(digits) <= 6:
        masked = "*" * len(digits)
    else:
        masked = digits[:4] + "*" * (len(digits) - 7) + digits[-3:]
    return f"{prefix}{sep}{masked}"
