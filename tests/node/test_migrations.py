"""The Alembic migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from node.db.engine import _MIGRATIONS as MIGRATIONS
from node.db.engine import HEAD_REVISION, create_engine, migrate
from node.db.models import Base


def test_one_line_of_revisions() -> None:
    """Migrations from parallel work are chained: one head, so `migrate` has one path."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"more than one head revision: {heads}"
    assert heads == [HEAD_REVISION], "node.db.engine.HEAD_REVISION must name the newest migration"


async def test_migrated_schema_matches_the_models(
    database_url_factory: Callable[[str], Awaitable[str]],
) -> None:
    engine = create_engine(await database_url_factory("schema"))
    try:
        await migrate(engine)
        await migrate(engine)  # at the head already: Alembic is skipped, nothing changes

        def differences(connection: Connection) -> list[Any]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == []
