"""Approved template messages: the only thing WhatsApp delivers outside the 24-hour window.

Since a lead's last message, a business has 24 hours to write freely (the customer service
window); after that only a template WhatsApp approved beforehand reaches them. The deployment
names its templates in the settings, one per purpose, each optionally per language:

    TEMPLATE_REMINDER=call_reminder                       # Meta: the template's name
    TEMPLATE_FOLLOWUP=en=HX0123...,es=HX4567...           # Twilio: a Content SID per language

`core.config` reads them. A bare value serves every language; `language=value` pairs name one
per language (a bare value among them serves the rest). On Meta the value is the template's name
and the language code sent with it comes from `TEMPLATE_LANGUAGES` (`es=es_MX` when the template
was approved as es_MX); on Twilio it is the approved content's SID (`HX` and 32 hex digits),
whose language is its own. A value of the wrong kind for a channel (a name on Twilio, a SID on
Meta) is not used there.

What each template's variables hold is fixed here (`VARIABLES`), in one place, so the README's
list of templates to get approved and the code never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CONTENT_SID",
    "VARIABLES",
    "Purpose",
    "TemplateBook",
    "TemplateMessage",
]

Purpose = Literal["reminder", "followup", "reply"]
"""Why a template is sent: a booked call's reminder, a follow-up to a quiet lead, or a reply the
provider refused because the window had closed."""

CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
"""A Twilio Content SID."""

VARIABLES: dict[Purpose, tuple[str, ...]] = {
    "reminder": ("when",),
    "followup": ("business",),
    "reply": ("business",),
}
"""The variables of each purpose's template, in order ({{1}}, {{2}}...): `when` is the call's
day and time in the lead's zone and language ("Mon 7 Jan, 08:00 (America/New_York)"),
`business` the company's name from the business profile."""

DEFAULT_LANGUAGE_CODES: dict[str, str] = {
    "en": "en", "es": "es", "pt": "pt_BR", "fr": "fr", "de": "de", "it": "it",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateMessage:
    """One template message, ready for a channel client."""

    purpose: Purpose
    ref: str
    """Meta: the template's name. Twilio: its Content SID."""
    language: str
    """The template's language code (Meta's; Twilio's content carries its own)."""
    variables: tuple[str, ...]
    """The values of {{1}}, {{2}}..., in order."""


class TemplateBook:
    """The deployment's templates by purpose and language (see the module docstring)."""

    def __init__(
        self,
        refs: Mapping[Purpose, Mapping[str, str]],
        *,
        business: str,
        language_codes: Mapping[str, str] | None = None,
    ) -> None:
        self._refs = {purpose: dict(entries) for purpose, entries in refs.items() if entries}
        self._codes = dict(DEFAULT_LANGUAGE_CODES if language_codes is None else language_codes)
        self._business = business

    def message(
        self, purpose: Purpose, language: str | None, channel: str, *, when: str | None = None
    ) -> TemplateMessage | None:
        """The template for `purpose` in `language` that `channel` can send, with its variables
        filled in; None when none is configured for it."""
        entries = self._refs.get(purpose, {})
        lang = (language or "en")[:2].lower()
        ref = entries.get(lang) or entries.get("*")
        if ref is None or bool(CONTENT_SID.match(ref)) != (channel == "twilio"):
            return None
        values = {"business": self._business, "when": when}
        variables = []
        for name in VARIABLES[purpose]:
            value = values[name]
            if not value:
                raise ValueError(f"the {purpose} template needs its {name!r} variable")
            variables.append(value)
        code = self._codes.get(lang) or self._codes.get("en") or lang
        return TemplateMessage(purpose=purpose, ref=ref, language=code, variables=tuple(variables))
