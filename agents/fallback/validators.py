"""One validator per field the fallback policy stores, and the readers that find each field in a
lead's message. Pure, linear in the input, and bounded: only the first `MAX_INPUT` characters
are read.

Without a model, what the lead writes after a question is not its answer until a validator
says so: a name looks like a name (one to four name-like words, no common word, no question),
an amount has a number or is an explicit "no budget", a timeline is a time expression, a need
says what. Anything else ("this is useless", "hmm", "depende", "how much do you charge?") is a
non-answer, and the policy asks again rather than store it (`agents.fallback.policy`).

A message is read clause by clause (split at sentence ends, commas and line breaks), so one
message can carry several facts: "Sam, Sam's Bakery. We need an online shop, budget 3000
dollars, I decide, need it in March" gives all six. Clause and word matching works on tokens
(`tokens`), not on backtracking patterns, which keeps every reader linear.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.fallback import words as w
from agents.fallback.parsers import parse_budget, parse_date, parse_decides_stated, parse_yes_no
from domain.language import plain

__all__ = [
    "MAX_INPUT",
    "BudgetAnswer",
    "Clause",
    "Phrases",
    "Token",
    "clauses",
    "fold",
    "is_evasive",
    "is_question",
    "read_authority",
    "read_budget",
    "read_identity",
    "read_need",
    "read_timeline",
    "time_expression",
    "tokens",
    "valid_company",
    "valid_name",
    "valid_profile_name",
]

MAX_INPUT = 4096
"""Characters of a message the readers look at; the rest is ignored."""


def fold(text: str) -> str:
    """The form the word lists are in: `plain` (lower case, no accents) with one apostrophe."""
    return plain(text[:MAX_INPUT]).replace("’", "'")


# --- Tokens, clauses, phrases ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Token:
    """A word or number as written (`text`, at `start`..`end` of its clause) and folded (`key`)."""

    text: str
    key: str
    start: int
    end: int

    @property
    def capitalised(self) -> bool:
        return self.text[:1].isupper()

    @property
    def letters(self) -> bool:
        """Only letters (apostrophes and hyphens inside): a word that may be part of a name."""
        return _NAME_WORD.fullmatch(self.text) is not None


_TOKEN = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")


def tokens(text: str) -> list[Token]:
    """The words and numbers of `text` (its first `MAX_INPUT` characters)."""
    return [
        Token(m.group(), fold(m.group()), m.start(), m.end())
        for m in _TOKEN.finditer(text[:MAX_INPUT])
    ]


@dataclass(frozen=True, slots=True)
class Clause:
    """A piece of a message between sentence ends, commas (not inside numbers) and line
    breaks; `question` when it ended with "?"."""

    text: str
    question: bool
    tokens: tuple[Token, ...]

    @property
    def keys(self) -> list[str]:
        return [t.key for t in self.tokens]


_CLAUSE_END = re.compile(r"[;!?\n]+|\.(?=\s|$)|(?<!\d),|,(?!\d)|\s[-–—]\s")


def clauses(text: str) -> list[Clause]:
    """The clauses of `text`, in order, empty ones left out."""
    text = text[:MAX_INPUT]
    found: list[Clause] = []
    start = 0
    for end in [*_CLAUSE_END.finditer(text), None]:
        stop = end.start() if end else len(text)
        piece = text[start:stop]
        stripped = piece.strip()
        if stripped:
            question = bool(end and "?" in end.group())
            found.append(Clause(stripped, question, tuple(tokens(stripped))))
        if end:
            start = end.end()
    return found


class Phrases:
    """A list of phrases (folded, words split like `tokens`) matched on a clause's keys, longest
    first, indexed by first word: the cost per position is the few phrases starting there."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            parts = tuple(token.key for token in tokens(phrase))
            if parts:
                self._by_first.setdefault(parts[0], []).append(parts)
        for options in self._by_first.values():
            options.sort(key=len, reverse=True)

    def at(self, keys: Sequence[str], index: int) -> int:
        """The length (in words) of the longest phrase at `keys[index]`, 0 if none."""
        for parts in self._by_first.get(keys[index], ()):
            if tuple(keys[index:index + len(parts)]) == parts:
                return len(parts)
        return 0

    def find(self, keys: Sequence[str], start: int = 0) -> tuple[int, int] | None:
        """The first phrase from `start`: `(first word, one past the last)`, or None."""
        for index in range(start, len(keys)):
            length = self.at(keys, index)
            if length:
                return index, index + length
        return None


