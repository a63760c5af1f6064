"""Engines for the read model and its Alembic migrations.

Two databases are supported: a SQLite file (the embedded single-machine
default) and PostgreSQL (`postgresql+psycopg://...`, beyond one machine).
`python -m store.db upgrade <url>` brings a database to the newest schema.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, pool, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# How long a SQLite writer waits for another writer's lock before giving up
# with "database is locked". Projection writes are short, so waiting is right.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option that marks a connection's transactions as writes (below).
_WRITE_TRANSACTION = "cxloop_write_transaction"


def dialect_insert(connection: Connection | str, table: Table):
    """INSERT with ON CONFLICT support, which each dialect spells in its module.
    `connection` is a connection or a dialect name."""
    match connection if isinstance(connection, str) else connection.dialect.name:
        case "postgresql":
            return postgresql.insert(table)
        case "sqlite":
            return sqlite.insert(table)
        case other:
            raise NotImplementedError(f"the read model supports SQLite and PostgreSQL, not {other}")


def make_engine(url: str) -> Engine:
    """An engine for the read model at `url`."""
    return _create_engine(url, sqlite_foreign_keys=True)


def _create_engine(url: str, *, sqlite_foreign_keys: bool, **engine_args) -> Engine:
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        # Connections idle in the pool die with a PostgreSQL restart or a
        # proxy's timeout; a ping on checkout replaces them instead of failing
        # the request that drew them.
        return create_engine(sa_url, pool_pre_ping=True, **engine_args)

    if sa_url.database and sa_url.database != ":memory:" and not sa_url.query.get("uri"):
        Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sa_url, **engine_args)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection, _record) -> None:
        # Take BEGIN away from the sqlite3 module: in its legacy mode it starts
        # transactions only before INSERT/UPDATE/DELETE, so a read followed by a
        # write would not be one transaction. SQLAlchemy's recipe; `_begin`
        # below emits BEGIN instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while a projection writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a power
        # cut may lose the last commits, never corrupt the file, and what it
        # loses the ticket workflows (the source of truth) still hold.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A write transaction takes SQLite's write lock up front. A deferred one
        # that reads first and then writes cannot wait for a concurrent writer
        # (SQLITE_BUSY_SNAPSHOT ignores busy_timeout) and fails at once.
        immediate = connection.get_execution_options().get(_WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Like `engine.begin()`, for transactions that write: on SQLite they
    queue behind other writers (busy_timeout) rather than fail when they upgrade
    from reading to writing."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_TRANSACTION: True})
        with connection.begin():
            yield connection


# SQLite's text search index (migration 0004): an FTS5 virtual table and the
# tables FTS5 keeps it in. The ORM does not model them.
SQLITE_SEARCH_TABLES = frozenset({
    "tickets_search",
    "tickets_search_config",
    "tickets_search_data",
    "tickets_search_docsize",
    "tickets_search_idx",
})
# Declared in store.models for PostgreSQL only (Index.ddl_if), which Alembic's
# comparison does not know about.
POSTGRESQL_ONLY_INDEXES = frozenset({"ix_tickets_search"})


def modelled_here(dialect_name: str):
    """Alembic's include_object hook for comparing the models with a database
    of this dialect (autogenerate, and the tests' schema check): leaves out
    what the models declare for another database or do not model at all, so
    a revision autogenerated on SQLite never drops the search tables."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect_name == "sqlite":
            if type_ == "table" and name in SQLITE_SEARCH_TABLES:
                return False
            if type_ == "index" and name in POSTGRESQL_ONLY_INDEXES:
                return False
        return True

    return include


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration built in code: no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Kept out of the ini-style options, whose interpolation would trip
        # over a percent-encoded password.
        config.attributes["database_url"] = url
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the read model at `url` to `revision` (`alembic upgrade head`)."""
    # Batch migrations on SQLite copy a table and drop the original; with
    # foreign keys enforced that drop would cascade into or fail on the rows
    # that reference it, so SQLite migrates with them off (Alembic's advice)
    # and is checked afterwards.
    engine = _create_engine(url, sqlite_foreign_keys=False, poolclass=pool.NullPool)
    try:
        with write_transaction(engine) as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            if connection.dialect.name == "sqlite":
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if violations:
                    raise RuntimeError(f"migration left rows with broken foreign keys: {violations[:10]}")
                # SQLite has no planner statistics until ANALYZE runs, and
                # without them a filtered list can walk the wrong index (owner +
                # status on 100,000 tickets: 32 ms instead of 1.6 ms). Each
                # upgrade refreshes them; they go stale only slowly, since the
                # planner uses rows per key, not totals. A full ANALYZE, not
                # `PRAGMA optimize`: before SQLite 3.46 optimize skips tables
                # never analyzed, and a sampled one (analysis_limit, which 3.46+
                # optimize applies) reads only the first rows of each index,
                # all one workspace here, so it cannot tell owners apart. It
                # costs about 0.1 s per 100,000 tickets, once per upgrade.
                connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    engine = _create_engine(url, sqlite_foreign_keys=True, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def ping(engine: Engine) -> None:
    """Raise when the database does not answer (for health checks)."""
    with engine.connect() as connection:
        connection.scalar(select(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m store.db", description="cxloop read model schema")
    commands = parser.add_subparsers(dest="command", required=True)
    upgrade = commands.add_parser("upgrade", help="migrate the database to the newest schema")
    upgrade.add_argument("url", help="e.g. sqlite:///.data/cxloop.db or postgresql+psycopg://user@host/db")
    upgrade.add_argument("--revision", default="head")
    current = commands.add_parser("current", help="print the database's schema revision")
    current.add_argument("url")
    revision = commands.add_parser(
        "revision", help="autogenerate a migration from the difference between store.models and the database"
    )
    revision.add_argument("url", help="a database at the newest revision to compare the models with")
    revision.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.command == "upgrade":
        migrate(args.url, args.revision)
        print(f"{make_url(args.url).render_as_string(hide_password=True)} is at {current_revision(args.url)}")
    elif args.command == "current":
        print(current_revision(args.url) or "(no schema)")
    else:
        command.revision(alembic_config(args.url), message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
