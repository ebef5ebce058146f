"""The console's people and their sign-ins, in Postgres (`migrations/0006_console.sql`).

Passwords are hashed with argon2id (argon2-cffi's defaults) in a worker thread, as a hash takes
tens of milliseconds of CPU. A sign-in is a row of `console_sessions` keyed by the SHA-256 of a
random token that only the browser's cookie holds; the row also holds the session's CSRF token.
A password made by `make user` or by an admin is a one-time password: it is shown once and must
be replaced at the next sign-in (`password_expired`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "DELETE_SESSION",
    "DELETE_USER",
    "DELETE_USER_SESSIONS",
    "INSERT_SESSION",
    "LIST_USERS",
    "MIN_PASSWORD_CHARS",
    "ROLES",
    "Role",
    "SELECT_SESSION",
    "SELECT_USER_BY_EMAIL",
    "SET_PASSWORD",
    "SignIn",
    "UPSERT_USER",
    "User",
    "UserError",
    "UserStore",
    "new_password",
]

Role = Literal["admin", "agent"]
ROLES: tuple[str, ...] = get_args(Role)
MIN_PASSWORD_CHARS = 12

_USER_COLUMNS = "id, email, name, role, password_expired, last_login_at, created_at"
UPSERT_USER = f"""
INSERT INTO console_users (email, name, role, password_hash, password_expired)
VALUES ($1, $2, $3, $4, true)
ON CONFLICT (email) DO UPDATE SET
    name = EXCLUDED.name, role = EXCLUDED.role, password_hash = EXCLUDED.password_hash,
    password_expired = true, updated_at = now()
