"""The lead's language from what they wrote, the commands they can type, and the plain form
keyword rules match on.

Detection is `lingua-language-detector`, restricted to the catalogue's languages
(`domain.texts.LANGUAGES`: adding a language file adds it here). Measured on the curated corpus
(`tests/data/person_requests.yaml`: 285 messages of 1 to 15 words in six languages, commands
left out), lingua is right on 276 (97%), undecided on 7 and wrong on 2 (with `MIN_DISTANCE`,
and the language files' short words weighed in, `SHORT_WORD_WEIGHT`);
the hand-written common-word scores it replaced were right on 113 of the 147 en/es/pt messages
(77%) and knew no other language (`python -m bench.language_accuracy` prints the figures;
tests/domain/test_language.py holds the detector to them).
What lingua does not know is settled before it, from the language files:

- a command word that only one language lists (`/humain`, `baja`) names that language;
- a message of at most `SHORT_WORDS` words is decided by `language.words` (greetings, thanks,
  yes and no) when they point at one language only: statistics on "Hello" or "Oi" guess (Italian,
  French), and those are the first words of many conversations;
- lingua reads the text without tokens that have digits ("10k", "Q3"), and not at all when its
  words have fewer than `MIN_LETTERS` letters: it would guess on "ok" or "5000 EUR", where None
  keeps the conversation's language.

"Undecided" (None) is an answer: callers keep the conversation's language then, which beats a
guess on "ok" or a name. lingua's high-accuracy models are needed for short messages (its
low-accuracy mode, 17 MB, is right on 262 (92%) and calls "I want a human"
Portuguese); they take about 200 MB and 3 s to load, once per process;
`load_detector` lets a server do that at start-up instead of in its first turn.

When neither the text nor the conversation says (a very first message `/humano`, which Spanish
and Portuguese share), `number_language` reads the number: the language files list the countries
where most people write in them (`language.countries`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import phonenumbers
from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from domain.texts import LANGUAGES, catalogue

__all__ = [
    "COMMANDS",
    "MIN_DISTANCE",
    "MIN_LETTERS",
    "MIN_MARGIN",
    "SHORT_WORDS",
    "SHORT_WORD_WEIGHT",
    "CommandWord",
    "command_word",
    "detect_language",
    "load_detector",
    "number_language",
    "plain",
]

COMMANDS = ("help", "reset", "human", "stop", "start")
"""The commands a lead can send (`[command_words]` of each language file)."""

MIN_DISTANCE = 0.1
"""lingua's minimum relative distance between the two likeliest languages: below it, None. On
the corpus (285 messages) 0.0 gives 6 wrong answers, 0.1 gives 2 wrong and 9 undecided, 0.25
none wrong and 20 undecided; a wrong language is worse than none (the conversation's own is
kept)."""

SHORT_WORDS = 3
"""Messages of at most this many words are settled by the language files' short words first."""

SHORT_WORD_WEIGHT = 0.3
"""What a short word of one language alone (`language.words`) adds to lingua's confidence in that
language, in a message of any length: a name or a product makes lingua guess ("Oi, sou o Rui":
French 0.53, Portuguese 0.19), the lead's greeting and small words do not."""

MIN_MARGIN = 0.1
"""The lead of the likeliest language over the next (confidences plus short words): below it,
None (a wrong language is worse than none: the conversation's own is kept)."""

MIN_LETTERS = 5
"""Fewer letters in words than this, and the text does not say ("ok", "5000 EUR", "CEO"): lingua
guesses on them (German for "10k USD", French for "5000 EUR")."""


def plain(text: str) -> str:
    """Lower case, without accents, single spaces: what the keyword rules match on."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", stripped).strip()


@dataclass(frozen=True, slots=True)
class CommandWord:
    """A word that is a command when it is a whole message (`/humain`, `baja`)."""

    command: str
    """One of `COMMANDS`."""
    languages: frozenset[str]
    """The language files that list it (`/stop` one, `/humano` two)."""


def _command_key(text: str) -> str:
    return plain(text).rstrip(".!")


@functools.cache
def _command_words() -> dict[str, CommandWord]:
    found: dict[str, tuple[str, set[str]]] = {}
    for language in LANGUAGES:
        for command in COMMANDS:
            listed = catalogue()[language][f"command_words.{command}"]
            assert isinstance(listed, list), f"command_words.{command} must be a list"
            for word in listed:
                found.setdefault(_command_key(word), (command, set()))[1].add(language)
    return {
        word: CommandWord(command=command, languages=frozenset(languages))
        for word, (command, languages) in found.items()
    }


def command_word(text: str | None) -> CommandWord | None:
    """The command a whole message is, from every language file's `[command_words]` (case,
    accents and a final `.` or `!` ignored), or None."""
    return _command_words().get(_command_key(text or ""))


@functools.cache
def _short_words() -> dict[str, str]:
    """`language.words` of the language files: each word that one language alone lists."""
    languages: defaultdict[str, set[str]] = defaultdict(set)
    for language in LANGUAGES:
        listed = catalogue()[language]["language.words"]
        assert isinstance(listed, list), "language.words must be a list"
        for word in listed:
            languages[plain(word)].add(language)
    return {word: next(iter(langs)) for word, langs in languages.items() if len(langs) == 1}


@functools.cache
def load_detector() -> LanguageDetector:
    """lingua's detector for the catalogue's languages, its models loaded (once per process)."""
    codes = [IsoCode639_1.from_str(language) for language in LANGUAGES]
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_minimum_relative_distance(MIN_DISTANCE)
        .with_preloaded_language_models()
        .build()
    )


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the catalogue language `text` is written in, or None when it does
    not say (see the module docstring)."""
    word = command_word(text)
    if word is not None and len(word.languages) == 1:
        return next(iter(word.languages))
    # Tokens with digits ("10k", "R$20", "Q3", "2030") say nothing about a language.
    wording = re.sub(r"\S*\d\S*", " ", text)
    words = re.findall(r"[^\W\d_]+", plain(wording))
    if len(words) <= SHORT_WORDS:
        short = _short_words()
        votes = {short[word] for word in words if word in short}
        if len(votes) == 1:
            return votes.pop()
    if sum(map(len, words)) < MIN_LETTERS:
        return None
    scores = {
        value.language.iso_code_639_1.name.lower(): value.value
        for value in load_detector().compute_language_confidence_values(wording)
    }
    short = _short_words()
    for word in words:
        if word in short:
            scores[short[word]] = scores.get(short[word], 0.0) + SHORT_WORD_WEIGHT
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0][1] - ranked[1][1] < MIN_MARGIN):
        return None
    return ranked[0][0]


@functools.cache
def _country_languages() -> dict[str, str]:
    """`language.countries` of the language files: each country one language alone lists."""
    languages: defaultdict[str, set[str]] = defaultdict(set)
    for language in LANGUAGES:
        listed = catalogue()[language].get("language.countries", [])
        assert isinstance(listed, list), "language.countries must be a list"
        for country in listed:
            languages[country.upper()].add(language)
    return {country: next(iter(langs)) for country, langs in languages.items() if len(langs) == 1}


def number_language(number: str | None) -> str | None:
    """The language most people write in the country of `number` (E.164), or None when no
    language file lists its country (or the number is not one): a hint for when the text and
    the conversation do not say."""
    try:
        parsed = phonenumbers.parse(number or "")
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(parsed) or (
        phonenumbers.region_code_for_country_code(parsed.country_code or 0)  # a number not issued
    )
    return _country_languages().get(region)
