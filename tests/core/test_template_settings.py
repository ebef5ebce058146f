"""The settings of issue #17: approved templates by purpose (a name or per-language SIDs), the
language codes of Meta templates, follow-ups and quiet hours; a bad value stops start-up with one
line naming the variable."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from pydantic import ValidationError

from core.config import Settings, describe_validation_error

SID = "HX" + "0" * 32


def build(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_defaults() -> None:
    settings = build()
    assert settings.TEMPLATE_REMINDER == settings.TEMPLATE_FOLLOWUP == {}
    assert settings.TEMPLATE_LANGUAGES["pt"] == "pt_BR"
    assert (settings.FOLLOWUP_AFTER_HOURS, settings.FOLLOWUP_MAX) == (4.0, 2)
    assert settings.quiet_hours == (time(21), time(8))


def test_a_name_for_every_language_or_sids_per_language() -> None:
    settings = build(
        TEMPLATE_REMINDER="call_reminder", TEMPLATE_FOLLOWUP=f"en={SID}, ES={SID}",
        TEMPLATE_LANGUAGES="en=en_US,es=es_MX",
    )
    assert settings.TEMPLATE_REMINDER == {"*": "call_reminder"}
    assert settings.TEMPLATE_FOLLOWUP == {"en": SID, "es": SID}
    assert settings.TEMPLATE_LANGUAGES == {"en": "en_US", "es": "es_MX"}


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TEMPLATE_REPLY", "we replied", "is not a template name, Content SID or language code"),
        ("TEMPLATE_REPLY", "english=x", "is not a two-letter language code"),
        ("TEMPLATE_REPLY", "en=a,en=b", "'en' is given twice"),
        ("QUIET_HOURS", "21:00-21:00", "is not a range of the day such as 21:00-08:00"),
        ("FOLLOWUP_MAX", "-1", "greater than or equal to 0"),
    ],
)
def test_a_bad_value_names_its_setting(name: str, value: str, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        build(**{name: value})
    line = describe_validation_error(raised.value)
    assert line.startswith(f"invalid setting {name}: ") and problem in line
