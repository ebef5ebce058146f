"""WhatsApp's interactive messages: which layout a set of options fits, and each provider's request.

The limits are WhatsApp's, the same through the Meta Cloud API and through Twilio: a body of at
most 1,024 characters; reply buttons, 1 to 3, titles of at most 20 characters; a list message,
1 to 10 rows, row titles of at most 24 characters and descriptions of at most 72, row ids of at
most 200, and the button that opens it at most 20. Options that fit neither layout are not cut to
fit (a cut slot title could name another slot): the reply goes out as text (`layout` is None).

Slot offers always use the list: its rows have room for the slot's zone, and the lead sees every
time at once. Other options use buttons where they fit.

On Twilio the layouts are Content API templates (`twilio/quick-reply`, `twilio/list-picker`).
Every text in them is a variable (`twilio_content`), so a template depends only on its shape (the
layout, the number of options, whether rows have descriptions): a handful of templates serve
every message, created once and cached by their definition (`TwilioClient`).

Everything here is pure.
"""

from __future__ import annotations

from typing import Any, Literal

from domain.reply import Options

__all__ = [
    "BODY_LIMIT",
    "Layout",
    "layout",
    "meta_interactive",
    "twilio_content",
]

Layout = Literal["buttons", "list"]

BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
MAX_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ID_LIMIT = 200
LIST_BUTTON_LIMIT = 20


def layout(body: str, options: Options) -> Layout | None:
    """How `options` show under `body`: reply buttons, a list, or None (send the text)."""
    choices = options.choices
    if not body.strip() or len(body) > BODY_LIMIT or not choices:
        return None
    ids = [choice.id for choice in choices]
    titles = [choice.title.strip() for choice in choices]
    if len(set(ids)) != len(ids) or any(not i or len(i) > ID_LIMIT for i in ids):
        return None
    if len(set(titles)) != len(titles) or not all(titles):
        return None  # WhatsApp refuses two buttons (or rows) of one title
    if (
        options.kind != "slots"
        and len(choices) <= MAX_BUTTONS
        and all(len(title) <= BUTTON_TITLE_LIMIT for title in titles)
    ):
        return "buttons"
    if (
        len(choices) <= MAX_ROWS
        and all(len(title) <= ROW_TITLE_LIMIT for title in titles)
        and all(len(c.description or "") <= ROW_DESCRIPTION_LIMIT for c in choices)
        and 0 < len(options.button.strip()) <= LIST_BUTTON_LIMIT
    ):
        return "list"
    return None


def meta_interactive(body: str, options: Options, shape: Layout) -> dict[str, Any]:
    """The Graph API's `interactive` object of a reply-buttons or list message."""
    if shape == "buttons":
        return {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": c.id, "title": c.title.strip()}}
                    for c in options.choices
                ]
            },
        }
    rows: list[dict[str, str]] = []
    for choice in options.choices:
        row = {"id": choice.id, "title": choice.title.strip()}
        if choice.description:
            row["description"] = choice.description
        rows.append(row)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": options.button.strip(), "sections": [{"rows": rows}]},
    }


def twilio_content(
    body: str, options: Options, shape: Layout
) -> tuple[dict[str, Any], dict[str, str]]:
    """The Content API `types` of a template for this shape, every text in it a variable, and
    the values of those variables for this message (`ContentVariables`)."""
    values: dict[str, str] = {}

    def var(value: str) -> str:
        number = str(len(values) + 1)
        values[number] = value
        return "{{" + number + "}}"

    if shape == "buttons":
        definition: dict[str, Any] = {
            "twilio/quick-reply": {
                "body": var(body),
                "actions": [
                    {"title": var(c.title.strip()), "id": var(c.id)} for c in options.choices
                ],
            }
        }
        return definition, values
    described = all(choice.description for choice in options.choices)
    items = []
    picker: dict[str, Any] = {"body": var(body), "button": var(options.button.strip())}
    for choice in options.choices:
        item = {"item": var(choice.title.strip()), "id": var(choice.id)}
        if described and choice.description:
            item["description"] = var(choice.description)
        items.append(item)
    picker["items"] = items
    return {"twilio/list-picker": picker}, values
