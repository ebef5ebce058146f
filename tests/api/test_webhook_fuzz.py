"""Issue #15: both webhooks fuzzed with hypothesis, every request signed as the provider signs it,
against the whole service served by uvicorn (body limit, parsing, buffer, workers, replies).

Whatever arrives, the service answers without a 5xx and without hanging, and nothing it does with
what it accepted (the turns the workers run on it) logs an ERROR. Examples are random when run by
hand and the same on every CI run (`CI` set): CI checks what was found, a developer finds more.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import httpx
import psycopg
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from core.config import Settings
from tests.utils.e2e import StandIns, running_stand_ins, settings_for, sign_meta
from tests.utils.servers import ThreadedServer
from tests.utils.whatsapp_stand_ins import AUTH_TOKEN

FUZZ = settings(
    max_examples=120,
    deadline=None,  # a request has its own timeout below; a slow example is not a failure
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REQUEST_TIMEOUT = 15.0  # "no hang": a request that takes longer fails the example

# The service runs in a thread of this process and uses `random` (retry jitter, ids) while
# hypothesis draws; hypothesis takes that for a strategy using `random`. None of ours does.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies"
)


class ErrorRecords(logging.Handler):
    """Every ERROR (or worse) any logger of the process emits, from any thread."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Service:
    url: str
    http: httpx.Client
    errors: ErrorRecords
    redis: redis.Redis


@pytest.fixture(scope="module")
def service(
    redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The app served by uvicorn in a thread, in a Postgres schema and Redis database of its own
    for this module, its workers running, both channels on local stand-ins."""
    from server import create_app

    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    data_dir = tmp_path_factory.mktemp("fuzz")

    def build(**values: Any) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None, REDIS_URL=redis_url, DATABASE_URL=database_url, DATA_DIR=data_dir,
            **values,
        )

    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    stand_ins: StandIns
    with running_stand_ins() as stand_ins:
        app = create_app(
            settings_for(build, stand_ins, BUFFER_QUIET_MS=20, BUFFER_MAX_WAIT_MS=200),
            db_server_settings={"search_path": schema},
        )
        try:
            with ThreadedServer(app, lifespan="on") as server, httpx.Client(
                base_url=server.url, timeout=REQUEST_TIMEOUT
            ) as http:
                yield Service(url=server.url, http=http, errors=errors, redis=store)
        finally:
            logging.getLogger().removeHandler(errors)
            store.flushdb()
            store.close()
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# --- Strategies ----------------------------------------------------------------------------------


def mostly(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` four times in five, else `odd`: most examples get past the parser, to the buffer,
    the workers and the replies; the rest probe the refusals."""
    return st.sampled_from([True, True, True, True, False]).flatmap(
        lambda pick: good if pick else odd
    )


# What breaks parsers and storage: lone surrogates, NUL, line breaks, markup, long runs.
_TRICKY = st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\r", "\n", "\u2028", "@", ".", "*", "_", "~", "`", "+", "1", "ñ"]
)
_CHARS = st.one_of(st.characters(), _TRICKY)
TEXT = st.one_of(
    st.text(_CHARS, max_size=60),
    st.builds(lambda part, count: part * count, st.text(_CHARS, min_size=1, max_size=4),
              st.integers(0, 12_000)),
)
NUMBER = mostly(
    st.one_of(
        st.sampled_from(["5215512345678", "5491123456789", "16505551234", "+34612345678"]),
        st.from_regex(r"\A[1-9][0-9]{9,12}\Z"),
    ),
    st.one_of(st.from_regex(r"\A\+?[0-9]{0,18}\Z"), TEXT),
)
# A new provider message id per draw (hypothesis repeats drawn values a lot; the dedup would
# swallow most messages). A counter, not `random`: examples stay reproducible otherwise.
_ids = itertools.count(1)
FRESH_ID = st.builds(lambda: next(_ids))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
META_TYPES = [
    "text", "image", "audio", "video", "document", "sticker", "location", "contacts",
    "interactive", "button", "reaction", "unsupported", "order", "",
]


@st.composite
def meta_message(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(META_TYPES))
    content = draw(st.one_of(
        st.fixed_dictionaries({"body": TEXT}),
        st.fixed_dictionaries({"body": TEXT}),
        st.fixed_dictionaries({"id": TEXT, "mime_type": TEXT, "caption": TEXT}),
        st.fixed_dictionaries({"latitude": JSON_LEAF, "longitude": JSON_LEAF, "name": TEXT}),
        st.fixed_dictionaries({"type": st.sampled_from(["button_reply", "list_reply", "x"]),
                               "button_reply": st.fixed_dictionaries({"id": TEXT,
                                                                      "title": TEXT})}),
        JSON,
    ))
    message: dict[str, Any] = {
        "from": draw(NUMBER),
        "id": draw(mostly(FRESH_ID.map(lambda n: f"wamid.fuzz{n}"), TEXT)),
        "timestamp": draw(mostly(st.just(str(int(time.time()))), st.one_of(st.integers(), TEXT))),
        "type": kind,
        kind: content,
    }
    if draw(st.booleans()):
        message["context"] = draw(st.one_of(st.fixed_dictionaries({"id": TEXT}), JSON))
    return message


@st.composite
def meta_body(draw: st.DrawFn) -> bytes:
    messages = draw(st.lists(meta_message(), min_size=1, max_size=3))
    contacts = [
        {"profile": {"name": draw(TEXT)}, "wa_id": m["from"]} for m in messages
        if isinstance(m["from"], str)
    ]
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{
            "field": draw(mostly(st.just("messages"), st.sampled_from(["statuses", "", "x"]))),
            "value": {"messaging_product": "whatsapp", "contacts": contacts,
                      "messages": messages},
        }]}],
    }
    payload = draw(mostly(st.just(envelope), JSON))
    if not draw(st.sampled_from([True] * 9 + [False])):
        return draw(st.binary(max_size=200))  # not JSON at all
    text = json.dumps(payload, ensure_ascii=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")  # raw surrogate bytes when not escaped


TWILIO_KEYS = [
    "From", "To", "Body", "MessageSid", "SmsSid", "AccountSid", "ProfileName", "WaId",
    "NumMedia", "MediaUrl0", "MediaContentType0", "MessageType", "Latitude", "Longitude",
    "ButtonText", "ButtonPayload", "ListId", "ListTitle", "MessageStatus",
    "OriginalRepliedMessageSid",
]


@st.composite
def twilio_body(draw: st.DrawFn) -> str:
    """A form body, percent-encoded by hand so that any text (lone surrogates too) goes out."""
    form = {
        "From": "whatsapp:+" + draw(NUMBER).lstrip("+"),
        "MessageSid": f"SMfuzz{draw(FRESH_ID)}",
        "Body": draw(TEXT),
        "NumMedia": draw(mostly(st.just("0"), st.one_of(st.sampled_from(["1", "11", "-1"]), TEXT))),
    }
    extra = draw(mostly(
        st.dictionaries(st.sampled_from(TWILIO_KEYS[2:]), TEXT, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(TWILIO_KEYS), TEXT), TEXT, max_size=6),
    ))
    form |= extra
    return "&".join(
        f"{quote_plus(key.encode('utf-8', 'surrogatepass'))}="
        f"{quote_plus(value.encode('utf-8', 'surrogatepass'))}"
        for key, value in form.items()
    )


# --- The fuzz ------------------------------------------------------------------------------------


def _post(service: Service, path: str, body: bytes, headers: dict[str, str]) -> None:
    """One request: answered in time, not with a 5xx, and no ERROR logged while it was handled."""
    errors_before = len(service.errors.records)
    response = service.http.post(path, content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.status_code in (200, 400, 413), response.text
    logged = service.errors.records[errors_before:]
    assert not [r for r in logged if r.name.startswith("api.")], logged


@FUZZ
@given(body=meta_body())
def test_signed_meta_deliveries_never_get_a_5xx(service: Service, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign_meta(body)}
    _post(service, "/webhooks/meta", body, headers)


@FUZZ
@given(body=twilio_body())
def test_signed_twilio_forms_never_get_a_5xx(service: Service, body: str) -> None:
    # Signed over the form as the server decodes it (invalid UTF-8 as U+FFFD), as Twilio would.
    params = dict(parse_qsl(body, keep_blank_values=True))
    url = f"{service.url}/webhooks/twilio"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
    }
    _post(service, "/webhooks/twilio", body.encode(), headers)


def test_what_the_fuzz_buffered_is_processed_without_an_error(service: Service) -> None:
    """Runs after the two above (file order): the workers answer everything they accepted."""
    deadline = time.monotonic() + 120
    while service.redis.zcard("wa:due") or service.redis.keys("wa:c:*"):
        assert time.monotonic() < deadline, "the buffer did not drain"
        time.sleep(0.1)
    buffered = len(service.redis.keys("wa:seen:*"))
    assert buffered >= 20, f"only {buffered} messages got through: the strategies are off"
    problems = [f"{r.name}: {r.getMessage()}" for r in service.errors.records]
    assert problems == []

