"""`make user EMAIL=... ROLE=admin [NAME=...]` (`python -m console.cli user ...`): create a
console user, or reset one, from the shell, and print a one-time password.

The first admin has no console to be created in: this is how a deployment gets one, and how a
team that lost every admin password gets back in. Migrations are applied first (a fresh database
works), and an existing user's sessions end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import UTC, datetime, timedelta

import asyncpg

from console.users import ROLES, UserError, UserStore
from core.config import SettingsError, get_settings
from core.embedded import resolve_urls
from core.migrate import MigrationError, apply_migrations

__all__ = ["main"]


async def _put_user(database_url: str, *, email: str, name: str, role: str) -> str:
    pool = await asyncpg.create_pool(database_url, min_size=0, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        store = UserStore(pool, clock=lambda: datetime.now(UTC), session_lifetime=timedelta(0))
        user, password = await store.put_user(email=email, name=name, role=role)
    finally:
        await pool.close()
    return f"{user.name} <{user.email}> ({user.role}), one-time password: {password}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make user", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    user = commands.add_parser("user", help="create or reset a console user")
    user.add_argument("--email", required=True)
    user.add_argument("--role", choices=ROLES, default="agent")
    user.add_argument("--name", default="", help="shown in the console (default: from the email)")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the command's own output
        return 2
    name = args.name.strip() or args.email.partition("@")[0]
    services = resolve_urls(
        redis_url=None, database_url=settings.DATABASE_URL, data_dir=settings.DATA_DIR,
        with_redis=False,
    )
    try:
        line = asyncio.run(
            _put_user(services.database_url, email=args.email, name=name, role=args.role)
        )
    except UserError as exc:
        print(f"make user: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except (MigrationError, OSError, asyncpg.PostgresError) as exc:
        print(f"make user: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        services.close()
    print(line)  # noqa: T201
    print(  # noqa: T201
        f"Sign in at http://{settings.HOST}:{settings.PORT}/console (behind a proxy: your public "
        "URL + /console) and choose your own password."
    )
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
