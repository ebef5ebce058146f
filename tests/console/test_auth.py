"""The console over plain HTTP (the real app in process): sessions, CSRF, the sign-in limit, who
may see what, the headers every page sends, `make user`."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from console.deps import LOGIN_COOKIE, SESSION_COOKIE
from console.security import CONTENT_SECURITY_POLICY
from tests.utils.console import NEW_PASSWORD, add_user, csrf_of, sign_in, signed_in
from tests.utils.e2e import CONTACT, E2E, StandIns, meta_payload, meta_text, running, settings_for

SECRET = "console-test-session-secret-0123456789"
ADMIN, AGENT = "boss@sales.example", "agent@sales.example"


def console_settings(make_settings: Any, stand_ins: StandIns, **overrides: Any) -> Any:
    return settings_for(make_settings, stand_ins, SESSION_SECRET=SECRET, **overrides)


async def hand_over(e2e: E2E, contact: str = CONTACT, name: str = "Ana García") -> int:
    """A lead who asks for a person; returns the contact's id."""
    response = await e2e.post_meta(meta_payload(meta_text("/human", contact=contact), name=name))
    assert response.status_code == 200
    await e2e.wait_meta_replies(1, contact=contact)
    contact_id = await e2e.fetchval("SELECT id FROM contacts WHERE number = $1", contact)
    assert isinstance(contact_id, int)
    return contact_id


# --- Sessions ----------------------------------------------------------------------------------

PAGES = ["/console", "/console/c/1", "/console/funnel", "/console/crm", "/console/users",
         "/console/password", "/console/c/1/erase"]
FRAGMENTS = ["/console/conversations", "/console/events", "/console/c/1/live",
             "/console/funnel.csv", "/console/c/1/media/1/0"]
POSTS = ["/console/logout", "/console/c/1/takeover", "/console/c/1/reply", "/console/c/1/release",
         "/console/c/1/outcome", "/console/c/1/erase", "/console/users", "/console/users/1/reset",
         "/console/users/1/remove", "/console/password"]


