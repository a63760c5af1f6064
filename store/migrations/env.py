"""Alembic environment for the read model.

Run through `store.db`: `migrate()` hands over an open connection in
`config.attributes["connection"]`; `python -m store.db revision` gives the
database URL in `config.attributes["database_url"]` and autogenerates a
revision from `store.models`. There is no alembic.ini.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection

from store.db import make_engine, modelled_here
from store.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Revisions must not import store.models, which moves on after they are
    # written: the UTC type is a plain timezone-aware DateTime in the schema.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite's ALTER TABLE cannot change or drop most things; batch mode
        # recreates the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
        include_object=modelled_here(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(config.attributes["database_url"])
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    """`--sql` mode: print the DDL for a DBA to review instead of running it."""
    context.configure(
        url=config.attributes["database_url"],
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