RETURNING {_USER_COLUMNS}"""
SELECT_USER_BY_EMAIL = f"""
SELECT {_USER_COLUMNS}, password_hash FROM console_users WHERE email = $1"""
SELECT_USER_BY_ID = f"SELECT {_USER_COLUMNS} FROM console_users WHERE id = $1"
LIST_USERS = f"SELECT {_USER_COLUMNS} FROM console_users ORDER BY lower(name), id"
SET_PASSWORD = """
UPDATE console_users SET password_hash = $2, password_expired = $3, updated_at = now()
WHERE id = $1 RETURNING id"""
SET_LAST_LOGIN = "UPDATE console_users SET last_login_at = $2 WHERE id = $1"
DELETE_USER = "DELETE FROM console_users WHERE id = $1 RETURNING id"
COUNT_ADMINS = "SELECT count(*) FROM console_users WHERE role = 'admin'"
INSERT_SESSION = """
INSERT INTO console_sessions (token_hash, user_id, csrf_token, expires_at)
VALUES ($1, $2, $3, $4)"""
SELECT_SESSION = f"""
SELECT s.csrf_token, {", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))}
FROM console_sessions AS s JOIN console_users AS u ON u.id = s.user_id
WHERE s.token_hash = $1 AND s.expires_at > $2"""
DELETE_SESSION = "DELETE FROM console_sessions WHERE token_hash = $1"
DELETE_USER_SESSIONS = "DELETE FROM console_sessions WHERE user_id = $1 AND token_hash <> $2"
DELETE_EXPIRED_SESSIONS = "DELETE FROM console_sessions WHERE expires_at <= $1"


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why, for the form."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A person who signs in to the console."""

    id: int
    email: str
    name: str
    role: Role
    password_expired: bool
    """The password was shown once (made by `make user` or an admin): replace it first."""
    last_login_at: datetime | None
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignIn:
    """A valid session: who, and the CSRF token its forms carry."""

    user: User
    csrf_token: str


def new_password() -> str:
    """A one-time password: 16 characters, easy to copy (no look-alike characters)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _user(row: asyncpg.Record) -> User:
    return User(
        id=row["id"], email=row["email"], name=row["name"], role=row["role"],
        password_expired=row["password_expired"], last_login_at=row["last_login_at"],
        created_at=row["created_at"],
    )


def _checked(email: str, name: str, role: str) -> tuple[str, str]:
    email, name = email.strip().lower(), " ".join(name.split())
    local, at, domain = email.partition("@")
    if not (local and at and domain) or any(ch.isspace() for ch in email) or len(email) > 254:
        raise UserError("Give an email address such as ana@example.com.")
    if not 1 <= len(name) <= 120:
        raise UserError("Give a name of 1 to 120 characters.")
    if role not in ROLES:
        raise UserError(f"The role is one of: {', '.join(ROLES)}.")
    return email, name


class UserStore:
    """People and sessions (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        clock: Callable[[], datetime],
        session_lifetime: timedelta,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._lifetime = session_lifetime
        self._hasher = hasher or PasswordHasher()
        # Checked when the email is unknown, so a wrong email costs the same time as a wrong
        # password and the answer's timing does not tell which emails exist.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    # --- People -----------------------------------------------------------------------------

    async def put_user(self, *, email: str, name: str, role: str) -> tuple[User, str]:
        """Create the user, or reset an existing one (same email) to this name, role and a new
        one-time password, signing them out everywhere; returns the user and the password."""
        email, name = _checked(email, name, role)
        password = new_password()
        password_hash = await self._hash(password)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(UPSERT_USER, email, name, role, password_hash)
            await conn.execute(DELETE_USER_SESSIONS, row["id"], b"")
        return _user(row), password

    async def reset_password(self, user_id: int) -> str | None:
        """A new one-time password for the user, signed out everywhere; None if no such user."""
        password = new_password()
        password_hash = await self._hash(password)
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(SET_PASSWORD, user_id, password_hash, True) is None:
                return None
            await conn.execute(DELETE_USER_SESSIONS, user_id, b"")
        return password

    async def change_password(self, user_id: int, password: str, *, keep_token: str) -> None:
        """The user's own new password; their other sessions end, this one (`keep_token`)
        stays."""
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"Use at least {MIN_PASSWORD_CHARS} characters.")
        password_hash = await self._hash(password)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(SET_PASSWORD, user_id, password_hash, False)
            await conn.execute(DELETE_USER_SESSIONS, user_id, _token_hash(keep_token))

    async def users(self) -> list[User]:
        async with self._pool.acquire() as conn:
            return [_user(row) for row in await conn.fetch(LIST_USERS)]

    async def user(self, user_id: int) -> User | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_USER_BY_ID, user_id)
        return None if row is None else _user(row)

    async def remove_user(self, user_id: int) -> bool:
        """Remove the user and their sessions; refuses to remove the last admin."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(SELECT_USER_BY_ID, user_id)
            if row is None:
                return False
            if row["role"] == "admin" and await conn.fetchval(COUNT_ADMINS) <= 1:
                raise UserError("This is the last admin: make another admin first.")
            await conn.fetchval(DELETE_USER, user_id)
        return True

    # --- Sign-in ----------------------------------------------------------------------------

    async def authenticate(self, email: str, password: str) -> User | None:
        """The user whose email and password these are; None otherwise (same cost either way)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_USER_BY_EMAIL, email.strip().lower())
        if row is None:
            await self._verify(self._dummy_hash, password)
            return None
        if not await self._verify(row["password_hash"], password):
            return None
        return _user(row)

    async def start_session(self, user: User) -> str:
        """A new session for `user`; returns its token (for the cookie, never stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(DELETE_EXPIRED_SESSIONS, now)
            await conn.execute(
                INSERT_SESSION, _token_hash(token), user.id, secrets.token_urlsafe(32),
                now + self._lifetime,
            )
            await conn.execute(SET_LAST_LOGIN, user.id, now)
        return token

    async def session(self, token: str) -> SignIn | None:
        """The live session of this token, or None (unknown, expired, user removed)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(SELECT_SESSION, _token_hash(token), self._clock())
        if row is None:
            return None
        return SignIn(user=_user(row), csrf_token=row["csrf_token"])

    async def end_session(self, token: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(DELETE_SESSION, _token_hash(token))
