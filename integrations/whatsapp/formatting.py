"""Text in WhatsApp's shapes: Markdown to WhatsApp markup, splitting at the providers' limits, and
phone numbers in E.164.

All functions here are pure. WhatsApp has its own light markup (`*bold*`, `_italic_`, `~strike~`,
```` ``` ```` monospace, `` `code` ``, `- ` lists, `> ` quotes) and no headings, links or tables, so
those are flattened. Splitting prefers the boundaries a reader expects (paragraph, then line, then
sentence, then word) and only hard-splits a single word longer than the limit; text is never lost
or reordered, only the whitespace at a cut point is dropped.
"""

from __future__ import annotations

import re

import phonenumbers

from integrations.whatsapp.errors import PayloadMalformed

__all__ = [
    "META_TEXT_LIMIT",
    "TWILIO_TEXT_LIMIT",
    "reply_address",
    "split_message",
    "to_e164",
    "to_whatsapp",
]

TWILIO_TEXT_LIMIT = 1600
"""Characters in one Twilio message body."""
META_TEXT_LIMIT = 4096
"""Characters in one Cloud API text message body."""

# Private-use characters stand in for bold markers while italics are converted, and for code
# spans while everything else is, so that no rule rewrites another rule's output.
_BOLD = "\ue000"
_CODE = "\ue001"

_FENCE = re.compile(r"^[ \t]*```[^\n`]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_RULE = re.compile(r"^[ \t]{0,3}([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+", re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)(?:[ \t]+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)(?:[ \t]+\"[^\"]*\")?\)")
_BOLD_ITALIC = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_BOLD_STARS = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_BOLD_UNDERSCORES = re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!~|>])")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_BLANK_LINES = re.compile(r"\n{3,}")


def to_whatsapp(markdown: str) -> str:
    """Convert the Markdown a model writes into WhatsApp formatting."""
    codes: list[str] = []

    def keep(text: str) -> str:
        codes.append(text)
        return f"{_CODE}{len(codes) - 1}{_CODE}"

    # Code and escapes first: nothing inside a fence or a code span is touched. The fence's
    # language tag is dropped because WhatsApp would show it as text.
    text = markdown.replace("\r\n", "\n")
    text = _FENCE.sub(lambda m: keep(f"```\n{m.group(1).rstrip(chr(10))}\n```"), text)
    text = _INLINE_CODE.sub(lambda m: keep(m.group(0)), text)
    text = _ESCAPE.sub(lambda m: keep(m.group(1)), text)  # `\*` is a literal star: kept as is

    text = _flatten_tables(text)
    text = _RULE.sub("", text)
    text = _HEADING.sub(lambda m: f"{_BOLD}{_strip_emphasis(m.group(1))}{_BOLD}", text)
    text = _BULLET.sub(r"\1- ", text)
    text = _IMAGE.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _LINK.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _BOLD_ITALIC.sub(rf"{_BOLD}_\1_{_BOLD}", text)
    text = _BOLD_STARS.sub(rf"{_BOLD}\1{_BOLD}", text)
    text = _BOLD_UNDERSCORES.sub(rf"{_BOLD}\1{_BOLD}", text)
    text = _ITALIC_STAR.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    text = text.replace(_BOLD, "*")
    text = re.sub(rf"{_CODE}(\d+){_CODE}", lambda m: codes[int(m.group(1))], text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _link(label: str, url: str) -> str:
    label = label.strip()
    if not label or label == url or label == url.removeprefix("mailto:"):
        return url
    return f"{label} ({url})"


def _strip_emphasis(text: str) -> str:
    return re.sub(r"\*\*|__", "", text)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)]


