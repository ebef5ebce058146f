"""Markdown to WhatsApp, splitting at each provider's limit, and E.164 numbers."""

from __future__ import annotations

import random

import pytest

from integrations.whatsapp.errors import PayloadMalformed
from integrations.whatsapp.formatting import (
    META_TEXT_LIMIT,
    TWILIO_TEXT_LIMIT,
    reply_address,
    split_message,
    to_e164,
    to_whatsapp,
)

# --- Markdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold**", "*bold*"),
        ("__bold__", "*bold*"),
        ("*italic*", "_italic_"),
        ("_italic_", "_italic_"),
        ("~~strike~~", "~strike~"),
        ("***both***", "*_both_*"),
        ("**bold** and *italic* in one", "*bold* and _italic_ in one"),
        ("**bold with *italic* inside**", "*bold with _italic_ inside*"),
        ("# Plans", "*Plans*"),
        ("### Next steps ###", "*Next steps*"),
        ("## **Already bold**", "*Already bold*"),
        ("[our site](https://example.com)", "our site (https://example.com)"),
        ("[https://example.com](https://example.com)", "https://example.com"),
        ('[docs](https://example.com/d "Docs")', "docs (https://example.com/d)"),
        ("![logo](https://example.com/l.png)", "logo (https://example.com/l.png)"),
        ("* one\n* two\n+ three", "- one\n- two\n- three"),
        ("- one\n  - nested", "- one\n  - nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted", "> quoted"),
        ("2*3*4 = 24 and snake_case_name", "2*3*4 = 24 and snake_case_name"),
        ("a * b * c", "a * b * c"),
        ("price: \\*special\\*", "price: *special*"),
        ("above\n\n---\n\nbelow", "above\n\nbelow"),
        ("too\n\n\n\nmany blank lines", "too\n\nmany blank lines"),
        ("`**code**` stays", "`**code**` stays"),
        ("```python\nx = **y**\n# not a heading\n```", "```\nx = **y**\n# not a heading\n```"),
        ("```\nplain\n```", "```\nplain\n```"),
        ("Hola 👋 **¿Cómo estás?**", "Hola 👋 *¿Cómo estás?*"),
        ("", ""),
    ],
)
def test_markdown_to_whatsapp(markdown: str, expected: str) -> None:
    assert to_whatsapp(markdown) == expected


def test_tables_are_flattened_to_lines() -> None:
    markdown = (
        "Our plans:\n\n"
        "| Plan | Price | Seats |\n"
        "|:-----|------:|:-----:|\n"
        "| Basic | $10 | 1 |\n"
        "| **Pro** | $20 | |\n"
        "\nAny questions?"
    )
    assert to_whatsapp(markdown) == (
        "Our plans:\n\n"
        "- Plan: Basic, Price: $10, Seats: 1\n"
        "- Plan: *Pro*, Price: $20\n"
        "\nAny questions?"
    )


def test_a_pipe_without_separator_row_is_not_a_table() -> None:
    assert to_whatsapp("yes | no") == "yes | no"


def test_a_whole_reply() -> None:
    markdown = (
        "## Thanks, Ana!\n\n"
        "Here is what I understood:\n\n"
        "* **Budget**: about $20k\n"
        "* **Timeline**: *next quarter*\n\n"
        "You can read more on [our pricing page](https://example.com/pricing)."
    )
    assert to_whatsapp(markdown) == (
        "*Thanks, Ana!*\n\n"
        "Here is what I understood:\n\n"
        "- *Budget*: about $20k\n"
        "- *Timeline*: _next quarter_\n\n"
        "You can read more on our pricing page (https://example.com/pricing)."
    )


# --- Splitting ---------------------------------------------------------------------------------


def assert_faithful(original: str, parts: list[str], limit: int) -> None:
    """Every part within the limit, none blank; joined, they are the original text with only the
    whitespace at the cut points dropped: nothing lost, nothing reordered."""
    assert all(0 < len(part) <= limit for part in parts)
    assert all(part == part.strip() for part in parts)
    position = 0
    for part in parts:
        while position < len(original) and original[position].isspace():
            position += 1
        assert original.startswith(part, position), (part[:40], original[position:position + 40])
        position += len(part)
    assert original[position:].strip() == ""


def test_short_text_is_one_part() -> None:
    assert split_message("  Hello!  ", 1600) == ["Hello!"]


def test_blank_text_is_no_part() -> None:
    assert split_message(" \n\n ", 1600) == []


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_message("x", 0)


def test_prefers_paragraphs() -> None:
    first = "First paragraph. " * 50  # 850 characters
    second = "Second paragraph. " * 60  # 1,080: both do not fit in one message
    text = f"{first.strip()}\n\n{second.strip()}"
    assert split_message(text, TWILIO_TEXT_LIMIT) == [first.strip(), second.strip()]


def test_then_sentences() -> None:
    sentence = "This sentence is exactly forty chars.. "
    text = (sentence * 60).strip()
    parts = split_message(text, TWILIO_TEXT_LIMIT)
    assert all(part.endswith("..") for part in parts)
    assert_faithful(text, parts, TWILIO_TEXT_LIMIT)


def test_sentence_end_keeps_its_closing_quote() -> None:
    parts = split_message('He said "yes." Then left. Later he came back.', 20)
    assert parts == ['He said "yes."', "Then left.", "Later he came back."]


def test_then_words() -> None:
    text = " ".join(["word"] * 1000)
    parts = split_message(text, TWILIO_TEXT_LIMIT)
    assert all(not part.endswith("wor") for part in parts)
    assert_faithful(text, parts, TWILIO_TEXT_LIMIT)


def test_an_overlong_word_is_hard_split() -> None:
    url = "https://example.com/" + "a" * 5000
    text = f"See {url} now"
    parts = split_message(text, TWILIO_TEXT_LIMIT)
    assert parts[0] == "See"
    assert [len(part) for part in parts[1:-1]] == [TWILIO_TEXT_LIMIT] * 3
    assert parts[-1] == "a" * (len(url) - 3 * TWILIO_TEXT_LIMIT) + " now"
    assert_faithful(text, parts, TWILIO_TEXT_LIMIT)


def test_a_short_first_paragraph_does_not_cost_a_message() -> None:
    text = "Hi Ana!\n\n" + "Some detail here. " * 100
    parts = split_message(text, TWILIO_TEXT_LIMIT)
    assert parts[0].startswith("Hi Ana!\n\nSome detail")
    assert len(parts) == 2


_WORDS = ["a", "plan", "presupuesto", "¿Cuándo?", "👋", "https://example.com/x", "ok.", "Yes!",
          "x" * 70, "end.\n", "\n\n", "line\n", "  ", "\t", "(quote.)", "“done.”"]


@pytest.mark.parametrize("limit", [TWILIO_TEXT_LIMIT, META_TEXT_LIMIT, 1, 7, 50])
def test_random_texts_split_faithfully(limit: int) -> None:
    rng = random.Random(limit)
    for _ in range(60):
        size = rng.randint(0, 4 * limit if limit > 100 else 300)
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        text = " ".join(words)
        parts = split_message(text, limit)
        assert_faithful(text, parts, limit)
        if len(text.strip()) <= limit:
            assert parts == ([text.strip()] if text.strip() else [])


def test_long_reply_split_for_each_provider() -> None:
    paragraph = ("We offer onboarding, support and training for your whole team. " * 10).strip()
    text = "\n\n".join([paragraph] * 20)  # ~12,800 characters
    twilio_parts = split_message(text, TWILIO_TEXT_LIMIT)
    meta_parts = split_message(text, META_TEXT_LIMIT)
    assert len(twilio_parts) > len(meta_parts) > 1
    assert_faithful(text, twilio_parts, TWILIO_TEXT_LIMIT)
    assert_faithful(text, meta_parts, META_TEXT_LIMIT)
    assert all(part.endswith("team.") for part in twilio_parts + meta_parts)


# --- E.164 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("5491123456789", "+5491123456789"),
        ("+5491123456789", "+5491123456789"),
        ("16505551234", "+16505551234"),
        ("+1 (650) 555-1234", "+16505551234"),
        (" 34612345678 ", "+34612345678"),
        # WhatsApp's Mexican mobile form (+52 1 and ten digits) is one person with +52 and ten.
        ("5215512345678", "+525512345678"),
        ("+5215512345678", "+525512345678"),
        ("+525512345678", "+525512345678"),
        ("5218112345678", "+528112345678"),
        # Argentina's mobile form keeps its 9: that is E.164.
        ("5492614123456", "+5492614123456"),
    ],
)
def test_to_e164(number: str, expected: str) -> None:
    assert to_e164(number) == expected


@pytest.mark.parametrize(
    ("number", "address"),
    [
        ("5215512345678", "5215512345678"),  # Meta's wa_id, exactly
        ("+5215512345678", "+5215512345678"),  # Twilio's From
        ("5491123456789", "5491123456789"),
        ("+5491123456789", None),  # already the canonical number
        ("+1 (650) 555-1234", None),  # a display form: replies go to the canonical number
    ],
)
def test_reply_address_is_the_number_as_the_provider_wrote_it(
    number: str, address: str | None
) -> None:
    assert reply_address(number, to_e164(number)) == address


@pytest.mark.parametrize("number", ["", "  ", "abc", "+", "12", "+999123", "9" * 25])
def test_to_e164_refuses_non_numbers(number: str) -> None:
    with pytest.raises(PayloadMalformed):
        to_e164(number)
