"""The Alembic migrations: they build the schema the models expect, on both backends."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from a2a.helpers.proto_helpers import new_task
from a2a.server.cluster import VersionedDatabaseTaskStore
from a2a.server.context import ServerCallContext
from a2a.server.tasks import DatabaseTaskStore
from a2a.types.a2a_pb2 import TaskState
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, String, inspect, text

from aether.store import Store, create_engine, upgrade_database
from aether.store.a2a_tables import A2A_TASK_TABLE_NAMES, a2a_task_tables, migrated_schema
from aether.store.migrate import PACKAGE_DIR, VERSION_TABLE, alembic_config

APP_TABLES = {"conversations", "messages", "runs", "run_events", *A2A_TASK_TABLE_NAMES}
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


def schema_differences(connection: Connection, target: MetaData | None = None) -> list[object]:
    """What Alembic would change to make the database match `target` (default: the models of
    Aether and of the a2a-sdk's task tables); restricted to `target`'s tables when given."""
    opts: dict[str, object] = {
        "compare_type": True,
        "compare_server_default": True,
        "version_table": VERSION_TABLE,
    }
    if target is not None:
        tables = set(target.tables)
        opts["include_name"] = lambda name, kind, _parent: kind != "table" or name in tables
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, target if target is not None else migrated_schema()))


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


def primary_keys(connection: Connection, tables: Iterable[str]) -> dict[str, list[str]]:
    inspector = inspect(connection)
    return {table: inspector.get_pk_constraint(table)["constrained_columns"] for table in tables}


async def test_a2a_task_tables_match_the_installed_sdk_models(migrated_database_url: str) -> None:
    """The SDK's stores run with `create_table=False` on tables our migration froze: an SDK
    upgrade that changes its models must fail here, not in a replica's queries."""
    sdk = a2a_task_tables()
    altered = a2a_task_tables()
    altered.tables["tasks"].c.context_id.type = String(64)
    engine = create_engine(migrated_database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(schema_differences, sdk)
            keys = await connection.run_sync(primary_keys, A2A_TASK_TABLE_NAMES)
            altered_differences = await connection.run_sync(schema_differences, altered)
    finally:
        await engine.dispose()

    assert differences == []
    assert keys == {
        name: [column.name for column in sdk.tables[name].primary_key]
        for name in A2A_TASK_TABLE_NAMES
    }
    assert [difference[0][0] for difference in altered_differences] == [  # type: ignore[index]
        "modify_type"
    ]


async def test_a_task_table_the_sdk_created_itself_is_kept(empty_database_url: str) -> None:
    """Before migration 0006, each service had the SDK create `tasks` at start; upgrading
    keeps that table and its tasks, readable by the clustered store."""
    await upgrade_database(empty_database_url, "0005")
    engine = create_engine(empty_database_url)
    context = ServerCallContext()
    task = new_task("task-1", "context-1", TaskState.TASK_STATE_COMPLETED)
    try:
        earlier_store = DatabaseTaskStore(engine)  # creates its table, as services did
        await earlier_store.save(task, context)

        await upgrade_database(empty_database_url)

        stored = await VersionedDatabaseTaskStore(engine, create_table=False).get("task-1", context)
        async with engine.connect() as connection:
            differences = await connection.run_sync(schema_differences, a2a_task_tables())
    finally:
        await engine.dispose()
    assert stored is not None
    assert stored.task == task
    assert differences == []
