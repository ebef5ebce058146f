from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from core.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, load_migrations


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


async def _tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {row["table_name"] for row in rows}


async def test_applies_in_numeric_order_and_records_each(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    directory = _write(
        tmp_path,
        {
            "0002_add_email.sql": "ALTER TABLE people ADD COLUMN email text;",
            "0001_people.sql": "CREATE TABLE people (id serial PRIMARY KEY, name text);",
            "0010_index.sql": "CREATE INDEX people_email ON people (email);",
        },
    )
    async with pool.acquire() as conn:
        assert await apply_migrations(conn, directory) == [1, 2, 10]
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in rows] == [
            (1, "people"),
            (2, "add_email"),
            (10, "index"),
        ]
        assert {"people", "schema_migrations"} <= await _tables(conn)


async def test_second_run_applies_nothing_and_new_files_later(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    directory = _write(tmp_path, {"0001_people.sql": "CREATE TABLE people (id int);"})
    async with pool.acquire() as conn:
        assert await apply_migrations(conn, directory) == [1]
        assert await apply_migrations(conn, directory) == []
        _write(directory, {"0002_pets.sql": "CREATE TABLE pets (id int);"})
        assert await apply_migrations(conn, directory) == [2]


async def test_failing_file_rolls_back_and_stops(pool: asyncpg.Pool, tmp_path: Path) -> None:
    directory = _write(
        tmp_path,
        {
            "0001_people.sql": "CREATE TABLE people (id int);",
            "0002_broken.sql": "CREATE TABLE half (id int); SELECT * FROM no_such_table;",
            "0003_after.sql": "CREATE TABLE after_broken (id int);",
        },
    )
    async with pool.acquire() as conn:
        with pytest.raises(MigrationError, match="0002_broken failed and was rolled back"):
            await apply_migrations(conn, directory)
        tables = await _tables(conn)
        assert "people" in tables
        assert "half" not in tables  # the failing file left nothing behind
        assert "after_broken" not in tables  # and the run stopped there
        versions = await conn.fetch("SELECT version FROM schema_migrations")
        assert [r["version"] for r in versions] == [1]
        # The lock was released: the fixed file applies on the next run.
        _write(directory, {"0002_broken.sql": "CREATE TABLE half (id int);"})
        assert await apply_migrations(conn, directory) == [2, 3]


async def test_two_concurrent_runners_apply_each_file_once(
    database_url: str, db_settings: dict[str, str], tmp_path: Path
) -> None:
    # A slow migration keeps the first runner inside the lock while the second one arrives.
    directory = _write(
        tmp_path,
        {
            "0001_slow.sql": "SELECT pg_sleep(0.5); CREATE TABLE counter (n int);",
            "0002_seed.sql": "INSERT INTO counter VALUES (1);",
        },
    )
    first = await asyncpg.connect(database_url, server_settings=db_settings)
    second = await asyncpg.connect(database_url, server_settings=db_settings)
    try:
        results = await asyncio.gather(
            apply_migrations(first, directory), apply_migrations(second, directory)
        )
        assert sorted(results, key=len) == [[], [1, 2]]
        assert await first.fetchval("SELECT count(*) FROM counter") == 1
    finally:
        await first.close()
        await second.close()


async def test_changed_applied_file_is_refused(pool: asyncpg.Pool, tmp_path: Path) -> None:
    directory = _write(tmp_path, {"0001_people.sql": "CREATE TABLE people (id int);"})
    async with pool.acquire() as conn:
        await apply_migrations(conn, directory)
        _write(directory, {"0001_people.sql": "CREATE TABLE people (id bigint);"})
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(conn, directory)


def test_misnamed_and_duplicate_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a", {"1_people.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="NNNN_lowercase_name.sql"):
        load_migrations(tmp_path / "a")
    _write(tmp_path / "b", {"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"})
    with pytest.raises(MigrationError, match="version 1 is used twice"):
        load_migrations(tmp_path / "b")


async def test_project_migrations_apply_cleanly_twice(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        first = await apply_migrations(conn, MIGRATIONS_DIR)
        assert first == [m.version for m in load_migrations(MIGRATIONS_DIR)]
        assert await apply_migrations(conn, MIGRATIONS_DIR) == []