_EVASIVE = Phrases(w.EVASIVE_PHRASES)
_HESITATION = re.compile(r"h+m+|m{2,}|e+h+|u+h+|u+m{2,}|erm+|a+h+|o+h+")
# Not "um": the Portuguese article.


def is_evasive(text: str) -> bool:
    """The lead says they do not know (yet), or hesitates: "hmm", "depende", "não sei ainda"."""
    keys = [t.key for t in tokens(text)]
    return any(_HESITATION.fullmatch(key) for key in keys) or _EVASIVE.find(keys) is not None


def is_question(clause: Clause) -> bool:
    """A clause that ended with "?" or starts with a question word ("how much is it")."""
    return clause.question or bool(clause.tokens and clause.tokens[0].key in w.QUESTION_WORDS)


# --- Name and company --------------------------------------------------------------------------
_NAME_CHARS = re.compile(r"[^\W\d_]|[\s'’\-.]")
_ARTICLES = frozenset("the el la los las le les il lo die der das o a os as".split())
_CONNECTORS = frozenset("from at with of de da do dos das del von aus bei chez di du".split())
_COMPANY_JOINS = frozenset("de del do da dos das of and y e et und di the el la le".split())
_CONJUNCTIONS = frozenset("and y e und et ed".split())
_NAME_ARTICLES = frozenset("o a el la".split())


def _cap(word: str) -> str:
    """A word typed all lower or all upper case, capitalised per part ("jean-luc" -> "Jean-Luc");
    a word with its own mixed case ("McDonald") as typed."""
    if not (word.islower() or word.isupper()):
        return word
    return re.sub(r"[^\W\d_]+", lambda m: m.group()[:1].upper() + m.group()[1:].lower(), word)


def valid_name(candidate: str) -> str | None:
    """`candidate` as a person's name, or None: one to four name-like words (letters,
    apostrophes, hyphens, an initial), particles such as "de la" only inside, no word that is
    common in a sentence ("this is useless", "queria saber mais"), no possessive, no question."""
    text = candidate[:200].strip().strip(".,;:!\"'()[]").strip()
    if not text or not all(_NAME_CHARS.fullmatch(char) for char in text):
        return None
    parts = text.split()
    if not 1 <= len(parts) <= 6:
        return None
    names = 0
    cleaned: list[str] = []
    for position, part in enumerate(parts):
        initial = re.fullmatch(r"[^\W\d_]\.", part)
        if initial and len(parts) > 1:
            names += 1
            cleaned.append(part.upper())
            continue
        if _NAME_WORD.fullmatch(part) is None or len(part) > 30:
            return None
        key = fold(part)
        inside = 0 < position < len(parts) - 1
        if key in w.NAME_PARTICLES and inside:
            cleaned.append(part.lower() if part.islower() or part.isupper() else part)
            continue
        if (
            key in w.NOT_NAME_WORDS
            or key in w.NAME_PARTICLES
            or key in w.LEGAL_SUFFIXES
            or key.endswith("'s")
            or _HESITATION.fullmatch(key)
        ):
            return None
        names += 1
        cleaned.append(_cap(part))
    if not 1 <= names <= 4 or not any(len(part.rstrip(".")) > 1 for part in parts):
        return None
    if is_evasive(text):
        return None
    return " ".join(cleaned)


_PROFILE_NOISE = re.compile(r"[^\w\s'’\-.]|_|\d")


def valid_profile_name(profile_name: str | None) -> str | None:
    """The WhatsApp profile name as a name, or None: emoji and symbols dropped ("Sam 🍰" is
    Sam), then `valid_name` ("Sam's Bakery" or "Mom ❤️ phone" are not names)."""
    if not profile_name:
        return None
    return valid_name(" ".join(_PROFILE_NOISE.sub(" ", profile_name[:200]).split()))


def valid_company(candidate: str) -> str | None:
    """`candidate` as a company name, or None: one to six words, not a sentence of common words,
    not a place ("from Brazil"), not a non-answer."""
    text = candidate[:200].strip().strip(".,;:!\"'()[]").strip()
    if not text or len(text) > 80 or "?" in text or not text[0].isalnum():
        return None
    keys = [t.key for t in tokens(text)]
    if not 1 <= len(text.split()) <= 6 or not keys:
        return None
    if keys[0] in w.FUNCTION_WORDS and not (
        keys[0] in _ARTICLES and len(keys) > 1 and text[0].isupper()
    ):
        return None  # "a bank"; "The Bakery Co" and "El Martillo" are fine
    if all(key in w.NOT_NAME_WORDS or key in w.NAME_PARTICLES for key in keys):
        return None
    if " ".join(keys) in w.COUNTRIES or is_evasive(text):
        return None
    return text


def _company_run(clause: Clause, start: int, *, strict_case: bool) -> str | None:
    """The company named from `clause.tokens[start]`: its capitalised words (joined by "de",
    "of", "&"...), or, with `strict_case=False`, the rest of the clause (six words at most)."""
    run: list[Token] = []
    toks = clause.tokens
    for index in range(start, min(len(toks), start + 6)):
        token = toks[index]
        following = toks[index + 1] if index + 1 < len(toks) else None
        if token.key.isdigit() and not run:
            break  # "we are 20 people"; "Studio 54" and "3M" are fine
        if token.capitalised or token.text[:1].isdigit() or not strict_case:
            run.append(token)
        elif (
            token.key in _COMPANY_JOINS and run and following is not None
            and following.capitalised
        ):
            run.append(token)
        else:
            break
    if not run:
        return None
    return valid_company(clause.text[run[0].start:run[-1].end])


def _whole_company(clause: Clause) -> str | None:
    """The clause as a company on its own: "Sam's Bakery", "Acme Ltd", or (after a name) "Acme"
    (every word capitalised)."""
    toks = clause.tokens
    if not toks or len(toks) > 6 or is_question(clause):
        return None
    capitalised = all(
        t.capitalised or t.text[:1].isdigit() or (t.key in _COMPANY_JOINS and 0 < i < len(toks) - 1)
        for i, t in enumerate(toks)
    )
    return valid_company(clause.text[toks[0].start:toks[-1].end]) if capitalised else None


def _owned_or_registered(clause: Clause) -> str | None:
    """A clause that names a business by its form: a possessive ("Sam's Bakery") or a legal
    suffix ("Acme Ltd", "Ferretería López S.L.")."""
    toks = clause.tokens
    if len(toks) < 2 or not toks[0].capitalised:
        return None
    possessive = toks[0].key.endswith("'s")
    registered = toks[-1].key.replace(".", "") in w.LEGAL_SUFFIXES
    if possessive or registered:
        return _whole_company(clause)
    return None


_STRONG_NAME = Phrases(w.NAME_PHRASES_STRONG)
_WEAK_NAME = Phrases(w.NAME_PHRASES_WEAK)
_COMPANY_CUES = Phrases(w.COMPANY_CUES)
_COMPANY_CUES_WEAK = Phrases(w.COMPANY_CUES_WEAK)


@dataclass(frozen=True, slots=True)
class _NameRun:
    name: str | None
    company: str | None
    whole: bool
    """The run took the whole clause (nothing but the name, "here", or "from <company>")."""


def _name_run(clause: Clause, start: int, *, strict_case: bool) -> _NameRun:
    """The name that starts at `clause.tokens[start]`, and the company after a "from/de"."""
    toks = clause.tokens
    index = start
    if (
        index + 1 < len(toks) and toks[index].key in _NAME_ARTICLES
        and (toks[index + 1].capitalised or not strict_case)
    ):
        index += 1  # "sou a Maria", "soy la Lucía"
    name: list[Token] = []
    company: str | None = None
    ended = False
    while index < len(toks) and len(name) < 6:
        token = toks[index]
        following = toks[index + 1] if index + 1 < len(toks) else None
        if name and token.key in w.SELF_REFERENCE_ENDINGS and following is None:
            index += 1
            break
        if name and token.key in _CONNECTORS and following is not None:
            surname = following.key in w.SURNAMES_AFTER_PARTICLE or following.key in _ARTICLES
            if token.key in w.NAME_PARTICLES and surname:
                name.append(token)  # "João da Silva", "María de la Cruz"
                index += 1
                continue
            company = _company_run(clause, index + 1, strict_case=True)
            ended = company is not None
            break
        if name and token.key in _CONJUNCTIONS:
            break
        particle = name and token.key in w.NAME_PARTICLES and following is not None
        if not particle and (
            not token.letters or token.key in w.NOT_NAME_WORDS
            or (strict_case and not token.capitalised)
        ):
            break
        name.append(token)
        index += 1
    while name and name[-1].key in w.NAME_PARTICLES:
        name.pop()
    found = valid_name(clause.text[name[0].start:name[-1].end]) if name else None
    whole = found is not None and (ended or index >= len(toks))
    return _NameRun(found, company if found else None, whole)


def read_identity(parts: Sequence[Clause], *, asked: bool) -> tuple[str | None, str | None]:
    """The lead's name and company.

    The name comes from "my name is Ana" (any case), "I'm Ana" / "soy Lucía" (capitalised, or
    any case when the bot just asked for the name: `asked`), or, when asked, from a first clause
    that is nothing but a name ("Sam", "Sam here"). Not asked, a clause that is only a
    capitalised name counts when the next one is a business ("Sam, Sam's Bakery"). The company
    comes from "from/de <Company>" after the name, "my company is <Company>", a clause that
    names a business by its form ("Sam's Bakery", "Acme Ltd"), "we are <Company>", or the
    clause right after a name ("Ana, Acme")."""
    name: str | None = None
    company: str | None = None
    name_at: int | None = None
    for position, clause in enumerate(parts):
        if is_question(clause):
            continue
        keys = clause.keys
        for phrases, strict in ((_STRONG_NAME, False), (_WEAK_NAME, not asked)):
            found = phrases.find(keys)
            while found is not None and name is None:
                run = _name_run(clause, found[1], strict_case=strict)
                if run.name:
                    name, company, name_at = run.name, run.company, position
                else:
                    found = phrases.find(keys, found[0] + 1)
        if name:
            break
    if name is None:
        for position, clause in enumerate(parts):
            if is_question(clause):
                continue
            keys = clause.keys
            start = 0
            while start < len(keys) and keys[start] in w.GREETINGS:
                start += 1
            if start == len(keys):
                continue  # only a greeting: look at the next clause
            run = _name_run(clause, start, strict_case=not asked)
            following = parts[position + 1] if position + 1 < len(parts) else None
            business = _owned_or_registered(following) if following else None
            if run.whole and (asked or business):
                name, company, name_at = run.name, run.company or business, position
            break
    for position, clause in enumerate(parts):
        if company:
            break
        found = _COMPANY_CUES.find(clause.keys)
        if found is not None:
            company = _company_run(clause, found[1], strict_case=False)
        elif (found := _COMPANY_CUES_WEAK.find(clause.keys)) is not None:
            start = found[1]
            if start + 1 < len(clause.tokens) and clause.tokens[start].key in _NAME_ARTICLES:
                start += 1  # "somos a Padaria...", "trabalho na" has it built in
            company = _company_run(clause, start, strict_case=True)
        else:
            company = _owned_or_registered(clause)
        if company is None and name_at is not None and position == name_at + 1:
            toks = clause.tokens
            if len(toks) > 1 and toks[0].key in _CONNECTORS:  # "Claire, de Boulangerie Dupont"
                company = _company_run(clause, 1, strict_case=True)
            else:
                company = _whole_company(clause)
    if company and name and fold(company) == fold(name):
        company = None
    return name, company


# --- Need --------------------------------------------------------------------------------------
_NEED = Phrases(w.NEED_CUES)
_NEED_WINDOW = 12


def _content(toks: Iterable[Token]) -> bool:
    """Some word that says something: not a function word, not a generic one, not a number."""
    return any(
        t.letters and len(t.key) > 1 and t.key not in w.FUNCTION_WORDS
        and t.key not in w.GENERIC_WORDS and not _HESITATION.fullmatch(t.key)
        for t in toks
    )


def read_need(parts: Sequence[Clause], *, asked: bool) -> str | None:
    """What the lead needs, as their own words: a clause with a need cue followed by what ("we
    need an online shop"; not "need it in March", not "I want to know more"), or, when the bot
    just asked (`asked`), the first clause that says something and is not a question or a
    non-answer."""
    for clause in parts:
        keys = clause.keys
        found = _NEED.find(keys)
        while found is not None:
            # What is needed follows the cue closely; a window keeps this linear.
            rest = clause.tokens[found[1]:found[1] + _NEED_WINDOW]
            if rest and rest[0].key not in w.PRONOUN_OBJECTS and _content(rest):
                if is_evasive(clause.text):
                    break
                return _from_last_and(clause, before=found[0])
            found = _NEED.find(keys, found[0] + 1)
    if asked:
        for clause in parts:
            if is_question(clause) or is_evasive(clause.text) or _other_fact(clause):
                continue
            if _content(clause.tokens):
                return clause.text
    return None


_AND = frozenset({"and", "und", "y", "et", "e", "ed"})


def _from_last_and(clause: Clause, *, before: int) -> str:
    """The clause from after its last "and" before token `before`: "ich heiße Jonas und wir
    brauchen ein CRM" says the need in "wir brauchen ein CRM"."""
    cut = next((i for i in range(before - 1, 0, -1) if clause.tokens[i].key in _AND), None)
    if cut is None:
        return clause.text
    return clause.text[clause.tokens[cut + 1].start:].strip()


def _other_fact(clause: Clause) -> bool:
    """The clause answers another question: who decides, an amount, a time."""
    return (
        parse_decides_stated(clause.text) is not None
        or parse_budget(fold(clause.text)) is not None
        or time_expression(clause.text, asked=False)
    )


# --- Budget ------------------------------------------------------------------------------------
_NO_BUDGET = Phrases(w.NO_BUDGET_PHRASES)
_UNIT_WORDS = "|".join(sorted((re.escape(u) for u in w.UNIT_WORDS), key=len, reverse=True))
_COUNT = re.compile(rf"(?<![\d.,])\d[\d.,]{{0,15}}\s?(?:k|mil|m)?\s?(?:{_UNIT_WORDS})\b")


@dataclass(frozen=True, slots=True)
class BudgetAnswer:
    """A budget answer: the lead's words, and the amount and currency they name (None for an
    explicit "no budget")."""

    words: str
    amount: float | None
    currency: str | None


def read_budget(parts: Sequence[Clause], *, asked: bool) -> BudgetAnswer | None:
    """An amount ("3000 dollars", "$8k", "R$ 10 mil"; a bare "5000" only when the bot just
    asked: `asked`) or an explicit "no budget". Counts ("20 people", "in 3 weeks") are not
    amounts; "not sure" or "we have budget" are no answer."""
    for bare in (False, True) if asked else (False,):
        for clause in parts:
            counted = _COUNT.sub(" ", fold(clause.text))
            if bare and time_expression(clause.text, asked=False):
                continue
            found = parse_budget(counted, bare=bare)
            if found is not None:
                return BudgetAnswer(clause.text, found[0], found[1])
    for clause in parts:
        if _NO_BUDGET.find(clause.keys) is not None:
            return BudgetAnswer(clause.text, None, None)
    return None


# --- Authority ---------------------------------------------------------------------------------
_ACKNOWLEDGEMENTS = frozenset(
    "ok okay k alright fine cool sure vale dale bueno beleza blz d'accord daccord".split()
)
"""Words that acknowledge but do not answer an either-or question ("ok" to "you or someone
else?")."""


def read_authority(
    parts: Sequence[Clause], *, asked: bool, text: str, language: str | None = None
) -> tuple[str, bool] | None:
    """Whether the lead decides, with their words: "I decide", "my boss signs off" anywhere;
    a plain yes or no only when the bot just asked (`asked`), and never from a non-answer ("não
    sei ainda" has a "não" but says nothing)."""
    for clause in parts:
        stated = parse_decides_stated(clause.text)
        if stated is not None:
            return clause.text, stated
    keys = [t.key for t in tokens(text)]
    if asked and not is_evasive(text) and not all(key in _ACKNOWLEDGEMENTS for key in keys):
        answer = parse_yes_no(text, language=language)
        if answer is not None:
            return text.strip()[:1000], answer
    return None


# --- Timeline ----------------------------------------------------------------------------------
_MONTH_PREPOSITIONS = Phrases(w.MONTH_PREPOSITIONS)
_SOON_STRONG = Phrases(w.SOON_STRONG)
_SOON_WEAK = Phrases(w.SOON_WEAK)
_NUMBERS = Phrases(w.NUMBER_WORDS)
_WITHIN = Phrases(
    "in|within|in about|in around|en|dentro de|em|daqui a|dans|d'ici|innerhalb von|tra|fra|"
    "entro".split("|")
)
_NEXT = frozenset(
    "next coming proximo proxima nachste nachsten nachstes nachster kommende kommenden "
    "prossimo prossima".split()
)
_NEXT_AFTER = Phrases(["que viene", "que vem", "prochain", "prochaine", "prossimo", "prossima"])
_EDGE = Phrases(
    "end of|beginning of|start of|middle of|fin de|fines de|finales de|principios de|"
    "mediados de|fim do|fim de|final do|inicio do|inicio de|meio do|fin du|fin de l'|debut du|"
    "ende des|ende|anfang des|anfang|mitte des|mitte|fine|inizio|meta|fine del|inizio del"
    .split("|")
)
_EDGE_FILLERS = frozenset("the this next este del dieses nachsten l' de".split())
_ORDINALS = frozenset(
    "first second third fourth 1st 2nd 3rd 4th primer primero segundo tercer tercero cuarto "
    "primeiro terceiro quarto premier deuxieme troisieme quatrieme erste ersten zweite zweiten "
    "dritte dritten vierte vierten primo secondo terzo 1o 2o 3o 4o".split()
)
_PERIODS = frozenset("quarter trimestre quartal semester semestre".split())
_UNITS = frozenset(w.TIME_UNITS)
_QUARTER = re.compile(r"[qh][1-4]|[1-4]q")
_YEAR = re.compile(r"(?:19|20)\d\d")
_DAY = re.compile(r"\d{1,2}(?:st|nd|rd|th|o)?")


