"""What the lead's words ask for, by keyword: a person, or a change of their booked call. Pure.

`person_request` is three-valued, because a keyword cannot tell "let me talk to someone" from
"we need software where customers talk to an operator", nor "I want to speak to your manager"
from "I'd have to talk to the manager, he signs off":

- `"certain"`: a command (`/human`, `/humano`, `/humain`, ...: `command_words.human` of every
  language file) or one of the short curated phrases that can only be a request to the business
  (`intents.certain`). The graph hands off at once, with no model call (`graph.routing`).
- `"hint"`: anything else that mentions talking to or being called by a person. It is one line of
  the model's context (`hint_context`); the model decides (`wants_human`). Without a model the
  fallback hands off only a bare hint: a short burst with nothing else in it (`bare_request`).
- `None`: nothing of the sort.

The words are data, one `[intents]` table per language file of the catalogue (`domain.texts`),
so adding a language is adding its file; a message is matched against every language's table
(leads mix languages, and the first message has no known language). The curated corpus
(`tests/data/person_requests.yaml`) holds what each language must and must not catch.

How a message is matched (in the plain form: lower case, no accents, every mark but letters and
digits a space, so "I'd" reads "i d"):

- A certain phrase must be a whole unit of the message: a sentence (split at `.!?;:` and line
  breaks, commas dropped) or a part of one between commas, with only polite words (`polite`)
  around it. "Let me talk to someone." is certain; "our customers talk to someone" is not, and
  neither is "I want to talk to a human about pricing" (the model reads that one: a hint).
- A hint is a contact phrase (`hint_phrases`: "call me"), or a person's word (`hint_people`)
  together with a verb of contact (`hint_verbs`), anywhere; or a person's word in a bare message.
- A bare message is one of at most `BARE_WORDS` words that are all person's words, verbs of
  contact, polite words or `fillers` (any language's): "can I talk to someone?" is bare, "I need
  to talk to the manager, he signs off" is not.

`booking_change_request` is the other net: "can we move it?" / "cancel my call" from a lead whose
call is booked. It decides whether the bot may speak during a `booked` handoff (`graph.routing`),
so it is phrases about moving or cancelling, never a bare "change" or "time".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from domain.language import command_word, plain
from domain.texts import LANGUAGES, text, words

if TYPE_CHECKING:
    from agents.inputs import AgentInput

__all__ = [
    "BARE_WORDS",
    "BookingChange",
    "PersonRequest",
    "bare_request",
    "booking_change_request",
    "hint_context",
    "person_request",
    "request_language",
]

BookingChange = Literal["reschedule", "cancel"]
PersonRequest = Literal["certain", "hint"]

BARE_WORDS = 12
"""A bare request has at most this many words: longer messages say something else too."""

HINT = (
    "The lead's words mention talking to a person (a keyword match, not a decision). Set "
    "`wants_human` true only if they ask to talk to someone of this business now, or to be "
    "called; not when they describe what their customers or staff do, name someone of their "
    "own company, or want a service (a consultant, an agent) they are buying."
)
"""The context line of a hint (`hint_context`)."""


_SETS = ("polite", "human", "person", "ask", "talk", "hint_people", "hint_verbs", "hint_phrases")
"""The expressions of an `[intents]` table (`certain` is a list; `fillers` a list of words)."""


@dataclass(frozen=True, slots=True)
class _Net:
    """One language's `[intents]` table, compiled."""

    certain: re.Pattern[str]
    people: re.Pattern[str]
    verbs: re.Pattern[str]
    phrases: re.Pattern[str]
    polite: re.Pattern[str]
    fillers: frozenset[str]


def _expand(pattern: str, table: dict[str, str]) -> str:
    """`pattern` with each `{name}` replaced by the group of the table's `name` (quantifiers such
    as `{2}` are left alone: they name no key)."""
    return re.sub(
        r"\{(\w+)\}",
        lambda m: f"(?:{table[m[1]]})" if m[1] in table else m[0],
        pattern,
    )


def _net(language: str) -> _Net:
    table = {key: text(f"intents.{key}", language) for key in _SETS}
    certain = "|".join(f"(?:{_expand(p, table)})" for p in words("intents.certain", language))
    polite = table["polite"]
    return _Net(
        certain=re.compile(f"(?:(?:{polite}) )*(?:{certain})(?: (?:{polite}))*"),
        people=re.compile(rf"\b(?:{table['hint_people']})\b"),
        verbs=re.compile(rf"\b(?:{table['hint_verbs']})\b"),
        phrases=re.compile(rf"\b(?:{table['hint_phrases']})\b"),
        polite=re.compile(rf"\b(?:{polite})\b"),
        fillers=frozenset(text("intents.fillers", language).split()),
    )


@functools.cache
def _nets() -> dict[str, _Net]:
    return {language: _net(language) for language in LANGUAGES}


@functools.cache
def _fillers() -> frozenset[str]:
    """Every language's fillers: leads mix languages ("hola, can I talk to someone?")."""
    return frozenset().union(*(net.fillers for net in _nets().values()))


def _words(text: str) -> str:
    """The plain form keyword rules match on: no marks, single spaces."""
    return re.sub(r"[\W_]+", " ", plain(text)).strip()


def _units(text: str) -> list[str]:
    """The sentences of `text` (commas dropped) and their parts between commas, in plain form."""
    units: list[str] = []
    for sentence in re.split(r"[.!?;:\n¿¡…]+", text):
        parts = sentence.split(",")
        units.append(_words(" ".join(parts)))
        if len(parts) > 1:
            units.extend(_words(part) for part in parts)
    return [unit for unit in units if unit]


