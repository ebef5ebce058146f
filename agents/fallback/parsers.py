"""The fallback policy's readers of a lead's answers: an email, an amount and currency, a date,
a name, yes or no, who decides, which offered slot. Pure and deliberately simple: they read the
obvious forms in en, es and pt and return None for anything else, so the policy asks again
rather than store a guess.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import ValidationError

from domain.language import plain as normalized
from domain.lead import LeadProfile

__all__ = [
    "MAX_PARSED_CHARS",
    "parse_budget",
    "parse_date",
    "parse_decides",
    "parse_email",
    "parse_name",
    "parse_slot_choice",
    "parse_yes_no",
]

# A match starts only where a run of address characters starts (the lookbehind): otherwise every
# position of a long run without "@" restarts the scan, quadratic (20,000 characters took 2.7 s).
_EMAIL_IN_TEXT = re.compile(
    r"(?<![^@\s<>,;:\"'()\[\]])[^@\s<>,;:\"'()\[\]]+@[^@\s<>,;:\"'()\[\]]+\.[A-Za-z]{2,}"
)
MAX_PARSED_CHARS = 4096
"""WhatsApp's limit of one message: the parsers read no further."""


def parse_email(text: str) -> str | None:
    """The first email address in the text (as LeadProfile accepts it), or None."""
    for match in _EMAIL_IN_TEXT.finditer(text[:MAX_PARSED_CHARS]):
        candidate = match.group(0).rstrip(".")
        try:
            return LeadProfile(email=candidate).email
        except ValidationError:
            continue
    return None


_CURRENCY_SYMBOLS = {"us$": "USD", "r$": "BRL", "$": "USD", "€": "EUR", "£": "GBP"}
_CURRENCY_WORDS = {
    "usd": "USD", "eur": "EUR", "brl": "BRL", "mxn": "MXN", "ars": "ARS", "cop": "COP",
    "clp": "CLP", "pen": "PEN", "gbp": "GBP", "dollars": "USD", "dollar": "USD",
    "dolares": "USD", "dolar": "USD", "reais": "BRL", "real": "BRL", "euros": "EUR", "euro": "EUR",
    "libras": "GBP", "pounds": "GBP",
}
_MULTIPLIERS = {
    "k": 1e3, "mil": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "millones": 1e6,
    "millon": 1e6, "milhoes": 1e6, "milhao": 1e6,
}
_AMOUNT = re.compile(
    r"(?P<pre>us\$|r\$|\$|€|£|\b(?:usd|eur|brl|mxn|ars|cop|clp|pen|gbp)\b)?\s*"
    r"(?P<number>\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?)\s*"
    r"(?P<mult>k|mil|thousand|mm|m|million|millones|millon|milhoes|milhao)?\b\s*"
    r"(?P<post>€|£|\b(?:usd|eur|brl|mxn|ars|cop|clp|pen|gbp|dollars?|dolares|dolar|reais|real|"
    r"euros?|libras|pounds)\b)?"
)


def _number(raw: str) -> float | None:
    raw = raw.strip()
    grouped = re.fullmatch(r"(\d{1,3}(?:([.,\s])\d{3})+)(?:([.,])(\d{1,2}))?", raw)
    if grouped and (grouped.group(3) is None or grouped.group(3) != grouped.group(2)):
        whole = re.sub(r"[.,\s]", "", grouped.group(1))
        decimals = grouped.group(4) or "0"
        return float(f"{whole}.{decimals}")
    try:
        return float(raw.replace(",", "."))
    except ValueError:
        return None


def parse_budget(text: str, *, bare: bool = False) -> tuple[float, str | None] | None:
    """An amount and its ISO currency from text such as "5k USD", "$5,000", "R$ 10 mil",
    "10.000 euros". A bare number ("20") counts only with `bare=True` (the bot just asked for
    the budget); otherwise "20 employees" would become a budget."""
    plain = normalized(text)
    for match in _AMOUNT.finditer(plain):
        amount = _number(match.group("number"))
        if amount is None or amount <= 0:
            continue
        pre, mult, post = match.group("pre"), match.group("mult"), match.group("post")
        if not (pre or mult or post or bare):
            continue
        if mult:
            amount *= _MULTIPLIERS[mult]
        currency = None
        if pre:
            currency = _CURRENCY_SYMBOLS.get(pre) or _CURRENCY_WORDS.get(pre)
        if post:
            currency = _CURRENCY_SYMBOLS.get(post) or _CURRENCY_WORDS.get(post) or currency
        return amount, currency
    return None


