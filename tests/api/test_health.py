from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.utils.tcp_proxy import TcpProxy


async def test_healthz_and_readyz_when_everything_is_up(app_client: Any, settings: Any) -> None:
    async with app_client(settings) as (_, client):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["dependencies"]["redis"]["ok"] and body["dependencies"]["postgres"]["ok"]
    assert body["integrations"]["llm"] is False


async def test_readyz_never_shows_a_secret(app_client: Any, make_settings: Any) -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-live-abcdef123456",
        "TWILIO_AUTH_TOKEN": "twilio-token-987",
        "META_APP_SECRET": "meta-secret-555",
        "META_VERIFY_TOKEN": "meta-verify-333",
        "META_ACCESS_TOKEN": "meta-access-222",
        "ADMIN_TOKEN": "admin-token-444",
        "CRM_WEBHOOK_SECRET": "whsec-crm-666",
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-hubspot-777",
    }
    settings = make_settings(
        TWILIO_ACCOUNT_SID="AC1", TWILIO_WHATSAPP_NUMBER="+1415", META_PHONE_NUMBER_ID="1",
        CRM_WEBHOOK_URLS=["https://crm.example/hooks?key=url-key-888"], **secrets,
    )
    async with app_client(settings) as (_, client):
        response = await client.get("/readyz")
    assert response.json()["integrations"]["llm"] is True
    assert response.json()["integrations"]["twilio"] is True
    assert response.json()["integrations"]["crm_webhooks"] is True
    assert response.json()["integrations"]["hubspot"] is True
    assert "url-key-888" not in response.text
    for secret in secrets.values():
        assert secret not in response.text


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.mark.parametrize("dependency", ["redis", "postgres"])
async def test_readyz_answers_503_naming_a_dead_dependency(
    app_client: Any, make_settings: Any, redis_url: str, database_url: str, dependency: str
) -> None:
    if dependency == "redis" and not redis_url.startswith("redis://"):
        pytest.skip("the proxy needs a TCP Redis; the embedded one listens on a socket")
    if dependency == "postgres" and "host=/" in database_url:
        pytest.skip("the proxy needs a TCP Postgres; the embedded one listens on a socket")
    url = redis_url if dependency == "redis" else database_url
    host, port = _host_port(url, 6379 if dependency == "redis" else 5432)
    async with TcpProxy(host, port) as proxy:
        proxied = (
            urlsplit(url)
            ._replace(
                netloc=urlsplit(url).netloc.replace(
                    f"{host}:{port}" if urlsplit(url).port else host, f"127.0.0.1:{proxy.port}"
                )
            )
            .geturl()
        )
        key = "REDIS_URL" if dependency == "redis" else "DATABASE_URL"
        async with app_client(make_settings(**{key: proxied})) as (_, client):
            assert (await client.get("/readyz")).status_code == 200
            await proxy.cut()
            down = await client.get("/readyz")
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "unavailable"
            assert body["dependencies"][dependency]["ok"] is False
            other = "postgres" if dependency == "redis" else "redis"
            assert body["dependencies"][other]["ok"] is True
            metrics = (await client.get("/metrics")).text
            assert f'wa_dependency_up{{dependency="{dependency}"}} 0.0' in metrics
            await proxy.restore()
            assert (await client.get("/readyz")).status_code == 200
