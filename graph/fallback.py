"""The deterministic fallback policy: the conversation goes on without a model.

It runs when no LLM is configured, or for one turn when the LLM failed after its client's retries
(HTTP errors, timeouts, invalid JSON). It is a safety net, not the product (DESIGN.md): it asks for
the next missing item (name, then need, budget, authority, timeline), reads obvious answers (an
email, "5k USD", "R$ 10 mil", a date, "yes", "the second"), offers numbered slots and asks for
confirmation before booking, and always replies in the lead's language (en, es, pt; English
otherwise). Everything here is pure; the nodes do the calendar I/O the policy asks for. Every
fallback turn is logged and counted in `FALLBACK_TURNS`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from pydantic import ValidationError

from graph.lead import LeadProfile
from integrations.calendar.base import Booking, Slot
from integrations.calendar.slots import format_slot as _format_slot

__all__ = [
    "FALLBACK_TURNS",
    "LANGUAGES",
    "FallbackStep",
    "SchedulingAction",
    "booked_reply",
    "confirm_reply",
    "detect_language",
    "format_slot",
    "format_slots",
    "next_item",
    "offer_reply",
    "parse_budget",
    "parse_date",
    "parse_decides",
    "parse_email",
    "parse_name",
    "parse_slot_choice",
    "parse_yes_no",
    "qualify",
    "scheduling_action",
    "text_for",
]

FALLBACK_TURNS = Counter(
    "wa_fallback_turns_total",
    "Turns answered by the deterministic fallback policy instead of the LLM.",
    ["agent", "cause"],
)
"""Labels: `agent` (the stage's agent) and `cause` (`no_model` or `llm_error`)."""

LANGUAGES: tuple[str, ...] = ("en", "es", "pt")
"""The languages the policy writes; anything else gets English."""

ITEMS: tuple[str, ...] = ("name", "need", "budget", "authority", "timeline")
"""The order the policy asks in."""

# --- Texts -------------------------------------------------------------------------------------
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hi{name}! Thanks for writing to us.",
        "thanks": "Thanks!",
        "ask_name": "Who am I talking to? What's your name?",
        "ask_need": "What are you looking for? Tell me a bit about what you need.",
        "ask_budget": "What budget do you have in mind (amount and currency)?",
        "ask_authority": "Will you make the decision yourself, or does someone else sign off?",
        "ask_timeline": "When would you like to get started?",
        "ready": (
            "That's all I need. Shall we book a call with our team? Reply *yes* and I'll send you "
            "some times."
        ),
        "offer": "These times are free for a call:\n{slots}\nReply with the number that suits you.",
        "no_slots": (
            "I couldn't find a free time right now. A member of our team will contact you to "
            "schedule."
        ),
        "no_calendar": "A member of our team will contact you to find a time for the call.",
        "confirm": "Shall I book {slot}? Reply *yes* to confirm.",
        "booked": "Done! Your call is booked for {slot}.",
        "taken": "Sorry, that time was just taken.",
        "confirm_move": "Shall I move your call to {slot}? Reply *yes* to confirm.",
        "moved": "Done! Your call is now on {slot}.",
        "after": (
            "Thanks for your message! Our team has your details and will get back to you here."
        ),
    },
    "es": {
        "hello": "¡Hola{name}! Gracias por escribirnos.",
        "thanks": "¡Gracias!",
        "ask_name": "¿Con quién hablo? ¿Cuál es tu nombre?",
        "ask_need": "¿Qué estás buscando? Cuéntame un poco lo que necesitas.",
        "ask_budget": "¿Qué presupuesto tienes en mente (monto y moneda)?",
        "ask_authority": "¿Tomas tú la decisión o alguien más la aprueba?",
        "ask_timeline": "¿Para cuándo te gustaría empezar?",
        "ready": (
            "Es todo lo que necesito. ¿Agendamos una llamada con nuestro equipo? Responde *sí* y "
            "te envío algunos horarios."
        ),
        "offer": (
            "Estos horarios están libres para una llamada:\n{slots}\nResponde con el número que te "
            "convenga."
        ),
        "no_slots": (
            "No encontré horarios libres ahora. Alguien de nuestro equipo te contactará para "
            "agendar."
        ),
        "no_calendar": "Alguien de nuestro equipo te contactará para acordar la llamada.",
        "confirm": "¿Reservo {slot}? Responde *sí* para confirmar.",
        "booked": "¡Listo! Tu llamada quedó agendada para {slot}.",
        "taken": "Lo siento, ese horario se acaba de ocupar.",
        "confirm_move": "¿Muevo tu llamada a {slot}? Responde *sí* para confirmar.",
        "moved": "¡Listo! Tu llamada ahora es el {slot}.",
        "after": (
            "¡Gracias por tu mensaje! Nuestro equipo tiene tus datos y te responderá por aquí."
        ),
    },
    "pt": {
        "hello": "Olá{name}! Obrigado por falar com a gente.",
        "thanks": "Obrigado!",
        "ask_name": "Com quem eu falo? Qual é o seu nome?",
        "ask_need": "O que você está procurando? Conte um pouco do que você precisa.",
        "ask_budget": "Qual orçamento você tem em mente (valor e moeda)?",
        "ask_authority": "Você toma a decisão ou outra pessoa aprova?",
        "ask_timeline": "Quando você gostaria de começar?",
        "ready": (
            "É tudo o que eu preciso. Vamos agendar uma ligação com a nossa equipe? Responda *sim* "
            "e eu envio alguns horários."
        ),
        "offer": (
            "Estes horários estão livres para uma ligação:\n{slots}\nResponda com o número que for "
            "melhor."
        ),
        "no_slots": (
            "Não encontrei horários livres agora. Alguém da nossa equipe vai entrar em contato "
            "para agendar."
        ),
        "no_calendar": "Alguém da nossa equipe vai entrar em contato para combinar a ligação.",
        "confirm": "Posso reservar {slot}? Responda *sim* para confirmar.",
        "booked": "Pronto! Sua ligação está agendada para {slot}.",
        "taken": "Desculpe, esse horário acabou de ser ocupado.",
        "confirm_move": "Posso mudar sua ligação para {slot}? Responda *sim* para confirmar.",
        "moved": "Pronto! Sua ligação agora é {slot}.",
        "after": "Obrigado pela mensagem! Nossa equipe tem os seus dados e vai responder por aqui.",
    },
}