def parse_date(text: str, *, language: str | None = None) -> dt.date | None:
    """A real date written as 2025-03-01, or 01/03/2025 (day first; month first in English)."""
    iso = re.search(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", text)
    try:
        if iso:
            return dt.date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        slashed = re.search(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b", text)
        if slashed:
            first, second, year = (int(part) for part in slashed.groups())
            if language == "en":
                first, second = second, first
            return dt.date(year, second, first)
    except ValueError:
        return None
    return None


_NAME_PHRASES = re.compile(
    r"\b(?:my name is|i am|i'm|im|this is|me llamo|mi nombre es|soy|meu nome e|me chamo|"
    r"eu sou|sou)\s+(?:(?:o|a|el|la)\s+)?(?P<name>[a-z][a-z'-]*(?:\s+[a-z][a-z'-]*){0,2})",
)
# Words that end a name ("Ana from Acme", "Ana de Acme").
_NAME_STOPS = frozenset("from de da do del and y e at with of here aqui and".split())
# Words that follow "I'm" / "soy" / "sou" but are not names.
_NOT_NAMES = frozenset(
    "a an the interested looking from with here not just very so the de da do del la el un una "
    "um uma interesado interesada interessado interessada buscando procurando gerente ceo cto "
    "owner dueno duena dono dona director directora diretor diretora manager cliente client "
    "customer".split()
)


def parse_name(text: str, *, asked: bool = False) -> str | None:
    """The lead's name from "my name is Ana", "me llamo Ana", "sou a Ana"; with `asked=True`
    (the bot just asked for it) a short answer of one to three words is the name itself."""
    plain_words = normalized(text)
    original_words = re.findall(r"[^\W\d_][\w'-]*", text)
    match = _NAME_PHRASES.search(plain_words)
    if match:
        words = match.group("name").split()
        if words and words[0] not in _NOT_NAMES:
            name: list[str] = []
            for word in words:
                if word in _NAME_STOPS or word in _NOT_NAMES:
                    break
                name.append(word)
            if name:
                return _restore_case(name, original_words)
    if asked:
        cleaned = re.sub(r"[!.,]+$", "", text.strip())
        if re.fullmatch(r"[^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*){0,2}", cleaned):
            return " ".join(word[:1].upper() + word[1:] for word in cleaned.split())
    return None


def _restore_case(plain_words: list[str], original_words: list[str]) -> str:
    """The lead's spelling of the words matched on the normalized text."""
    by_plain = {normalized(word): word for word in original_words}
    restored = [by_plain.get(word, word) for word in plain_words]
    return " ".join(word[:1].upper() + word[1:] for word in restored)


_YES = frozenset(
    "yes y yeah yep sure ok okay correct confirm confirmed please si claro dale correcto "
    "confirmo vale perfecto sim isso pode certo confirmado perfeito ótimo otimo bueno".split()
)
_NO = frozenset("no nope not nah nao negativo tampoco nenhum ninguno ninguna nenhuma".split())


def parse_yes_no(text: str) -> bool | None:
    """True for yes/sí/sim..., False for no/não..., None when the text says neither."""
    words = re.findall(r"[a-z]+", normalized(text))
    if not words:
        return None
    has_no = any(word in _NO for word in words)
    has_yes = any(word in _YES for word in words)
    if has_yes == has_no:
        return None
    return has_yes


_DECIDES_YES = re.compile(
    r"\b(?:i decide|i make the decision|i'm the (?:owner|ceo|decision maker)|it's my call|"
    r"my decision|yo decido|la decision es mia|decido yo|eu decido|a decisao e minha|"
    r"decido eu|sou (?:o|a) dono|soy (?:el|la) duen)"
)
_DECIDES_NO = re.compile(
    r"\b(?:my (?:boss|manager|partner|director|ceo|board)|someone else|not me|"
    r"mi (?:jefe|jefa|socio|socia|gerente|director)|alguien mas|no yo|"
    r"meu (?:chefe|socio|gerente|diretor)|minha (?:chefe|socia|gerente|diretora)|outra pessoa|"
    r"nao eu)"
)


def parse_decides(text: str) -> bool | None:
    """Whether the lead decides the purchase themselves, from an answer to that question."""
    plain = normalized(text)
    if _DECIDES_NO.search(plain):
        return False
    if _DECIDES_YES.search(plain):
        return True
    return parse_yes_no(text)


_ORDINALS: dict[str, int] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "primero": 1, "primera": 1, "segundo": 2, "segunda": 2, "tercero": 3, "tercera": 3,
    "primeiro": 1, "primeira": 1, "terceiro": 3, "terceira": 3,
}
_LAST = frozenset({"last", "ultimo", "ultima"})
# A standalone 1-2 digit number that is not part of a time, date or amount ("10:00", "4pm").
_OPTION_NUMBER = re.compile(r"(?<![\d:/.,])\b(\d{1,2})\b(?![\d:/.,]|\s*(?:h|pm|am)\b)")


def parse_slot_choice(text: str, count: int) -> int | None:
    """Which of `count` numbered options the lead picked (1-based): "2", "option 2", "the second",
    "la segunda", "o último". None when unclear or out of range ("Tuesday at 4" of three)."""
    if count <= 0:
        return None
    plain = normalized(text)
    numbers = [int(n) for n in _OPTION_NUMBER.findall(plain)]
    picks = {n for n in numbers if 1 <= n <= count}
    words = re.findall(r"[a-z0-9]+", plain)
    picks |= {_ORDINALS[word] for word in words if word in _ORDINALS and _ORDINALS[word] <= count}
    if any(word in _LAST for word in words):
        picks.add(count)
    if len(picks) == 1 and len(numbers) <= 1:
        return picks.pop()
    return None
