"""Helpers of the console's tests: people, signing in over HTTP (in process) and a deadline wait
for the browser tests' thread.

    password = await add_user(e2e.app, email="ana@sales.example", role="admin")
    client = await signed_in(e2e.app, "ana@sales.example", password)   # password replaced
    html = (await client.get("/console")).text
    await client.post("/console/c/1/takeover", data={"csrf": csrf_of(html)})
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["NEW_PASSWORD", "add_user", "csrf_of", "sign_in", "signed_in", "wait_for"]

NEW_PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def add_user(app: Any, *, email: str, role: str = "admin", name: str = "") -> str:
    """A console user made as `make user` makes one; returns the one-time password."""
    _user, password = await app.state.console.users.put_user(
        email=email, name=name or email.partition("@")[0].title(), role=role
    )
    return str(password)


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """The sign-in form, filled in and posted (not followed)."""
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf": csrf_of(form.text)},
    )


async def signed_in(
    app: Any, email: str, password: str, *, new_password: str = NEW_PASSWORD
) -> httpx.AsyncClient:
    """A client of its own (its own cookies) signed in as `email`, its one-time password
    replaced by `new_password`. Close it with `aclose()`."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver",
        headers={"Accept": "text/html"},
    )
    response = await sign_in(client, email, password)
    assert response.status_code == 303, response.text
    if response.headers["location"] == "/console/password":
        page = await client.get("/console/password")
        changed = await client.post(
            "/console/password",
            data={"csrf": csrf_of(page.text), "password": new_password, "repeat": new_password},
        )
        assert changed.status_code == 303, changed.text
    return client


def wait_for(condition: Callable[[], Any], *, what: str, timeout: float = 15.0) -> Any:
    """Check `condition` until it returns something truthy (for threads outside an event
    loop); fails naming `what` after `timeout` s: a deadline, not a timed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