def text_for(key: str, language: str | None, **values: str) -> str:
    """One of the policy's texts in `language` (English when unsupported)."""
    table = _TEXTS.get(language or "en", _TEXTS["en"])
    return table[key].format(**values)


def _plain(text: str) -> str:
    """Lower case, without accents, single spaces: what the keyword rules match on."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", plain).strip()


# --- Language --------------------------------------------------------------------------------
_LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "hi hello hey thanks thank you want need looking the my is are we our i'm im have when "
        "yes budget company and with for what how".split()
    ),
    "es": frozenset(
        "hola gracias quiero necesito busco tengo presupuesto empresa cuando si usted nosotros "
        "mi es somos soy llamo el los las una y con para que como buenos buenas dias tardes "
        "necesitamos queremos estoy".split()
    ),
    "pt": frozenset(
        "ola oi obrigado obrigada quero preciso procuro tenho orcamento empresa quando sim voce "
        "nos meu minha e somos sou chamo o os as um uma com para que como bom boa dia tarde "
        "precisamos queremos estou nao".split()
    ),
}
# Words that settle es vs pt on their own (they share most of the rest).
_DECISIVE = {
    "es": frozenset(
        "hola gracias quiero necesito busco tengo usted llamo buenos dias estoy".split()
    ),
    "pt": frozenset(
        "ola oi obrigado obrigada quero preciso procuro tenho voce chamo nao estou".split()
    ),
}


def detect_language(text: str) -> str | None:
    """en, es or pt from common words, or None when the text does not say."""
    plain = _plain(text)
    # Accented forms that only one language uses, checked before accents are dropped.
    lowered = text.casefold()
    if re.search(r"\b(?:você|não|orçamento|obrigad[oa]|olá)\b", lowered):
        return "pt"
    if re.search(r"[¿¡ñ]|\b(?:señor|mañana|también)\b", lowered):
        return "es"
    words = re.findall(r"[a-z']+", plain)
    if not words:
        return None
    scores = {lang: sum(word in vocab for word in words) for lang, vocab in _LANGUAGE_WORDS.items()}
    for lang, vocab in _DECISIVE.items():
        scores[lang] += 2 * sum(word in vocab for word in words)
    best = max(scores.values())
    if best == 0:
        return None
    leaders = [lang for lang, score in scores.items() if score == best]
    return leaders[0] if len(leaders) == 1 else None


# --- Parsers ---------------------------------------------------------------------------------
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
    plain = _plain(text)
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
    plain_words = _plain(text)
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
    by_plain = {_plain(word): word for word in original_words}
    restored = [by_plain.get(word, word) for word in plain_words]
    return " ".join(word[:1].upper() + word[1:] for word in restored)


_YES = frozenset(
    "yes y yeah yep sure ok okay correct confirm confirmed please si claro dale correcto "
    "confirmo vale perfecto sim isso pode certo confirmado perfeito ótimo otimo bueno".split()
)
_NO = frozenset("no nope not nah nao negativo tampoco nenhum ninguno ninguna nenhuma".split())


def parse_yes_no(text: str) -> bool | None:
    """True for yes/sí/sim..., False for no/não..., None when the text says neither."""
    words = re.findall(r"[a-z]+", _plain(text))
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
    plain = _plain(text)
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
    plain = _plain(text)
    numbers = [int(n) for n in _OPTION_NUMBER.findall(plain)]
    picks = {n for n in numbers if 1 <= n <= count}
    words = re.findall(r"[a-z0-9]+", plain)
    picks |= {_ORDINALS[word] for word in words if word in _ORDINALS and _ORDINALS[word] <= count}
    if any(word in _LAST for word in words):
        picks.add(count)
    if len(picks) == 1 and len(numbers) <= 1:
        return picks.pop()
    return None


# --- Slots -----------------------------------------------------------------------------------
def format_slot(slot: Slot, zone: ZoneInfo, language: str | None) -> str:
    """"Tue 14 Jan, 10:00 (Europe/Madrid)" in the lead's zone and language."""
    return _format_slot(slot, zone.key, language)


def format_slots(slots: Sequence[Slot], zone: ZoneInfo, language: str | None) -> str:
    """The numbered list the lead picks from."""
    return "\n".join(
        f"{number}. {format_slot(slot, zone, language)}" for number, slot in enumerate(slots, 1)
    )


def offer_reply(slots: Sequence[Slot], zone: ZoneInfo, language: str | None) -> str:
    if not slots:
        return text_for("no_slots", language)
    return text_for("offer", language, slots=format_slots(slots, zone, language))


def confirm_reply(
    slot: Slot, zone: ZoneInfo, language: str | None, *, move: bool = False
) -> str:
    key = "confirm_move" if move else "confirm"
    return text_for(key, language, slot=format_slot(slot, zone, language))


def booked_reply(
    booking: Booking, zone: ZoneInfo, language: str | None, *, moved: bool = False
) -> str:
    slot = Slot(start=booking.start, end=booking.end)
    key = "moved" if moved else "booked"
    reply = text_for(key, language, slot=format_slot(slot, zone, language))
    return f"{reply}\n{booking.link}" if booking.link else reply


SchedulingAction = tuple[Literal["offer", "confirm", "book"], int | None]
"""What the scheduling fallback does: offer fresh slots, ask to confirm slot n, or book slot n."""


def scheduling_action(
    texts: Iterable[str], *, offered: int, proposed: int | None
) -> SchedulingAction:
    """Confirmation before booking: a pick among the offered slots is asked back, and only a yes
    to that question books. Anything else gets fresh options."""
    text = "\n".join(texts)
    if proposed is not None and 1 <= proposed <= offered and parse_yes_no(text) is True:
        choice = parse_slot_choice(text, offered)
        if choice is None or choice == proposed:
            return ("book", proposed)
    choice = parse_slot_choice(text, offered)
    if choice is not None:
        return ("confirm", choice)
    return ("offer", None)


