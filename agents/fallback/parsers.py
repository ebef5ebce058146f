"""The fallback policy's low-level readers: an email, an amount and currency, a date, yes or no,
who decides, which offered slot. Pure and deliberately simple: they read the obvious forms in en,
es and pt (and the common ones in fr, de, it) and return None for anything else, so the policy
asks again rather than store a guess. Which of these a field accepts is
`agents.fallback.validators`' business.
"""

from __future__ import annotations

import datetime as dt
import re

from pydantic import ValidationError

from domain.language import plain as normalized
from domain.lead import LeadProfile

__all__ = [
    "MAX_AMOUNT",
    "parse_budget",
    "parse_date",
    "parse_decides_stated",
    "parse_email",
    "parse_slot_choice",
    "parse_yes_no",
]

_EMAIL_SEPARATORS = re.compile(r"[\s<>,;:\"'()\[\]]+")


MAX_PARSED_CHARS = 4096
"""WhatsApp's limit of one message: the parsers read no further."""


def parse_email(text: str) -> str | None:
    """The first email address in the text (as LeadProfile accepts it), or None. The text is
    split into words first, so the cost stays linear in its length (at most one message)."""
    for word in _EMAIL_SEPARATORS.split(text[:MAX_PARSED_CHARS]):
        if word.count("@") != 1:
            continue
        try:
            return LeadProfile(email=word.rstrip(".")).email
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


MAX_AMOUNT = 1e12
"""Figures from here up are not budgets (and "999...9" must not become infinity)."""


def parse_budget(text: str, *, bare: bool = False) -> tuple[float, str | None] | None:
    """An amount and its ISO currency from text such as "5k USD", "$5,000", "R$ 10 mil",
    "10.000 euros". A bare number ("20") counts only with `bare=True` (the bot just asked for
    the budget); otherwise "20 employees" would become a budget."""
    plain = normalized(text)
    for match in _AMOUNT.finditer(plain):
        amount = _number(match.group("number"))
        if amount is None or not 0 < amount < MAX_AMOUNT:
            continue
        pre, mult, post = match.group("pre"), match.group("mult"), match.group("post")
        if not (pre or mult or post or bare):
            continue
        if mult:
            amount *= _MULTIPLIERS[mult]
            if amount >= MAX_AMOUNT:
                continue
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


# German "ja" only in a German conversation: folded, it is also Portuguese "já" (already).
_YES = frozenset(
    "yes y yeah yep sure ok okay correct confirm confirmed please si claro dale correcto "
    "confirmo vale perfecto sim isso pode certo confirmado perfeito otimo bueno oui ouais "
    "d'accord daccord volontiers jawohl genau gerne certamente esatto".split()
)
_NO = frozenset(
    "no nope not nah nao negativo tampoco nenhum ninguno ninguna nenhuma non nein".split()
)


def parse_yes_no(text: str, *, language: str | None = None) -> bool | None:
    """True for yes/sí/sim..., False for no/não..., None when the text says neither. `language`:
    the conversation's, for a word that is yes in one language only ("ja" in German)."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", normalized(text))
    if not words:
        return None
    yes = _YES | {"ja"} if language == "de" else _YES
    has_no = any(word in _NO for word in words)
    has_yes = any(word in yes for word in words)
    if has_yes == has_no:
        return None
    return has_yes


_DECIDES_YES = re.compile(
    r"\b(?:i decide|i make the decision|i(?:'m| am) the (?:owner|ceo|founder|decision maker)|"
    r"it's my call|my decision|i sign off|yo decido|la decision es mia|decido yo|"
    r"eu decido|a decisao e minha|decido eu|sou (?:o|a) don[oa]|soy (?:el|la) duen[oa]|"
    r"je decide|c'est moi qui decide|la decision m'appartient|ich entscheide|"
    r"entscheide ich|decido io|la decisione e mia)\b"
)
_DECIDES_NO = re.compile(
    r"\b(?:my (?:boss|manager|partner|director|ceo|board)|someone else|not me|"
    r"not my (?:decision|call)|not up to me|no es mi decision|no depende de mi|"
    r"nao e minha decisao|nao depende de mim|"
    r"mi (?:jefe|jefa|socio|socia|gerente|director|directora)|alguien mas|no yo|"
    r"meu (?:chefe|socio|gerente|diretor)|minha (?:chefe|socia|gerente|diretora)|outra pessoa|"
    r"nao eu|mon (?:patron|chef|associe|directeur)|ma (?:patronne|directrice)|pas moi|"
    r"mein(?:e)? (?:chef|chefin|partner|vorgesetzter)|nicht ich|"
    r"il mio (?:capo|socio|direttore)|la mia (?:capa|socia|direttrice)|non io)\b"
)


def parse_decides_stated(text: str) -> bool | None:
    """Whether the lead decides, only when they say so in so many words ("I decide", "my boss
    signs off"): read in any message, not only as the answer to that question (a plain yes or
    no to it is `agents.fallback.validators.read_authority`'s)."""
    plain = normalized(text)
    if _DECIDES_NO.search(plain):
        return False
    if _DECIDES_YES.search(plain):
        return True
    return None



_ORDINALS: dict[str, int] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
    "primero": 1, "primera": 1, "segundo": 2, "segunda": 2, "tercero": 3, "tercera": 3,
    "primeiro": 1, "primeira": 1, "terceiro": 3, "terceira": 3,
    "premier": 1, "premiere": 1, "deuxieme": 2, "troisieme": 3, "erste": 1, "ersten": 1,
    "zweite": 2, "zweiten": 2, "dritte": 3, "dritten": 3, "primo": 1, "prima": 1,
    "secondo": 2, "seconda": 2, "terzo": 3, "terza": 3,
}
_LAST = frozenset({"last", "ultimo", "ultima", "dernier", "derniere", "letzte", "letzten"})
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
