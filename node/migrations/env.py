"""Alembic environment: runs on the connection handed over by ``node.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from node.db.models import Base

config = context.config
connection: Connection | None = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the alembic command line, for autogenerate: alembic -x url=sqlite:///x.db revision …
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///autogen.db")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
