from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from pipeline.wiring import LogChannel, build_channels


async def test_local_development_logs_replies_of_unconfigured_channels(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as http:
        channels = build_channels(make_settings(ALLOW_UNSIGNED_WEBHOOKS=True), http)
        assert isinstance(channels.get("meta"), LogChannel)
        with caplog.at_level("WARNING"):
            ids = await channels.send_text("meta", "+34600111222", "¡Hola Ana!")
    assert ids == ["log.meta.1"]
    assert "¡Hola Ana!" in caplog.text
    assert "+34600111222" not in caplog.text  # masked


async def test_production_has_no_log_channel(make_settings: Any) -> None:
    from integrations.whatsapp.errors import ChannelNotConfigured

    async with aiohttp.ClientSession() as http:
        channels = build_channels(
            make_settings(
                META_APP_SECRET="s3cret-app", META_ACCESS_TOKEN="EAAG-token",
                META_PHONE_NUMBER_ID="106540352242922", META_VERIFY_TOKEN="verify",
            ),
            http,
        )
    assert "meta" in channels and not isinstance(channels.get("meta"), LogChannel)
    with pytest.raises(ChannelNotConfigured):
        channels.get("twilio")
