from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings, SettingsError, describe_validation_error, get_settings

ROOT = Path(__file__).resolve().parents[2]


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(values)
    return env


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("REDIS_URL", "not-a-url", "invalid setting REDIS_URL: must be a URL"),
        ("DATABASE_URL", "mysql://x/y", "invalid setting DATABASE_URL: must be a URL"),
        ("BUFFER_QUIET_MS", "-5", "invalid setting BUFFER_QUIET_MS"),
        ("LLM_TIMEOUT_SECONDS", "-1", "invalid setting LLM_TIMEOUT_SECONDS"),
        ("HANDOFF_CONFIDENCE", "1.5", "invalid setting HANDOFF_CONFIDENCE"),
        ("TIMEZONE", "Mars/Olympus", "invalid setting TIMEZONE: unknown time zone"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(info.value).startswith(expected)
    assert len(str(info.value).splitlines()) == 1


def test_placeholder_secret_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "changethis")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "ADMIN_TOKEN" in str(info.value)
    assert "changethis" not in str(info.value)


def test_inconsistent_buffer_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="BUFFER_MAX_WAIT_MS must be at least BUFFER_QUIET_MS"):
        Settings(_env_file=None, BUFFER_QUIET_MS=5000, BUFFER_MAX_WAIT_MS=1000)  # type: ignore[call-arg]


def test_defaults_match_the_design() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.CONVERSATION_TTL_SECONDS == 86400
    assert settings.HANDOFF_CONFIDENCE == 0.7
    assert settings.HANDOFF_UNRESOLVED == 3
    assert settings.HISTORY_KEEP == 6
    assert settings.HUMAN_IDLE_HOURS == 24
    assert settings.BUFFER_QUIET_MS == 1500 and settings.BUFFER_MAX_WAIT_MS == 6000
    # the defaults the issues set: a short lease renewed while a turn runs, a deploy's grace
    assert settings.BURST_LEASE_SECONDS == 30 and settings.SHUTDOWN_GRACE_SECONDS == 20
    assert settings.APOLOGY_AFTER_SECONDS == 30
    assert settings.MAX_BODY_BYTES == 1024 * 1024 and settings.BUFFER_MAX_MESSAGES == 50
    assert settings.REPLY_MAX_CHARS == 700 and settings.LEAD_HOURS == "08:00-20:00"
    assert settings.FOLLOWUP_AFTER_HOURS == 4 and settings.FOLLOWUP_MAX == 2
    assert settings.MEDIA_VIDEO_FRAMES == 3 and settings.MEDIA_VIDEO_MAX_SECONDS == 180


def test_integrations_report_booleans_and_per_agent_models() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        OPENAI_API_KEY="sk-real-looking-key",  # type: ignore[arg-type]
        TWILIO_ACCOUNT_SID="AC123",
        TWILIO_AUTH_TOKEN="tok",  # type: ignore[arg-type]
        TWILIO_WHATSAPP_NUMBER="whatsapp:+14155238886",
        LLM_MODEL="base-model",
        LLM_MODEL_SCHEDULING="tool-model",
        BUSINESS_DAYS="Mon, Tue,wed",  # type: ignore[arg-type]
    )
    assert settings.integrations()["llm"] is True
    assert settings.integrations()["twilio"] is True
    assert settings.integrations()["meta"] is False
    assert all(isinstance(v, bool) for v in settings.integrations().values())
    assert settings.model_for("scheduling") == "tool-model"
    assert settings.model_for("greeting") == "base-model"
    assert settings.BUSINESS_DAYS == ["mon", "tue", "wed"]


def test_server_start_up_stops_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server"],
        cwd=ROOT,
        env=_env(REDIS_URL="nonsense", DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid setting REDIS_URL: must be a URL such as redis://host:6379/0 "
        "(scheme redis or rediss or unix)"
    ]


