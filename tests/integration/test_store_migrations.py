"""The Alembic migrations: they build the schema the models expect, on both backends."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from aether.store import Store, create_engine, upgrade_database
from aether.store.migrate import PACKAGE_DIR, VERSION_TABLE, alembic_config
from aether.store.models import Base

APP_TABLES = {"conversations", "messages", "runs", "run_events"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()

# Imports everything first, then waits for "go" so that all processes migrate at the same moment.
MIGRATE_ON_GO = """
import sys
from aether.store import upgrade_database_sync
print("ready", flush=True)
sys.stdin.readline()
upgrade_database_sync(sys.argv[1])
"""


async def tables_and_version(url: str) -> tuple[set[str], list[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
            versions: list[str] = []
            if VERSION_TABLE in tables:
                result = await connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
                versions = list(result.scalars())
    finally:
        await engine.dispose()
    return tables, versions


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True, "version_table": VERSION_TABLE},
    )
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_creates_schema_and_second_upgrade_is_a_no_op(
    empty_database_url: str,
) -> None:
    await upgrade_database(empty_database_url)
    tables, versions = await tables_and_version(empty_database_url)
    assert tables >= APP_TABLES | {VERSION_TABLE}
    assert versions == [HEAD]

    store = Store(create_engine(empty_database_url))
    conversation = await store.conversations.create("kept")
    await store.close()

    await upgrade_database(empty_database_url)

    assert await tables_and_version(empty_database_url) == (tables, versions)
    store = Store(create_engine(empty_database_url))
    assert await store.conversations.get(conversation.id) == conversation
    await store.close()


async def test_migrated_schema_matches_the_models(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(schema_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_concurrent_upgrades_from_several_processes_all_succeed(
    empty_database_url: str,
) -> None:
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            MIGRATE_ON_GO,
            empty_database_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for process in processes:
        assert process.stdout is not None
        assert await process.stdout.readline() == b"ready\n"
    outcomes = await asyncio.gather(*(process.communicate(b"go\n") for process in processes))

    failures = [
        stderr.decode()
        for process, (_, stderr) in zip(processes, outcomes, strict=True)
        if process.returncode != 0
    ]
    assert failures == []
    tables, versions = await tables_and_version(empty_database_url)
    assert tables >= APP_TABLES
    assert versions == [HEAD]


async def test_packaged_alembic_ini_drives_the_cli_both_ways(
    empty_database_url: str, tmp_path: Path
) -> None:
    async def alembic(*args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(PACKAGE_DIR / "alembic.ini"),
            *args,
            cwd=tmp_path,  # away from any .env in the checkout
            env={**os.environ, "DATABASE_URL": empty_database_url},
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()

    await alembic("upgrade", "head")
    tables, versions = await tables_and_version(empty_database_url)
    assert tables >= APP_TABLES
    assert versions == [HEAD]

    await alembic("downgrade", "base")
    tables, versions = await tables_and_version(empty_database_url)
    assert tables & APP_TABLES == set()
    assert versions == []