def _flatten_tables(text: str) -> str:
    """A Markdown table becomes one line per row: `- Header: value, Header: value`."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        is_table = (
            "|" in lines[i]
            and i + 1 < len(lines)
            and _TABLE_SEPARATOR.match(lines[i + 1]) is not None
        )
        if not is_table:
            out.append(lines[i])
            i += 1
            continue
        headers = _cells(lines[i])
        i += 2
        while i < len(lines) and "|" in lines[i] and lines[i].strip():
            values = _cells(lines[i])
            pairs = []
            for index, value in enumerate(values):
                if not value:
                    continue
                header = headers[index] if index < len(headers) else ""
                pairs.append(f"{header}: {value}" if header else value)
            if pairs:
                out.append("- " + ", ".join(pairs))
            i += 1
    return "\n".join(out)


# --- Splitting ---------------------------------------------------------------------------------

# Each pattern's group 1 is the whitespace a cut there drops.
_PARAGRAPH = re.compile(r"(\n[ \t]*\n\s*)")
_LINE = re.compile(r"(\n\s*)")
_SENTENCE = re.compile(r"[.!?…。！？][\"'”’)\]*_~]*(\s+)")
_SPACE = re.compile(r"(\s+)")
_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _SPACE)
# A cut at a paragraph, line or sentence boundary must fill at least this share of a part;
# otherwise a short first paragraph would cost a message of its own and the rest would be cut
# at a weaker boundary anyway.
_MIN_FILL = 0.5


def split_message(text: str, limit: int) -> list[str]:
    """Split `text` into parts of at most `limit` characters, at the strongest boundary that fits.

    Boundaries, strongest first: blank line (paragraph), line break, sentence end, whitespace; a
    word longer than `limit` is cut hard. Whitespace at a cut is dropped; nothing else changes.
    Blank text gives no parts."""
    if limit < 1:
        raise ValueError("limit must be at least 1 character")
    rest = text.strip()
    parts: list[str] = []
    while len(rest) > limit:
        head, rest = _cut(rest, limit)
        parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The first part (at most `limit` characters) and the remainder; `text` is stripped."""
    window = text[: limit + 1]  # a boundary's whitespace may start right at the limit
    for pattern in _LEVELS:
        floor = 1 if pattern is _SPACE else max(1, int(limit * _MIN_FILL))
        cut = -1
        for match in pattern.finditer(window):
            if floor <= match.start(1) <= limit:
                cut = match.start(1)
        if cut > 0:
            return text[:cut].rstrip(), text[cut:].lstrip()
    return text[:limit], text[limit:].lstrip()


# --- Phone numbers -----------------------------------------------------------------------------


# Mexico dropped the "1" of mobile numbers from its numbering plan (2019-2020), WhatsApp did not:
# Meta's `wa_id` (and Twilio's `From`) of a Mexican mobile is +52 1 and ten digits, which
# libphonenumber rightly calls impossible. The canonical number drops the 1; replies still go to
# the number as the provider wrote it (`reply_address`). Argentina's +54 9 mobile form is E.164
# as it is.
_MEXICO = 52
_MEXICAN_WHATSAPP_MOBILE = re.compile(r"1\d{10}")
_ADDRESS = re.compile(r"\+?[0-9]+")


def to_e164(number: str, *, where: str = "the webhook") -> str:
    """`14155238886`, `+1 415 523 8886` -> `+14155238886`; `PayloadMalformed` if not a number.

    The canonical number of a person, the same on every channel: WhatsApp's Mexican mobile form
    `5215512345678` is `+525512345678`. Only the length is checked (`is_possible_number`), not the
    numbering plan: libphonenumber's plans lag new number ranges, and refusing a real customer's
    message is worse than keeping an odd number."""
    if not isinstance(number, str) or not number.strip():
        raise PayloadMalformed(f"The phone number in {where} is missing.")
    text = number.strip()
    if not text.startswith("+"):
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise PayloadMalformed(f"The phone number in {where} is not a phone number.") from exc
    national = str(parsed.national_number)
    if parsed.country_code == _MEXICO and _MEXICAN_WHATSAPP_MOBILE.fullmatch(national):
        parsed = phonenumbers.PhoneNumber(country_code=_MEXICO, national_number=int(national[1:]))
    if not phonenumbers.is_possible_number(parsed):
        raise PayloadMalformed(f"The phone number in {where} has an impossible length.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def reply_address(number: str, contact: str) -> str | None:
    """Where replies to `contact` (the canonical number of `number`) go when the provider wrote
    the sender otherwise: `number` exactly as given (Meta's `wa_id` is digits without `+`), or
    None to reply to `contact` itself.

    A Mexican mobile's `521...` form is the address WhatsApp knows; sent to the canonical `52...`
    form a reply may be refused or reach nobody, so it goes back exactly as it came."""
    text = number.strip()
    if not _ADDRESS.fullmatch(text):
        return None  # spaces, dashes: a display form, not an address; the canonical one is
    return None if text == contact else text
