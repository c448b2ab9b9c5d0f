"""The a2a-sdk's own models of the tables its clustered task store uses.

Aether's migrations create these tables (the SDK's stores run with `create_table=False`), so
Alembic must know them as part of the target schema: `alembic check` and the migration tests
compare the database with the installed SDK's models, and an SDK upgrade that changes them
shows up as a difference instead of as failing queries at run time.
"""

from __future__ import annotations

from a2a.server.models import Base as SDKBase
from sqlalchemy import MetaData

from aether.store.models import NAMING_CONVENTION, Base

A2A_TASK_TABLE_NAMES = ("tasks", "task_versions", "task_events")


def a2a_task_tables() -> MetaData:
    """Copies of the SDK's `tasks`, `task_versions` and `task_events`, as its models say."""
    metadata = MetaData()
    for name in A2A_TASK_TABLE_NAMES:
        SDKBase.metadata.tables[name].to_metadata(metadata)
    return metadata


def migrated_schema() -> MetaData:
    """Everything the migrations build: Aether's models and the SDK's task tables.

    One `MetaData` rather than a list of them, because Alembic takes the naming convention for
    the constraints a migration leaves unnamed from the target metadata, and only from one.
    """
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    for table in (*Base.metadata.tables.values(), *a2a_task_tables().tables.values()):
        table.to_metadata(metadata)
    return metadata
