"""The few fixed texts the pipeline sends itself, in the languages leads write in most."""

from __future__ import annotations

from graph.fallback import detect_language

__all__ = ["guess_language", "text_for"]

TEXTS: dict[str, dict[str, str]] = {
    "apology": {
        "en": "Sorry, we couldn't process your request. Please try again later.",
        "es": "Lo sentimos, no pudimos procesar tu solicitud. Por favor, inténtalo más tarde.",
        "pt": "Desculpe, não conseguimos processar sua solicitação. Tente novamente mais tarde.",
    },
    "help": {
        "en": "I'm the sales assistant. Tell me what you need and I'll help you get a quote and "
        "book a call. Commands: /human to talk to a person, /reset to start over, /stop to "
        "stop receiving messages.",
        "es": "Soy el asistente de ventas. Cuéntame qué necesitas y te ayudo con una cotización y "
        "una llamada. Comandos: /human para hablar con una persona, /reset para empezar de "
        "nuevo, /stop para dejar de recibir mensajes.",
        "pt": "Sou o assistente de vendas. Conte o que você precisa e eu ajudo com um orçamento e "
        "uma ligação. Comandos: /human para falar com uma pessoa, /reset para recomeçar, /stop "
        "para parar de receber mensagens.",
    },
    "reset": {
        "en": "Done, we're starting over. How can I help you?",
        "es": "Listo, empezamos de nuevo. ¿En qué te puedo ayudar?",
        "pt": "Pronto, vamos recomeçar. Como posso ajudar?",
    },
    "stopped": {
        "en": "You won't receive more messages from us. Send /start if you change your mind.",
        "es": "No recibirás más mensajes nuestros. Envía /start si cambias de opinión.",
        "pt": "Você não receberá mais mensagens nossas. Envie /start se mudar de ideia.",
    },
    "started": {
        "en": "Welcome back! How can I help you?",
        "es": "¡Bienvenido de nuevo! ¿En qué te puedo ayudar?",
        "pt": "Bem-vindo de volta! Como posso ajudar?",
    },
}

# Opt-out words that name their language, which the word-frequency rule cannot know.
_COMMAND_LANGUAGE = {"baja": "es", "parar": "pt"}


def guess_language(text: str, default: str = "en") -> str:
    """The lead's language from common words (the fallback policy's rule) or a command word,
    else `default`."""
    if language := detect_language(text):
        return language
    words = (word.strip(".!") for word in text.casefold().split())
    return next((_COMMAND_LANGUAGE[w] for w in words if w in _COMMAND_LANGUAGE), default)


def text_for(name: str, language: str | None) -> str:
    """The fixed text `name` in `language`, English when that language has none."""
    variants = TEXTS[name]
    return variants.get((language or "en")[:2], variants["en"])
