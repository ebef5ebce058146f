"""The lead's language from what they wrote, and the plain form keyword rules match on.

Common-word scores over en, es and pt (the languages of the first deployments), with a few
accented or decisive words settling Spanish against Portuguese. Pure and cheap: it runs on every
burst of the fallback policy and on every fixed text the pipeline sends.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["detect_language", "plain"]


def plain(text: str) -> str:
    """Lower case, without accents, single spaces: what the keyword rules match on."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return re.sub(r"\s+", " ", stripped).strip()


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
    normalized = plain(text)
    # Accented forms that only one language uses, checked before accents are dropped.
    lowered = text.casefold()
    if re.search(r"\b(?:você|não|orçamento|obrigad[oa]|olá)\b", lowered):
        return "pt"
    if re.search(r"[¿¡ñ]|\b(?:señor|mañana|también)\b", lowered):
        return "es"
    words = re.findall(r"[a-z']+", normalized)
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