def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable of the settings in the process environment: only the file given counts."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_env_example_copied_to_env_is_valid_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    # `cp .env.example .env` used to stop start-up: BUSINESS_DAYS was read as JSON, and the
    # empty `PUBLIC_BASE_URL=` / `OPENAI_BASE_URL=` were not URLs.
    _clean_environ(monkeypatch)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.BUSINESS_DAYS == ["mon", "tue", "wed", "thu", "fri"]
    assert settings.PUBLIC_BASE_URL is None and settings.OPENAI_BASE_URL is None
    assert settings.REDIS_URL is None and settings.DATABASE_URL is None
    assert settings.model_dump() == defaults.model_dump()  # the file documents the defaults


def test_env_example_documents_every_setting() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert set(Settings.model_fields) - documented == set()


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_NUMBER"),
        (
            {"META_APP_SECRET": "app-secret"},
            "META_VERIFY_TOKEN, META_ACCESS_TOKEN, META_PHONE_NUMBER_ID",
        ),
        (
            {"META_APP_SECRET": "s3cret", "META_VERIFY_TOKEN": "v", "META_PHONE_NUMBER_ID": "1"},
            "META_ACCESS_TOKEN",
        ),
        ({"GOOGLE_CALENDAR_ID": "sales@example.com"}, "GOOGLE_SERVICE_ACCOUNT_FILE"),
        ({"SMTP_USERNAME": "bot"}, "SMTP_PASSWORD"),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"}, "OPENAI_API_KEY"),
        ({"LANGSMITH_TRACING": "true"}, "LANGSMITH_API_KEY"),
    ],
)
def test_a_provider_configured_in_part_stops_start_up_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], missing: str
) -> None:
    _clean_environ(monkeypatch)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert f"set {missing}" in message
    assert "app-secret" not in message  # names, never values


def test_a_provider_configured_in_full_or_not_at_all_is_fine() -> None:
    full = Settings(  # type: ignore[call-arg]
        _env_file=None,
        META_APP_SECRET="app-secret",  # type: ignore[arg-type]
        META_VERIFY_TOKEN="verify",  # type: ignore[arg-type]
        META_ACCESS_TOKEN="token",  # type: ignore[arg-type]
        META_PHONE_NUMBER_ID="123",
        SMTP_HOST="127.0.0.1",  # a relay without a login is a whole configuration
    )
    assert full.meta_configured and full.smtp_configured
    assert not Settings(_env_file=None).meta_configured  # type: ignore[call-arg]


def test_crm_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook needs its secret; URLs are a comma list; stage overrides are status=stage."""
    monkeypatch.setenv("CRM_WEBHOOK_URLS", "https://crm.example/hooks?key=k3y, https://b.example")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError, match="set CRM_WEBHOOK_SECRET") as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "k3y" not in str(info.value)
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "whsec-0123456789abcdef")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-0123")
    monkeypatch.setenv("HUBSPOT_DEAL_STAGES", "booked=appointmentscheduled, won=closedwon")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert [str(url) for url in settings.CRM_WEBHOOK_URLS or []] == [
        "https://crm.example/hooks?key=k3y", "https://b.example/",
    ]
    assert settings.HUBSPOT_DEAL_STAGES == {"booked": "appointmentscheduled", "won": "closedwon"}
    assert settings.integrations()["crm_webhooks"] is True
    assert settings.integrations()["hubspot"] is True
    monkeypatch.setenv("HUBSPOT_DEAL_STAGES", "booked")
    with pytest.raises(ValueError, match="HUBSPOT_DEAL_STAGES"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("changeme", "placeholder"), ("too-short-for-a-cookie-key", "at least 32 characters")],
)
def test_a_weak_session_secret_is_refused_without_echoing_it(value: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, SESSION_SECRET=value)  # type: ignore[call-arg, arg-type]
    message = describe_validation_error(caught.value)
    assert message.startswith("invalid setting SESSION_SECRET:") and problem in message
    assert value not in message
    strong = Settings(_env_file=None, SESSION_SECRET="s" * 32)  # type: ignore[call-arg, arg-type]
    assert strong.SESSION_SECRET
