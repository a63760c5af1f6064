"""Engines for the read model and its Alembic migrations.

Two databases are supported: a SQLite file (the embedded single-machine
default) and PostgreSQL (`postgresql+psycopg://...`, beyond one machine).
`python -m store.db upgrade <url>` brings a database to the newest schema.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, pool, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# How long a SQLite transaction waits for another writer's lock before giving
# up with "database is locked" (the API then answers 503). Writes are short, so
# waiting is right. A URL's own `?timeout=<seconds>` (pysqlite's) wins.
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

# Execution option that marks a connection's transactions as reads (below).
_READ_ONLY = "cxloop_read_only"


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
    if "timeout" not in sa_url.query:
        # sqlite3.connect's timeout is SQLite's busy timeout.
        engine_args["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, **engine_args.get("connect_args", {})}
    engine = create_engine(sa_url, **engine_args)

    @event.listens_for(engine, "connect")
    def _configure_sqlite(dbapi_connection, record) -> None:
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
        cursor.execute(f"PRAGMA foreign_keys={'ON' if sqlite_foreign_keys else 'OFF'}")
        cursor.close()
        # A new SQLite connection writes (query_only off); `_begin` keeps
        # this in step. The record outlives its connection (a reconnect).
        record.info[_READ_ONLY] = False

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # Every transaction takes SQLite's write lock up front (BEGIN
        # IMMEDIATE), waiting up to the busy timeout for another writer to
        # finish. A deferred transaction that reads first and writes later
        # cannot wait: when it upgrades, SQLite fails it at once ("database is
        # locked", busy_timeout does not apply: a writer committed after its
        # snapshot, or holds the lock). An ORM Session's or any other
        # transaction may write, so none is deferred unless declared a read
        # (`reading`), and a read is made unable to write (query_only): a
        # write there fails on its first run, in tests, not under load.
        read_only = bool(connection.get_execution_options().get(_READ_ONLY, False))
        pooled = connection.connection.info  # the pool's record of this SQLite connection
        if pooled.get(_READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            pooled[_READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()`: a transaction that writes. On SQLite every
    transaction but a `reading` one is a write (BEGIN IMMEDIATE), so this
    only names the intent."""
    with engine.begin() as connection:
        yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection whose transactions only read: on SQLite they neither take
    nor wait for the write lock (WAL readers see the last commit while a writer
    writes), and a write in one fails ("attempt to write a readonly
    database"). For what is read often or long: lists, exports, sign-in checks.
    An ORM Session reads through it with `Session(bind=connection)`."""
    with engine.connect() as connection:
        connection.execution_options(**{_READ_ONLY: True})
        yield connection


# SQLite's primary result codes for "another connection holds a lock":
# SQLITE_BUSY (its extended codes included) and SQLITE_LOCKED.
_SQLITE_BUSY_OR_LOCKED = frozenset({5, 6})
# PostgreSQL's SQLSTATEs that say "try again": the transaction lost a race
# (serialization failure, deadlock, lock not available) or the server is going
# away or not taking connections (admin/crash shutdown, cannot connect now, too
# many connections). Class 08 (connection exceptions) is matched by prefix.
_POSTGRESQL_RETRYABLE = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})


def is_transient(error: BaseException) -> bool:
    """Whether a database failure is one of the moment, which the same request
    may not meet when retried: a lock held past the busy timeout, a lost
    serialization race, a connection refused, reset or terminated, no pooled
    connection free. Not a transient: a constraint violated or a statement
    the database refuses (a bug: answered 500 and fixed)."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:  # the dialect saw a disconnect
        return True
    cause = error.orig
    if isinstance(cause, sqlite3.Error):
        code = getattr(cause, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_BUSY_OR_LOCKED
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in _POSTGRESQL_RETRYABLE or sqlstate.startswith("08")
    # psycopg's failures to connect or to reach the server (refused, reset,
    # timed out) carry no SQLSTATE: no server said anything.
    return isinstance(cause, psycopg.OperationalError)


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
    with reading(engine) as connection:
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
