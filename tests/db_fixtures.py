"""Read model fixtures: every test that takes `database_url` (or `ticket_store`)
runs once on SQLite and once on PostgreSQL, each time on a fresh database.

PostgreSQL comes from CXLOOP_TEST_POSTGRES_URL (default: the local server,
user postgres). When it cannot be reached the tests fail rather than skip: a
green run must mean the read model works on both databases.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from store.db import alembic_config, make_engine, migrate
from store.tickets import TicketStore

POSTGRES_ADMIN_URL = os.environ.get(
    "CXLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database, dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'read-model.db'}"
        return
    yield from _postgres_database()


def _postgres_database() -> Iterator[str]:
    name = f"cxloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except OperationalError as err:
            pytest.fail(
                f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)} "
                f"is unreachable ({err.orig}); the read model tests need it "
                "(set CXLOOP_TEST_POSTGRES_URL to another server)"
            )
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            # FORCE: a connection the test left open must not keep the database alive.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def ticket_store(database_url: str) -> Iterator[TicketStore]:
    """A TicketStore on a freshly migrated database."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        yield TicketStore(engine)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """`alembic downgrade`, in one transaction as `store.db.migrate` upgrades,
    with SQLite's foreign keys off (its default on a plain engine): batch mode
    drops the old table after copying it."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()
