"""The console in a real Chromium (Playwright for Python driving Debian's `chromium`), against
the whole app served by uvicorn on 127.0.0.1: its workers, the live feed from Postgres, the
WhatsApp stand-ins. Screenshots of the inbox, a conversation and the funnel go to
`var/screenshots/` (`docs/screenshots/` holds the README's copies).

Without Chromium on the machine, the module is skipped with one line saying so.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip(
        "browser tests skipped: no `chromium` on PATH (install Debian's chromium package; "
        ".ci/run does)",
        allow_module_level=True,
    )

import psycopg  # noqa: E402
import redis  # noqa: E402
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright  # noqa: E402

from console.users import UserStore  # noqa: E402
from core.config import Settings  # noqa: E402
from core.connections import open_pool  # noqa: E402
from server import create_app  # noqa: E402
from tests.utils.console import NEW_PASSWORD, wait_for  # noqa: E402
from tests.utils.e2e import (  # noqa: E402
    StandIns,
    meta_payload,
    meta_text,
    settings_for,
    sign_meta,
)
from tests.utils.servers import ThreadedServer  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SECRET = "console-browser-session-secret-0123456789"


@dataclass
class Service:
    """The app served on 127.0.0.1, and what the tests check behind it."""

    url: str
    stand_ins: StandIns
    database_url: str
    schema: str

    def post_meta(self, text: str, *, contact: str, name: str) -> None:
        """A signed Meta delivery, as WhatsApp would post it."""
        body = json.dumps(meta_payload(meta_text(text, contact=contact), name=name)).encode()
        response = httpx.post(
            self.url + "/webhooks/meta", content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign_meta(body)},
        )
        assert response.status_code == 200, response.text

    def meta_texts(self, contact: str) -> list[str]:
        """What the Meta stand-in accepted for `contact`."""
        return [
            r.json["text"]["body"] for r in list(self.stand_ins.meta.requests)
            if r.json and r.json.get("type") == "text"
            and str(r.json.get("to", "")).lstrip("+") == contact.lstrip("+")
        ]

    def add_user(self, email: str, *, role: str, name: str) -> str:
        """A console user (as `make user` makes one); its one-time password."""

        async def put() -> str:
            pool = await open_pool(self.database_url, server_settings={"search_path": self.schema})
            try:
                store = UserStore(
                    pool, clock=lambda: datetime.now(UTC), session_lifetime=timedelta(hours=1)
                )
                _user, password = await store.put_user(email=email, name=name, role=role)
                return password
            finally:
                await pool.close()

        # In a thread of its own: Playwright's sync API keeps an event loop on this one.
        with ThreadPoolExecutor(1) as thread:
            return thread.submit(asyncio.run, put()).result()


@pytest.fixture(scope="module")
def service(
    stand_ins: StandIns, redis_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """The whole app under uvicorn in a thread, in a schema of its own."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    data_dir = tmp_path_factory.mktemp("console")

    def build(**values: Any) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None, REDIS_URL=redis_url, DATABASE_URL=database_url, DATA_DIR=data_dir,
            **values,
        )

    stand_ins.reset()
    settings = settings_for(
        build, stand_ins, SESSION_SECRET=SECRET, BUFFER_QUIET_MS=20, BUFFER_MAX_WAIT_MS=200
    )
    app = create_app(settings, db_server_settings={"search_path": schema})
    try:
        with ThreadedServer(app, lifespan="on") as server:
            yield Service(server.url, stand_ins, database_url, schema)
    finally:
        store.flushdb()
        store.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A fresh browser context (no cookies), on a desktop screen."""
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, service: Service, email: str, *, role: str, name: str) -> None:
    """Sign in with a new user's one-time password, then choose a password, as a person does."""
    password = service.add_user(email, role=role, name=name)
    page.goto("/console")
    expect(page).to_have_url(f"{service.url}/console/login?next=%2Fconsole")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_label("Repeat it").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_a_handoff_appears_live_and_the_manager_replies_releases_and_wins(
    page: Page, service: Service
) -> None:
    lead = "+5491155550001"
    sign_in(page, service, "boss@sales.example", role="admin", name="Marta Boss")
    page.goto("/console")
    expect(page.locator("body[data-live=open]")).to_be_attached()  # the event stream is open

    # A lead writes and asks for a person while the inbox is open: it appears without a reload.
    service.post_meta("Hola, necesito un CRM para 20 vendedores", contact=lead, name="Ana García")
    service.post_meta("/human", contact=lead, name="Ana García")
    row = page.locator(".conversation", has_text="Ana García")
    expect(row.locator(".badge.handoff")).to_have_text("handoff waiting")
    expect(row).to_contain_text("waiting for a human")
    screenshot(page, "inbox")

    row.get_by_role("link").click()
    expect(page.locator("#transcript")).to_contain_text("necesito un CRM")
    expect(page.locator("#window")).to_contain_text("Reply window: 23 h")
    page.get_by_label("Reply as the business").fill("Hola Ana, soy Marta. ¿Hablamos mañana?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".notice")).to_have_text("Sent.")
    wait_for(
        lambda: "Hola Ana, soy Marta. ¿Hablamos mañana?" in service.meta_texts(lead),
        what="the reply at the Meta stand-in",
    )
    expect(page.locator("#mode")).to_have_text("human")
    expect(page.locator(".msg.human .who").last).to_have_text("Marta Boss")

    # The lead answers while the page is open: it appears live, and the bot stays silent.
    service.post_meta("Sí, mañana a las 10", contact=lead, name="Ana García")
    expect(page.locator("#transcript")).to_contain_text("Sí, mañana a las 10")
    screenshot(page, "conversation")

    page.get_by_role("button", name="Release to the bot").click()
    expect(page.locator(".notice")).to_have_text("The conversation is back with the bot.")
    expect(page.locator("#mode")).to_have_text("bot")

    page.goto("/console/funnel")
    expect(page.locator("#status-won")).to_have_text("0")
    expect(page.locator("#status-handed_off")).to_have_text("1")
    page.go_back()
    page.get_by_role("button", name="Mark won").click()
    expect(page.locator(".notice")).to_have_text("Marked won.")
    expect(page.locator("#status")).to_have_text("won")
    page.get_by_role("link", name="Funnel").click()
    expect(page.locator("#status-won")).to_have_text("1")
    expect(page.locator("#status-handed_off")).to_have_text("0")
    expect(page.locator("#step-won")).to_have_text("1")
    screenshot(page, "funnel")


def test_an_agent_is_refused_an_admin_page(page: Page, service: Service) -> None:
    sign_in(page, service, "agent@sales.example", role="agent", name="Luis Agent")
    expect(page.get_by_role("link", name="People")).to_have_count(0)
    response = page.goto("/console/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Admins only")).to_be_visible()


def test_a_script_in_a_leads_name_is_shown_as_text_on_a_phone(
    browser: Browser, service: Service
) -> None:
    context = browser.new_context(
        base_url=service.url, viewport={"width": 390, "height": 844}, is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    try:
        sign_in(page, service, "phone@sales.example", role="agent", name="Pia Phone")
        expect(page.locator("body[data-live=open]")).to_be_attached()
        script = "<script>alert(1)</script>"
        service.post_meta(f"hi {script}", contact="+5491155550002", name=script)
        # The bot takes a name from the profile name (letters only); the profile name itself,
        # and the message, show as text: the markup does not run.
        row = page.locator(".conversation", has_text="alert")
        expect(row.locator(".profile-name")).to_have_text(script)
        row.get_by_role("link").click()
        expect(page.locator(".lead-panel .profile-name")).to_have_text(script)
        expect(page.locator("#transcript .msg.lead .text")).to_have_text(f"hi {script}")
        assert page.locator("script").count() == 1  # the console's own script, nothing else
        # One column on a phone: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert dialogs == []
    finally:
        context.close()