async def test_every_console_route_needs_a_session(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        html = {"Accept": "text/html"}
        for path in PAGES:
            response = await e2e.client.get(path, headers=html)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole")
        for path in FRAGMENTS + PAGES:
            response = await e2e.client.get(path)
            assert response.status_code == 401, path
        e2e.client.cookies.set(SESSION_COOKIE, "made-up.token")
        for path in POSTS:
            response = await e2e.client.post(path, data={"csrf": "x"})
            assert response.status_code == 401, path
        # Someone's real session token without the app's signature is refused too.
        password = await add_user(e2e.app, email=ADMIN)
        client = await signed_in(e2e.app, ADMIN, password)
        token = client.cookies[SESSION_COOKIE].rpartition(".")[0]
        e2e.client.cookies.set(SESSION_COOKIE, token)
        assert (await e2e.client.get("/console")).status_code == 401
        await client.aclose()


async def test_sign_in_sets_a_signed_http_only_cookie_and_sign_out_ends_the_session(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        password = await add_user(e2e.app, email=ADMIN, name="Ana Boss")
        response = await sign_in(e2e.client, ADMIN.upper(), password)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/password"  # a one-time password
        cookie = next(
            value for name, value in response.headers.multi_items()
            if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # plain HTTP here; behind HTTPS the flag is set
        assert password not in cookie

        # Until the one-time password is replaced, every page leads to the password form.
        inbox = await e2e.client.get("/console", headers={"Accept": "text/html"})
        assert inbox.headers["location"] == "/console/password"
        form = await e2e.client.get("/console/password")
        short = await e2e.client.post(
            "/console/password",
            data={"csrf": csrf_of(form.text), "password": "short", "repeat": "short"},
        )
        assert short.status_code == 400 and "at least 12" in short.text
        done = await e2e.client.post(
            "/console/password",
            data={"csrf": csrf_of(form.text), "password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        )
        assert done.status_code == 303
        inbox = await e2e.client.get("/console")
        assert inbox.status_code == 200 and "Ana Boss" in inbox.text

        # The one-time password is spent; the new one works.
        other = await signed_in(e2e.app, ADMIN, NEW_PASSWORD)
        assert (await sign_in(other, ADMIN, password)).status_code == 401

        session = e2e.client.cookies[SESSION_COOKIE]
        out = await e2e.client.post("/console/logout", data={"csrf": csrf_of(inbox.text)})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        e2e.client.cookies.set(SESSION_COOKIE, session)  # as if the browser kept the cookie
        again = await e2e.client.get("/console")
        assert again.status_code == 401  # the session ended on the server, not just the cookie
        assert (await other.get("/console")).status_code == 200  # other sessions go on
        await other.aclose()


async def test_wrong_passwords_and_unknown_emails_get_the_same_answer(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        await add_user(e2e.app, email=ADMIN)
        wrong = await sign_in(e2e.client, ADMIN, "not the password")
        unknown = await sign_in(e2e.client, "nobody@sales.example", "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert all("Wrong email or password." in r.text for r in (wrong, unknown))
        assert SESSION_COOKIE not in e2e.client.cookies


# --- CSRF --------------------------------------------------------------------------------------


async def test_forms_without_the_session_csrf_token_are_refused(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        contact_id = await hand_over(e2e)
        password = await add_user(e2e.app, email=ADMIN)
        client = await signed_in(e2e.app, ADMIN, password)
        page = await client.get(f"/console/c/{contact_id}")
        token = csrf_of(page.text)
        for data in ({}, {"csrf": ""}, {"csrf": token[:-1] + "x"}):
            for action in ("takeover", "release", "outcome", "erase"):
                refused = await client.post(
                    f"/console/c/{contact_id}/{action}", data={**data, "outcome": "won"}
                )
                assert refused.status_code == 403, (action, data)
                assert "Form refused" in refused.text
            reply = await client.post(f"/console/c/{contact_id}/reply", data={**data, "text": "hi"})
            assert reply.status_code == 403
            assert (await client.post("/console/users", data=data)).status_code == 403
        assert len(e2e.meta_replies()) == 1  # only the bot's handoff message
        assert await e2e.fetchval("SELECT status FROM leads") == "handed_off"

        # Another person's token is no good either: tokens belong to their session.
        other_password = await add_user(e2e.app, email=AGENT, role="agent")
        other = await signed_in(e2e.app, AGENT, other_password)
        other_token = csrf_of((await other.get("/console")).text)
        assert other_token != token
        stolen = await client.post(f"/console/c/{contact_id}/takeover", data={"csrf": other_token})
        assert stolen.status_code == 403
        ok = await client.post(f"/console/c/{contact_id}/takeover", data={"csrf": token})
        assert ok.status_code == 303
        await client.aclose()
        await other.aclose()


async def test_the_sign_in_form_needs_its_own_csrf_cookie(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        password = await add_user(e2e.app, email=ADMIN)
        form = await e2e.client.get("/console/login")
        token = csrf_of(form.text)
        e2e.client.cookies.delete(LOGIN_COOKIE, path="/console")
        refused = await e2e.client.post(
            "/console/login", data={"email": ADMIN, "password": password, "csrf": token}
        )
        assert refused.status_code == 403 and SESSION_COOKIE not in e2e.client.cookies
        e2e.client.cookies.set(LOGIN_COOKIE, "forged.signature")
        forged = await e2e.client.post(
            "/console/login", data={"email": ADMIN, "password": password, "csrf": "forged"}
        )
        assert forged.status_code == 403


# --- The sign-in limit -------------------------------------------------------------------------


async def test_sign_in_attempts_are_rate_limited(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    settings = console_settings(make_settings, stand_ins, LOGIN_MAX_ATTEMPTS=3)
    async with running(app_client, settings, stand_ins) as e2e:
        password = await add_user(e2e.app, email=ADMIN)
        for _ in range(3):
            assert (await sign_in(e2e.client, ADMIN, "guess")).status_code == 401
        # The fourth attempt is refused before the password is even checked: right or wrong.
        limited = await sign_in(e2e.client, ADMIN, password)
        assert limited.status_code == 429
        assert "Too many sign-in attempts" in limited.text
        assert 0 < int(limited.headers["retry-after"]) <= settings.LOGIN_WINDOW_SECONDS
        assert SESSION_COOKIE not in e2e.client.cookies
        # Counted per email too: another address guessing the same account is refused.
        keys = await e2e.redis.keys("console:login:*")
        assert len(keys) == 2 and all(ADMIN.encode() not in key for key in keys)
        ttl = await e2e.redis.ttl(keys[0])
        assert 0 < ttl <= settings.LOGIN_WINDOW_SECONDS
        # When the window has passed (its keys expired), signing in works again.
        await e2e.redis.delete(*keys)
        assert (await sign_in(e2e.client, ADMIN, password)).status_code == 303


# --- Roles -------------------------------------------------------------------------------------


async def test_an_agent_cannot_reach_admin_pages(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        contact_id = await hand_over(e2e)
        agent = await signed_in(e2e.app, AGENT, await add_user(e2e.app, email=AGENT, role="agent"))
        inbox = await agent.get("/console")
        assert inbox.status_code == 200 and "/console/users" not in inbox.text
        token = csrf_of(inbox.text)
        assert (await agent.get("/console/users")).status_code == 403
        assert (await agent.get(f"/console/c/{contact_id}/erase")).status_code == 403
        erase = await agent.post(
            f"/console/c/{contact_id}/erase", data={"csrf": token, "confirm": "erase"}
        )
        assert erase.status_code == 403
        add = await agent.post(
            "/console/users",
            data={"csrf": token, "email": "x@sales.example", "name": "X", "role": "admin"},
        )
        assert add.status_code == 403
        assert await e2e.fetchval("SELECT count(*) FROM contacts") == 1
        assert await e2e.fetchval("SELECT count(*) FROM console_users") == 1
        # What agents may do, they can: the conversation and its actions.
        page = await agent.get(f"/console/c/{contact_id}")
        assert page.status_code == 200 and "Erase contact" not in page.text
        await agent.aclose()


async def test_an_admin_adds_resets_and_removes_people(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        admin = await signed_in(e2e.app, ADMIN, await add_user(e2e.app, email=ADMIN))
        token = csrf_of((await admin.get("/console/users")).text)
        added = await admin.post(
            "/console/users",
            data={"csrf": token, "email": "Luis@Sales.Example", "name": "Luis", "role": "agent"},
        )
        assert added.status_code == 200
        password = added.text.split('id="one-time-password">')[1].split("<")[0]
        luis = await signed_in(e2e.app, "luis@sales.example", password)
        assert (await luis.get("/console")).status_code == 200

        luis_id = await e2e.fetchval("SELECT id FROM console_users WHERE email = $1",
                                     "luis@sales.example")
        reset = await admin.post(f"/console/users/{luis_id}/reset", data={"csrf": token})
        assert reset.status_code == 200 and 'id="one-time-password"' in reset.text
        signed_out = await luis.get("/console")  # signed out everywhere
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/console/login")
        removed = await admin.post(f"/console/users/{luis_id}/remove", data={"csrf": token})
        assert removed.status_code == 200
        assert await e2e.fetchval("SELECT count(*) FROM console_users") == 1
        admin_id = await e2e.fetchval("SELECT id FROM console_users")
        myself = await admin.post(f"/console/users/{admin_id}/remove", data={"csrf": token})
        assert myself.status_code == 400
        bad = await admin.post(
            "/console/users", data={"csrf": token, "email": "nope", "name": "N", "role": "agent"}
        )
        assert bad.status_code == 400 and "email address" in bad.text
        await admin.aclose()
        await luis.aclose()


# --- What every page sends ---------------------------------------------------------------------


async def test_pages_send_a_strict_content_security_policy_and_escape_lead_text(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        script = "<script>alert(1)</script>"
        contact_id = await hand_over(e2e, name=script)
        admin = await signed_in(e2e.app, ADMIN, await add_user(e2e.app, email=ADMIN))
        for path in ("/console", f"/console/c/{contact_id}", "/console/funnel", "/console/login",
                     "/console/static/console.js"):
            response = await admin.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert script not in response.text, path
        page = (await admin.get(f"/console/c/{contact_id}")).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script" not in page.replace(
            '<script src="/console/static/console.js" defer></script>', ""
        )
        assert "style=" not in page  # no inline style: the policy allows none
        # The webhooks and the admin API are not the console's to change.
        assert "content-security-policy" not in (await e2e.client.get("/healthz")).headers
        await admin.aclose()


# --- make user ---------------------------------------------------------------------------------


async def test_make_user_creates_or_resets_a_user_with_a_one_time_password(
    app_client: Any,
    make_settings: Any,
    stand_ins: StandIns,
    database_url: str,
    db_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from console import cli
    from core.config import get_settings

    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        # asyncpg takes unknown URL parameters as server settings: this test's schema.
        joint = "&" if "?" in database_url else "?"  # the embedded server's URL has a query
        monkeypatch.setenv("DATABASE_URL", f"{database_url}{joint}search_path={db_schema}")
        monkeypatch.setenv("DATA_DIR", os.fspath(e2e.settings.DATA_DIR))
        get_settings.cache_clear()
        try:
            args = ["user", "--email", "First@Sales.Example", "--role", "admin", "--name", "Eva"]
            assert await asyncio.to_thread(cli.main, args) == 0
            first = capsys.readouterr().out
            assert await asyncio.to_thread(cli.main, args) == 0  # again: a reset
            second = capsys.readouterr().out
            assert await asyncio.to_thread(cli.main, ["user", "--email", "nope"]) == 2
        finally:
            get_settings.cache_clear()
        old, new = (out.split("one-time password: ")[1].split()[0] for out in (first, second))
        assert "Eva <first@sales.example> (admin)" in second and "/console" in second
        assert old != new
        assert (await sign_in(e2e.client, "first@sales.example", old)).status_code == 401
        client = await signed_in(e2e.app, "first@sales.example", new)
        assert "Eva" in (await client.get("/console")).text
        await client.aclose()


# --- The inbox's filters and a takeover ----------------------------------------------------------


async def test_the_inbox_filters_and_a_takeover_silences_the_bot(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        await hand_over(e2e, name="Ana García")
        other = "+34612345678"
        await e2e.post_meta(meta_payload(meta_text("Hola, precios?", contact=other), name="Luis"))
        await e2e.wait_meta_replies(1, contact=other)
        agent = await signed_in(e2e.app, AGENT, await add_user(e2e.app, email=AGENT, role="agent"))

        async def listed(query: str) -> list[str]:
            html = (await agent.get(f"/console/conversations?{query}")).text
            return [n for n in ("Ana García", "Luis") if n in html]

        assert await listed("") == ["Ana García", "Luis"]
        assert await listed("mode=waiting") == ["Ana García"]
        assert await listed("mode=bot") == ["Luis"]
        assert await listed("status=handed_off") == ["Ana García"]
        assert await listed("q=precios") == ["Luis"]
        assert await listed("q=%25") == []  # a LIKE wildcard is a character like any other
        assert await listed("channel=twilio") == []
        assert await listed("mode=nonsense&channel=meta") == ["Ana García", "Luis"]
        assert "handoff waiting" in (await agent.get("/console?mode=waiting")).text

        bot_contact = await e2e.fetchval("SELECT id FROM contacts WHERE number = $1", other)
        page = await agent.get(f"/console/c/{bot_contact}")
        taken = await agent.post(
            f"/console/c/{bot_contact}/takeover", data={"csrf": csrf_of(page.text)}
        )
        assert taken.headers["location"].endswith("done=taken")
        await e2e.post_meta(meta_payload(meta_text("¿Sigues ahí?", contact=other), name="Luis"))
        await e2e.wait_transcript("¿Sigues ahí?", contact=other)
        await e2e.wait_idle()
        assert len(e2e.meta_replies(other)) == 1  # the bot stayed silent
        assert await listed("mode=bot") == []
        # The person who took it over has it: not a handoff waiting for someone.
        assert await listed("mode=human") == ["Luis"]
        assert await listed("mode=waiting") == ["Ana García"]
        await agent.aclose()


async def test_an_admin_erases_a_contact_after_confirming(
    app_client: Any, make_settings: Any, stand_ins: StandIns
) -> None:
    async with running(app_client, console_settings(make_settings, stand_ins), stand_ins) as e2e:
        contact_id = await hand_over(e2e)
        admin = await signed_in(e2e.app, ADMIN, await add_user(e2e.app, email=ADMIN))
        confirm = await admin.get(f"/console/c/{contact_id}/erase")
        assert confirm.status_code == 200 and "cannot be undone" in confirm.text
        token = csrf_of(confirm.text)
        unconfirmed = await admin.post(f"/console/c/{contact_id}/erase", data={"csrf": token})
        assert unconfirmed.headers["location"] == f"/console/c/{contact_id}/erase"
        assert await e2e.fetchval("SELECT count(*) FROM contacts") == 1
        erased = await admin.post(
            f"/console/c/{contact_id}/erase", data={"csrf": token, "confirm": "erase"}
        )
        assert erased.headers["location"] == "/console?done=erased"
        assert "The contact is erased." in (await admin.get(erased.headers["location"])).text
        assert await e2e.fetchval("SELECT count(*) FROM contacts") == 0
        assert await e2e.fetchval("SELECT count(*) FROM transcript") == 0
        assert (await admin.get(f"/console/c/{contact_id}")).status_code == 404
        await admin.aclose()