# --- Qualification ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class FallbackStep:
    """The policy's answer to one greeting or qualification turn."""

    reply: str
    profile: LeadProfile
    asked: str | None
    """The item the reply asks for (None once everything is known)."""
    language: str


_NEED_CUES = re.compile(
    r"\b(?:need|want|looking for|interested in|we'd like|i'd like|necesito|necesitamos|quiero|"
    r"queremos|busco|buscamos|me interesa|preciso|precisamos|quero|queremos|procuro|procuramos|"
    r"tenho interesse)\b"
)


def next_item(profile: LeadProfile) -> str | None:
    """The next item to ask for, in `ITEMS` order."""
    for item in ITEMS:
        if getattr(profile, item) is None:
            return item
    return None


def _with(profile: LeadProfile, **values: object) -> LeadProfile:
    """`profile` with `values` set, each validated on its own: an invalid one is dropped."""
    current = profile
    for key, value in values.items():
        try:
            current = LeadProfile.model_validate({**current.model_dump(), key: value})
        except ValidationError:
            continue
    return current


def qualify(
    profile: LeadProfile,
    *,
    asked: str | None,
    texts: Sequence[str],
    message_id: str | None,
    language: str | None,
    first_turn: bool,
) -> FallbackStep:
    """One greeting/qualification turn: read what the lead said as the answer to what was asked
    (plus anything obvious anywhere), then ask the next missing item."""
    text = "\n".join(t.strip() for t in texts if t.strip())[:MAX_PARSED_CHARS]
    lang = detect_language(text) or language or "en"
    if lang not in LANGUAGES:
        lang = "en"
    words = text[:1000]
    before = profile
    updates: dict[str, object] = {}
    if email := parse_email(text):
        updates["email"] = email
    if name := parse_name(text, asked=asked == "name"):
        updates["name"] = name
    if words:
        if budget := parse_budget(text, bare=asked == "budget"):
            amount, currency = budget
            updates["budget"] = {
                "words": words, "amount": amount, "currency": currency, "message_id": message_id,
            }
        elif asked == "budget":
            updates["budget"] = {"words": words, "message_id": message_id}
        if asked == "need" or (profile.need is None and _NEED_CUES.search(_plain(text))):
            updates["need"] = {"words": words, "message_id": message_id}
        if asked == "authority":
            updates["authority"] = {
                "words": words, "decides": parse_decides(text), "message_id": message_id,
            }
        if asked == "timeline":
            updates["timeline"] = {
                "words": words, "date": parse_date(text, language=lang), "message_id": message_id,
            }
    updated = _with(profile, **updates).model_copy(update={"language": lang})
    item = next_item(updated)
    parts: list[str] = []
    if first_turn:
        parts.append(text_for("hello", lang, name=f" {updated.name}" if updated.name else ""))
    elif updated.model_dump(exclude={"language"}) != before.model_dump(exclude={"language"}):
        parts.append(text_for("thanks", lang))
    parts.append(text_for(f"ask_{item}", lang) if item else text_for("ready", lang))
    return FallbackStep(reply=" ".join(parts), profile=updated, asked=item, language=lang)
