"""`MediaDownloader` against local Twilio, CDN and Graph stand-ins that check credentials."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import pytest

from integrations.media import (
    MediaDownloader,
    MediaDownloadFailed,
    MediaError,
    MediaTooLarge,
    UnsupportedMediaType,
    mime_allowed,
    normalize_mime,
)
from integrations.whatsapp.types import MediaRef
from tests.utils.media_hosts import ACCOUNT_SID, AUTH_TOKEN, META_TOKEN, MediaHosts

MiB = 1024 * 1024


@pytest.fixture
def make_downloader(hosts: MediaHosts, http: httpx.AsyncClient) -> Any:
    def build(**overrides: Any) -> MediaDownloader:
        values: dict[str, Any] = {
            "http": http,
            "max_bytes": 16 * MiB,
            "timeout_seconds": 5.0,
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base": hosts.twilio.url,
            "meta_access_token": META_TOKEN,
            "meta_graph_base": hosts.graph_base,
            "attempts": 3,
            "backoff_seconds": 0.0,
            **overrides,
        }
        return MediaDownloader(**values)

    return build


# --- Both channels, the happy path -----------------------------------------------------------


async def test_twilio_media_with_basic_auth_follows_the_redirect_without_the_credentials(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 1000
    hosts.add("ME1", photo, "image/jpeg")
    media = await make_downloader().download("twilio", hosts.twilio_ref("ME1"))
    assert media.data == photo and media.mime_type == "image/jpeg"
    assert hosts.files["ME1"].downloads == 1
    assert hosts.leaked_auth == 0  # the CDN never saw our Authorization header


async def test_meta_media_is_looked_up_then_downloaded_with_the_bearer_token(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    voice = b"OggS" + b"\x00" * 5000
    hosts.add("1234567890", voice, "audio/ogg; codecs=opus")
    ref = hosts.meta_ref("1234567890", voice=True)
    media = await make_downloader().download("meta", ref)
    assert media.data == voice and media.mime_type == "audio/ogg"
    assert hosts.files["1234567890"].lookups == 1


async def test_the_response_type_counts_when_the_webhook_declared_none(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME2", b"%PDF-1.4 ...", "application/pdf")
    media = await make_downloader().download("twilio", hosts.twilio_ref("ME2", mime_type=None))
    assert media.mime_type == "application/pdf"


# --- Credentials --------------------------------------------------------------------------------


async def test_wrong_twilio_credentials_fail_without_retries(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME3", b"x", "image/png")
    with pytest.raises(MediaDownloadFailed) as caught:
        await make_downloader(twilio_auth_token="wrong").download("twilio", hosts.twilio_ref("ME3"))
    assert caught.value.status_code == 401 and not caught.value.retryable
    assert "credentials" in str(caught.value)
    assert hosts.files["ME3"].downloads == 0


async def test_wrong_meta_token_fails_at_the_lookup(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("555", b"x", "image/png")
    with pytest.raises(MediaDownloadFailed) as caught:
        await make_downloader(meta_access_token="expired").download("meta", hosts.meta_ref("555"))
    assert caught.value.status_code == 401
    assert hosts.files["555"].lookups == 0


async def test_twilio_credentials_are_never_sent_to_another_host(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME4", b"x", "image/png")
    elsewhere = MediaRef(url=f"{hosts.cdn.url}/cdn/ME4", mime_type="image/png")
    with pytest.raises(MediaDownloadFailed, match="TWILIO_API_BASE"):
        await make_downloader().download("twilio", elsewhere)
    assert hosts.files["ME4"].downloads == 0 and hosts.leaked_auth == 0


async def test_unset_credentials_say_which_setting_is_missing(make_downloader: Any) -> None:
    downloader = make_downloader(twilio_auth_token=None, meta_access_token=None)
    with pytest.raises(MediaDownloadFailed, match="TWILIO_AUTH_TOKEN"):
        await downloader.download("twilio", MediaRef(url="https://api.twilio.com/x"))
    with pytest.raises(MediaDownloadFailed, match="META_ACCESS_TOKEN"):
        await downloader.download("meta", MediaRef(id="1"))


# --- Size limits ----------------------------------------------------------------------------------


async def test_meta_announced_size_over_the_limit_is_refused_before_downloading(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("777", b"x" * 1000, "image/jpeg", announced_size=30 * MiB)
    with pytest.raises(MediaTooLarge) as caught:
        await make_downloader().download("meta", hosts.meta_ref("777"))
    assert caught.value.size == 30 * MiB and caught.value.limit == 16 * MiB
    assert hosts.files["777"].downloads == 0


async def test_content_length_over_the_limit_is_refused_without_reading_the_body(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    big = hosts.add("ME5", b"\x00" * (32 * MiB), "image/jpeg")
    with pytest.raises(MediaTooLarge) as caught:
        await make_downloader(max_bytes=256 * 1024).download("twilio", hosts.twilio_ref("ME5"))
    assert caught.value.size == 32 * MiB
    assert big.served < len(big.data) // 2


async def test_a_body_without_length_is_cut_off_once_it_crosses_the_limit(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    # The Graph lookup understates the size and the download has no Content-Length.
    big = hosts.add(
        "888", b"\x00" * (32 * MiB), "audio/ogg", content_length=False, announced_size=1000
    )
    with pytest.raises(MediaTooLarge) as caught:
        await make_downloader(max_bytes=256 * 1024).download("meta", hosts.meta_ref("888"))
    assert caught.value.size is None and caught.value.limit == 256 * 1024
    assert big.downloads == 1 and big.served < len(big.data) // 2


async def test_counting_bytes_stops_a_download_whose_size_was_not_announced(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    big = hosts.add("ME6", b"\x00" * (32 * MiB), "image/png", content_length=False)
    with pytest.raises(MediaTooLarge) as caught:
        await make_downloader(max_bytes=256 * 1024).download("twilio", hosts.twilio_ref("ME6"))
    assert caught.value.size is None  # only the counted bytes crossed the limit
    assert big.downloads == 1 and big.served < len(big.data) // 2


# --- Types ----------------------------------------------------------------------------------------


async def test_a_declared_type_outside_the_allow_list_is_refused_without_a_request(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME7", b"x", "application/x-msdownload")
    with pytest.raises(UnsupportedMediaType) as caught:
        await make_downloader().download("twilio", hosts.twilio_ref("ME7"))
    assert caught.value.mime_type == "application/x-msdownload"
    assert hosts.files["ME7"].downloads == 0


async def test_a_served_type_outside_the_allow_list_is_refused(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME8", b"x" * 10, "application/zip")
    with pytest.raises(UnsupportedMediaType):
        await make_downloader().download("twilio", hosts.twilio_ref("ME8", mime_type=None))


def test_mime_types_are_matched_exactly_or_by_prefix() -> None:
    allowed = ["audio/", "image/jpeg", "application/pdf"]
    assert normalize_mime("Audio/OGG; codecs=opus") == "audio/ogg"
    assert mime_allowed("audio/ogg; codecs=opus", allowed)
    assert mime_allowed("IMAGE/JPEG", allowed)
    assert not mime_allowed("image/jpeg2000", allowed)
    assert not mime_allowed("image/heic", allowed)
    assert not mime_allowed(None, allowed) and not mime_allowed("", allowed)


# --- Failures and retries -------------------------------------------------------------------------


async def test_5xx_is_retried_until_the_file_comes(hosts: MediaHosts, make_downloader: Any) -> None:
    hosts.add("ME9", b"photo", "image/png", failures=[503, 500])
    media = await make_downloader().download("twilio", hosts.twilio_ref("ME9"))
    assert media.data == b"photo" and hosts.files["ME9"].downloads == 3


async def test_a_host_that_keeps_failing_gives_up_after_the_attempts(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("999", b"x", "image/png", failures=[500] * 10)
    with pytest.raises(MediaDownloadFailed) as caught:
        await make_downloader(attempts=3).download("meta", hosts.meta_ref("999"))
    assert caught.value.retryable and caught.value.status_code == 500
    assert hosts.files["999"].downloads == 3


async def test_a_stalled_host_times_out_and_is_not_retried(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    hosts.add("ME10", b"x", "image/png", stall=1.5)
    with pytest.raises(MediaDownloadFailed, match="MEDIA_TIMEOUT_SECONDS") as caught:
        await make_downloader(timeout_seconds=0.2).download("twilio", hosts.twilio_ref("ME10"))
    assert not caught.value.retryable
    assert hosts.files["ME10"].downloads == 1


async def test_a_host_that_cannot_be_reached_is_retried_then_reported(
    make_downloader: Any,
) -> None:
    downloader = make_downloader(twilio_api_base="http://127.0.0.1:9", attempts=2)
    with pytest.raises(MediaDownloadFailed, match="could not connect") as caught:
        await downloader.download(
            "twilio", MediaRef(url="http://127.0.0.1:9/2010-04-01/x", mime_type="image/png")
        )
    assert caught.value.retryable


async def test_expired_meta_media_is_a_clear_failure(
    hosts: MediaHosts, make_downloader: Any
) -> None:
    with pytest.raises(MediaDownloadFailed, match="HTTP 400"):
        await make_downloader().download("meta", MediaRef(id="gone", mime_type="image/png"))


# --- Secrets --------------------------------------------------------------------------------------


async def test_no_media_url_or_token_in_logs_or_exceptions(
    hosts: MediaHosts, make_downloader: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # As in production (core.logs.configure_logging): the HTTP client libraries stay quiet.
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO, logger="httpcore")
    hosts.add("ME11", b"x", "image/png", failures=[500] * 5)
    hosts.add("ME12", b"x", "image/png", stall=1.5)
    hosts.add("1111", b"x" * 100, "image/png", announced_size=64 * MiB)
    hosts.add("2222", b"x", "image/png", failures=[502] * 5)
    hosts.add("ME13", b"\x00" * MiB, "image/png", content_length=False)
    hosts.add("ME14", b"x", "application/zip")
    downloader = make_downloader(timeout_seconds=0.3, max_bytes=64 * 1024)
    attempts: list[tuple[str, MediaRef]] = [
        ("twilio", hosts.twilio_ref("ME11")),
        ("twilio", hosts.twilio_ref("ME12")),
        ("meta", hosts.meta_ref("1111")),
        ("meta", hosts.meta_ref("2222")),
        ("twilio", hosts.twilio_ref("ME13")),
        ("twilio", hosts.twilio_ref("ME14", mime_type=None)),
        ("meta", MediaRef(id="missing")),
    ]
    errors: list[MediaError] = []
    for channel, ref in attempts:
        with pytest.raises(MediaError) as caught:
            await downloader.download(channel, ref)
        errors.append(caught.value)
    with pytest.raises(MediaError) as caught:
        await make_downloader(twilio_auth_token="wrong-" + AUTH_TOKEN).download(
            "twilio", hosts.twilio_ref("ME11")
        )
    errors.append(caught.value)
    assert len({type(exc) for exc in errors}) == 3  # too large, unsupported, failed
    rendered = "\n".join(
        [caplog.text, *("".join(traceback.format_exception(exc)) for exc in errors)]
    )
    assert "media download" in caplog.text  # the retries were logged...
    for secret in [*hosts.secrets(), hosts.twilio.url + "/2010", hosts.graph_base + "/"]:
        assert secret not in rendered  # ...without a URL or a token
    assert repr(downloader).count(AUTH_TOKEN) == 0 and META_TOKEN not in repr(downloader)
