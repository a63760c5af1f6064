"""The rate limits' shared counts: the hits each limit let through while they
are inside its moving window (table rate_limit_hits), so that every API
replica counts against the same limit. api/limits.py adapts these queries to
the `limits` library, whose keys (one per limit and client) name the rows.

A hit is admitted when the hits still inside the window leave room for it.
Counting and recording are one write transaction that holds the key, so two
replicas (or two threads of one) that hit the same key at once are admitted
one after the other and never both into the last place: on SQLite every
write transaction takes the database's write lock up front (BEGIN
IMMEDIATE, store.db); on PostgreSQL a transaction-scoped advisory lock on
the key's hash serializes the hits of one key and no others.

Times are seconds since the epoch, as `limits` counts them. Keys are stored
escaped (`_stored`): a key holds what a client typed (a sign-in's username),
and PostgreSQL's text refuses a NUL.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import Connection, Engine, delete, func, select, text

from store.db import dialect_insert, reading, write_transaction
from store.models import RateLimitHitRow

hits_table = RateLimitHitRow.__table__


def record_hit_if_room(
    engine: Engine, key: str, limit: int, amount: int, now: float, expires_at: float
) -> bool:
    """Record `amount` hits on `key`, counting until `expires_at`, if the hits
    on it that count at `now` leave room for them under `limit`; True when
    they were recorded. A refused hit records nothing, so a client that keeps
    hammering a spent limit does not push its own reset further away."""
    key = _stored(key)
    with write_transaction(engine) as connection:
        _hold(connection, key)
        _, spent = _window(connection, key, now)
        if spent + amount > limit:
            return False
        connection.execute(
            _add_hits(connection.dialect.name), {"key": key, "expires_at": expires_at, "hits": amount}
        )
        return True


def window(engine: Engine, key: str, now: float) -> tuple[float | None, int]:
    """The hits on `key` that count at `now`: when the first of them expires
    (None without any), and how many there are."""
    with reading(engine) as connection:
        return _window(connection, _stored(key), now)


def sweep_expired(engine: Engine, now: float) -> int:
    """Delete every row that stopped counting before `now`, of any key (the
    key of a client that went quiet is never hit again to clean it up); the
    number deleted."""
    with write_transaction(engine) as connection:
        return connection.execute(delete(hits_table).where(hits_table.c.expires_at <= now)).rowcount


def clear(engine: Engine, key: str | None = None) -> int:
    """Forget the hits on `key`, or on every key; the number of rows deleted."""
    statement = delete(hits_table)
    if key is not None:
        statement = statement.where(hits_table.c.key == _stored(key))
    with write_transaction(engine) as connection:
        return connection.execute(statement).rowcount


def _stored(key: str) -> str:
    """`key` as the table holds it: backslash escapes for a NUL (and for
    anything else outside printable ASCII, a backslash included), so that no
    two keys are stored alike."""
    return key.encode("unicode_escape").decode("ascii")


def _window(connection: Connection, key: str, now: float) -> tuple[float | None, int]:
    # At most `limit` rows per key count at any time (admission stops there),
    # so the sum reads a bounded range of the primary key's index.
    first_expiry, spent = connection.execute(
        select(func.min(hits_table.c.expires_at), func.coalesce(func.sum(hits_table.c.hits), 0)).where(
            hits_table.c.key == key, hits_table.c.expires_at > now
        )
    ).one()
    return first_expiry, spent


def _hold(connection: Connection, key: str) -> None:
    """Hold `key` until the transaction ends (see the module's docstring)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


@cache
def _add_hits(dialect_name: str):
    """INSERT ... ON CONFLICT DO UPDATE: two hits of one key at the very same
    instant (same `expires_at`) add up in one row."""
    statement = dialect_insert(dialect_name, hits_table)
    return statement.on_conflict_do_update(
        index_elements=[hits_table.c.key, hits_table.c.expires_at],
        set_={"hits": hits_table.c.hits + statement.excluded.hits},
    )