def _certain_in(text: str) -> set[str]:
    """The languages in which `text` is a certain request (a command word: those listing it)."""
    word = command_word(text)
    if word is not None and word.command == "human":
        return set(word.languages)
    units = _units(text)
    return {
        language
        for language, net in _nets().items()
        if any(net.certain.fullmatch(unit) for unit in units)
    }


def _bare(said: str) -> bool:
    """`said` (plain form) is short and nothing but a request: every word is a person's word, a
    verb of contact, a polite word or a filler of some language."""
    if not said or len(said.split()) > BARE_WORDS:
        return False
    rest = said
    for net in _nets().values():
        for pattern in (net.phrases, net.people, net.verbs, net.polite):
            rest = pattern.sub(" ", rest)
    return all(word in _fillers() for word in rest.split())


def _hint(said: str) -> bool:
    for net in _nets().values():
        if net.phrases.search(said):
            return True
        if net.people.search(said) and (net.verbs.search(said) or _bare(said)):
            return True
    return False


def person_request(texts: Iterable[str]) -> PersonRequest | None:
    """Whether this turn's messages ask for a person: `"certain"`, a `"hint"` for the model, or
    None (see the module docstring)."""
    messages = [t for t in texts if t.strip()]
    if any(_certain_in(message) for message in messages):
        return "certain"
    if _hint(" ".join(_words(message) for message in messages)):
        return "hint"
    return None


def bare_request(texts: Sequence[str]) -> bool:
    """A hint with nothing else in the burst ("someone to talk to?"): what the fallback policy,
    with no model to judge a hint, still hands off. A hint inside a longer message ("I'd have to
    talk to the manager, he signs off") is left alone."""
    said = " ".join(_words(t) for t in texts if t.strip())
    return person_request(texts) is not None and _bare(said)


def request_language(texts: Iterable[str]) -> str | None:
    """The language of a certain request, when only one language's phrases (or command) match
    it: "Quero falar com um humano" is Portuguese, which statistics on five words cannot tell
    from Spanish. The hand-over speaks it when the conversation has no language yet."""
    found: set[str] = set()
    for message in texts:
        found |= _certain_in(message)
    return next(iter(found)) if len(found) == 1 else None


def hint_context(view: AgentInput) -> list[str]:
    """The context line an agent adds when the lead's words hint at a person (none otherwise):
    the model decides (`wants_human`). Every agent's `extra_context` carries it."""
    return [HINT] if person_request(view.texts) == "hint" else []


# What a booked lead writes to move or cancel the call. Cancelling needs the call named ("cancel
# it"), so "can I cancel the subscription?" stays the human's.
_CALL_EN = (
    r"(?:it|this|that|the call|our call|my call|the meeting|our meeting|my meeting|"
    r"the appointment|my appointment|the demo|tomorrow'?s call)"
)
_CALL_ES = r"(?:la llamada|la reunion|la cita|la videollamada|la demo)"
_CALL_PT = r"(?:a ligacao|a reuniao|a chamada|a call|o horario|a demo)"
_CANCEL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        rf"\bcancel(?:l?ed|l?ing)? {_CALL_EN}\b",
        r"^(?:please )?cancel(?: please)?[.!]*$",
        rf"\bcall {_CALL_EN} off\b",
        rf"\b(?:cancelar|cancela|cancele|cancelen|cancelemos) {_CALL_ES}\b",
        r"\b(?:cancelala|cancelarla|cancelenla)\b",
        rf"\b(?:cancelar|cancela|cancele|desmarcar|desmarca|desmarque) {_CALL_PT}\b",
        r"\b(?:cancela-la|cancelar ela|desmarcar)\b",
    )
)
_RESCHEDULE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        # English
        r"\bre-?schedul(?:e|ed|ing)\b",
        rf"\b(?:move|shift|push|postpone|bring) {_CALL_EN}\b",
        r"\bpostpone\b",
        r"\bchange (?:the |my |our )?(?:time|date|day|hour|slot|call|meeting|appointment)\b",
        r"\b(?:another|a different|other) (?:time|day|date|slot)\b",
        r"\b(?:can ?not|can'?t|won'?t|will not|not able to) make it\b",
        # Spanish
        r"\breprogram(?:ar|emos|amos|a|e)\b",
        rf"\b(?:mover|movamos|cambiar|cambiemos|pasar) {_CALL_ES}\b",
        r"\b(?:cambiar|cambiemos) (?:la hora|el horario|la fecha|el dia)\b",
        r"\b(?:otro (?:dia|horario)|otra (?:hora|fecha))\b",
        r"\b(?:posponer|pospongamos|aplazar|aplacemos)\b",
        r"\bno (?:voy a poder|puedo) (?:ir|asistir|a esa hora|ese dia)\b",
        # Portuguese
        r"\b(?:remarcar|remarca|remarque|reagendar|reagenda|reagende)\b",
        rf"\b(?:mudar|mude|trocar|troque|passar) {_CALL_PT}\b",
        r"\b(?:mudar|mude|trocar|troque) (?:a hora|a data|o dia)\b",
        r"\b(?:outro (?:dia|horario)|outra (?:hora|data))\b",
        r"\b(?:adiar|adie|adiamos)\b",
        r"\bnao vou (?:poder|conseguir)\b",
    )
)


def booking_change_request(texts: Iterable[str]) -> BookingChange | None:
    """Whether a lead with a booked call asks to cancel it or to move it (en/es/pt phrases);
    cancelling wins when a message says both ("cancel it, or move it to Friday" is settled by
    the agent, which confirms first)."""
    normalized = [plain(text) for text in texts]
    if any(p.search(text) for text in normalized for p in _CANCEL_PATTERNS):
        return "cancel"
    if any(p.search(text) for text in normalized for p in _RESCHEDULE_PATTERNS):
        return "reschedule"
    return None
