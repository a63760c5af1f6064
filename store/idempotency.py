"""Idempotency keys (table idempotency_keys): a request sent with an
`Idempotency-Key` header is remembered, with its answer, for a day, so that a
client that did not hear the answer can send it again and be told the same
without the work being done twice. api/idempotency.py speaks HTTP around it.

A key is claimed before the work starts and answered after it. Claiming is
one write transaction that holds the caller's key, so two requests with the
same key at once are decided one after the other and only one gets to do the
work: on SQLite every write transaction takes the database's write lock up
front (BEGIN IMMEDIATE, store.db); on PostgreSQL a transaction-scoped advisory
lock on the key's hash serializes the claims of one key and no others (as
store/rate_limits.py counts a key's hits).

A claim holds the key for a while (`claimed_until`): a request that crashed
after claiming leaves a claim that another request takes over once it
lapses, reusing the claim's `request_id` for the work it repeats.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from sqlalchemy import Connection, Engine, delete, select, text, update

from store.db import write_transaction
from store.models import IdempotencyKeyRow

keys_table = IdempotencyKeyRow.__table__


@dataclass(frozen=True)
class Claimed:
    """The caller does the work, under `request_id` (a new one for a new key,
    the lapsed claim's for a takeover)."""

    request_id: str


@dataclass(frozen=True)
class Answered:
    """The key's request was answered already: this, again (`response` is
    the JSON body, as sent)."""

    status_code: int
    response: str


@dataclass(frozen=True)
class InProgress:
    """Another request with this key is doing the work until `claimed_until` at the latest."""

    claimed_until: datetime


@dataclass(frozen=True)
class OtherRequest:
    """The key was used with another method, path or body."""


Claim = Claimed | Answered | InProgress | OtherRequest


def claim(
    engine: Engine,
    user_id: str,
    key: str,
    request_hash: str,
    now: datetime,
    lifetime: timedelta,
    hold_for: timedelta,
) -> Claim:
    """Claim `key` of `user_id` for the request whose hash is `request_hash`,
    at `now`: what the caller is to do. A key older than `lifetime` is
    forgotten and claimed anew; a claim holds the key for `hold_for`."""
    with write_transaction(engine) as connection:
        _hold(connection, user_id, key)
        row = connection.execute(
            select(keys_table).where(keys_table.c.user_id == user_id, keys_table.c.key == key)
        ).one_or_none()
        if row is not None and row.created_at <= now - lifetime:
            # Expired but not swept yet: as if it were gone.
            connection.execute(_this_key(delete(keys_table), user_id, key))
            row = None
        if row is None:
            request_id = str(uuid.uuid4())
            connection.execute(
                keys_table.insert().values(
                    user_id=user_id, key=key, request_hash=request_hash, request_id=request_id,
                    created_at=now, claimed_until=now + hold_for,
                )
            )
            return Claimed(request_id)
        if row.request_hash != request_hash:
            return OtherRequest()
        if row.status_code is not None:
            return Answered(row.status_code, row.response)
        if row.claimed_until is not None and row.claimed_until > now:
            return InProgress(row.claimed_until)
        # Its first request failed or crashed before it was answered: this one
        # repeats the work under the same request_id.
        connection.execute(_this_key(update(keys_table), user_id, key).values(claimed_until=now + hold_for))
        return Claimed(row.request_id)


def answer(engine: Engine, user_id: str, key: str, request_id: str, status_code: int, response: str) -> bool:
    """Remember the answer to the request that claimed `key` as `request_id`;
    False when the key no longer holds that claim (swept meanwhile)."""
    with write_transaction(engine) as connection:
        statement = _this_key(update(keys_table), user_id, key).where(keys_table.c.request_id == request_id)
        return connection.execute(
            statement.values(status_code=status_code, response=response, claimed_until=None)
        ).rowcount == 1


def release(engine: Engine, user_id: str, key: str, request_id: str) -> None:
    """Let go of a claim whose request failed without an answer to remember
    (a refusal, a timeout): a retry may claim it at once. The row stays, with
    its request_id, because the failed work may still have happened (an
    update that Temporal applied after the API stopped waiting); the retry
    repeats it under the same id, which Temporal applies once."""
    with write_transaction(engine) as connection:
        statement = _this_key(update(keys_table), user_id, key).where(
            keys_table.c.request_id == request_id, keys_table.c.status_code.is_(None)
        )
        connection.execute(statement.values(claimed_until=None))


def sweep_expired(engine: Engine, before: datetime) -> int:
    """Delete every key created before `before`, whoever's (a key is rarely
    sent again once answered, so nothing else would clean it up); the number
    deleted."""
    with write_transaction(engine) as connection:
        return connection.execute(delete(keys_table).where(keys_table.c.created_at <= before)).rowcount


def _this_key(statement, user_id: str, key: str):
    return statement.where(keys_table.c.user_id == user_id, keys_table.c.key == key)


def _hold(connection: Connection, user_id: str, key: str) -> None:
    """Hold the user's key until the transaction ends (see the module's docstring)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"idempotency\n{user_id}\n{key}"}
        )