def _number_at(keys: Sequence[str], index: int) -> int:
    """Words of a count at `index` ("3", "two", "a few"), 0 if none."""
    if index < len(keys) and keys[index].isdigit() and len(keys[index]) <= 3:
        return 1
    return _NUMBERS.at(keys, index) if index < len(keys) else 0


def _strong_at(keys: Sequence[str], index: int) -> bool:
    """A time expression that counts anywhere starts at `keys[index]`."""
    key = keys[index]
    nxt = keys[index + 1] if index + 1 < len(keys) else ""
    prev = keys[index - 1] if index > 0 else ""
    if _SOON_STRONG.at(keys, index) or _QUARTER.fullmatch(key):
        return True
    if key in w.MONTHS and (_YEAR.fullmatch(nxt) or _DAY.fullmatch(prev) or _DAY.fullmatch(nxt)):
        return True
    if key in w.MONTHS and prev == "de" and index > 1 and _DAY.fullmatch(keys[index - 2]):
        return True  # "15 de marzo"
    if key in _ORDINALS and nxt in _PERIODS:
        return True
    if key in _NEXT and (nxt in _UNITS or nxt in w.WEEKDAYS):
        return True
    if key in _UNITS and index + 1 < len(keys) and _NEXT_AFTER.at(keys, index + 1):
        return True
    if length := _MONTH_PREPOSITIONS.at(keys, index):
        after = index + length
        if after < len(keys) and keys[after] in ("the", "de", "del", "of"):
            after += 1
        if after < len(keys) and keys[after] in w.MONTHS:
            return True
    if length := _WITHIN.at(keys, index):
        count = _number_at(keys, index + length)
        if count and index + length + count < len(keys) and keys[index + length + count] in _UNITS:
            return True
    if count := _number_at(keys, index):
        rest = keys[index + count:index + count + 3]
        if len(rest) == 3 and rest[0] in _UNITS and rest[1:] == ["from", "now"]:
            return True
    if length := _EDGE.at(keys, index):
        after = index + length
        if after < len(keys) and keys[after] in _EDGE_FILLERS:
            after += 1
        if after < len(keys) and keys[after] in _UNITS:
            return True
    return False


def _weak_at(keys: Sequence[str], index: int) -> bool:
    """A time that counts only as the answer to "when?": a month or weekday alone, a year,
    "soon", "now"."""
    key = keys[index]
    return bool(
        key in w.MONTHS or key in w.WEEKDAYS or _YEAR.fullmatch(key)
        or _SOON_WEAK.at(keys, index)
    )


def time_expression(text: str, *, asked: bool) -> bool:
    """`text` holds a time expression: "in March", "next month", "in 3 weeks", "ASAP",
    "2030-03-01", "Q2", in each language; with `asked` (the bot just asked when) also "March",
    "2030", "soon", "now"."""
    keys = [t.key for t in tokens(text)]
    for index in range(len(keys)):
        if _strong_at(keys, index) or (asked and _weak_at(keys, index)):
            return True
    return parse_date(text[:MAX_INPUT]) is not None


def read_timeline(
    parts: Sequence[Clause], *, asked: bool, language: str | None
) -> tuple[str, dt.date | None] | None:
    """When the lead wants to start, with their words and a date if they gave a real one: the
    first clause with a time expression (a lone "March" or "soon" only when the bot just asked:
    `asked`)."""
    for clause in parts:
        if time_expression(clause.text, asked=asked):
            return clause.text, parse_date(clause.text, language=language)
    return None
