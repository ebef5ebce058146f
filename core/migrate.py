"""The migration runner: numbered plain SQL files under `migrations/`, applied in order.

Each file `NNNN_name.sql` runs in its own transaction together with the row that records it in
`schema_migrations`, so a failing file leaves nothing behind and stops the run. A session-level
advisory lock (keyed by the current schema) makes replicas that start at once take turns: the
second one finds the work done. The list is append-only, as in LangGraph's savers: an applied
file must not change (its checksum is recorded and checked), a fix is a new file.

Run it with `make migrate` (`python -m core.migrate`); the server also runs it at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

__all__ = ["Migration", "MigrationError", "load_migrations", "apply_migrations", "MIGRATIONS_DIR"]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
LOCK = "SELECT pg_advisory_lock(hashtext('wa-agent-migrations:' || current_schema()))"
UNLOCK = "SELECT pg_advisory_unlock(hashtext('wa-agent-migrations:' || current_schema()))"
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(Exception):
    """A migration file is malformed, was changed after it was applied, or failed to apply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One SQL file of the numbered list."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory` in version order; refuses misnamed and duplicate files."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_lowercase_name.sql; rename it."
            )
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(
                f"{path.name}: version {version} is used twice; give the newer file the next "
                "number."
            )
        migrations[version] = Migration(version=version, name=match.group(2), sql=path.read_text())
    return [migrations[version] for version in sorted(migrations)]


async def apply_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the pending migrations of `directory` on `conn`; returns the versions applied."""
    migrations = load_migrations(directory)
    await conn.execute(LOCK)
    try:
        await conn.execute(CREATE_TABLE)
        applied = {row["version"]: row for row in await conn.fetch(SELECT_APPLIED)}
        done: list[int] = []
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is not None:
                if recorded["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} changed after it was "
                        "applied; restore it and put the change in a new migration file."
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        INSERT_APPLIED, migration.version, migration.name, migration.checksum
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed and was rolled "
                    f"back: {exc}"
                ) from exc
            log.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await conn.execute(UNLOCK)


async def _main() -> int:
    from core.config import SettingsError, get_settings
    from core.embedded import resolve_urls

    try:
        settings = get_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)  # noqa: T201 - the command's own output
        return 2
    services = resolve_urls(
        redis_url=None,
        database_url=settings.DATABASE_URL,
        data_dir=settings.DATA_DIR,
        with_redis=False,
    )
    try:
        conn = await asyncpg.connect(services.database_url)
        try:
            done = await apply_migrations(conn)
        finally:
            await conn.close()
    except (MigrationError, OSError, asyncpg.PostgresError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        services.close()
    print(f"migrate: applied {len(done)} migration(s)" + (f": {done}" if done else ""))  # noqa: T201
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(asyncio.run(_main()))
