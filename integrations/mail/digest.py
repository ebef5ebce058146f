"""The manager's short digest of a lead to nurture (it fits later): its data (`NurtureDigest`) and
how it is built (pure), like the quote request (`quote.py`), whose header hygiene it shares.

A lead that does not fit now gets no quote request; the manager still learns who they are, what
they want and why the bot did not book them, in a few lines, and can reach them with one click.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.message import EmailMessage

from domain.events import LeadUpdate
from domain.lead import LeadProfile, Qualification
from integrations.mail.quote import SUBJECT_MAX, header_text, wa_me_link

__all__ = ["NurtureDigest", "build_nurture_digest"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NurtureDigest:
    """What the digest says about one lead; stored as JSON in the outbox."""

    lead_id: int
    channel: str
    contact: str
    profile_name: str | None
    profile: LeadProfile
    qualification: Qualification
    summary: str

    @classmethod
    def from_update(cls, update: LeadUpdate, *, lead_id: int) -> NurtureDigest:
        assert update.qualification is not None, "a nurture lead has been scored"
        return cls(
            lead_id=lead_id, channel=update.channel, contact=update.contact,
            profile_name=update.profile_name, profile=update.profile,
            qualification=update.qualification, summary=update.summary,
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "lead_id": self.lead_id, "channel": self.channel, "contact": self.contact,
                "profile_name": self.profile_name,
                "profile": self.profile.model_dump(mode="json"),
                "qualification": self.qualification.model_dump(mode="json"),
                "summary": self.summary,
            },
            ensure_ascii=False, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> NurtureDigest:
        data = json.loads(text)
        return cls(
            lead_id=int(data["lead_id"]), channel=data["channel"], contact=data["contact"],
            profile_name=data.get("profile_name"),
            profile=LeadProfile.model_validate(data.get("profile") or {}),
            qualification=Qualification.model_validate(data["qualification"]),
            summary=data.get("summary") or "",
        )


def _line(label: str, words: str | None) -> str:
    return f"{label}: \"{header_text(words, limit=300)}\"" if words else f"{label}: (unknown)"


def build_nurture_digest(
    digest: NurtureDigest, *, to: str, mail_from: str, message_id: str | None = None
) -> EmailMessage:
    """The digest email (plain text): who, how to reach them, the score and why, their words."""
    profile = digest.profile
    name = header_text(profile.name) or header_text(digest.profile_name) or digest.contact
    company = header_text(profile.company)
    who = f"{name} ({company})" if company else name
    score = digest.qualification.score
    message = EmailMessage()
    message["Subject"] = header_text(f"To nurture: {who}, score {score}", limit=SUBJECT_MAX)
    message["From"] = mail_from
    message["To"] = to
    if message_id:
        message["Message-ID"] = message_id
    lines = [
        f"A lead to keep in touch with: they do not fit now (score {score}/100).",
        "",
        f"Lead: {who}",
        f"Chat on WhatsApp ({digest.channel}): {wa_me_link(digest.contact)}",
        "Why: " + "; ".join(header_text(reason) for reason in digest.qualification.reasons),
        "",
        _line("Need", profile.need.words if profile.need else None),
        _line("Budget", profile.budget.words if profile.budget else None),
        _line("Authority", profile.authority.words if profile.authority else None),
        _line("Timeline", profile.timeline.words if profile.timeline else None),
    ]
    if digest.summary:
        lines += ["", "Summary:", digest.summary]
    message.set_content("\n".join(lines) + "\n")
    # A fixed MIME boundary is not needed (one part); the Message-ID makes resends recognisable.
    message["X-Lead-Digest"] = hashlib.sha256(digest.to_json().encode()).hexdigest()[:16]
    return message
