"""Rate limits shared by every API replica, on SQLite and on PostgreSQL.

Two apps built by `create_app` on one read model stand for two replicas
behind a load balancer: the sign-in limit counts the attempts made at either
against one total, refuses the rest with 429 and Retry-After, lets attempts
through again once the window has passed, and never admits more than the
limit however many attempts arrive at once. Expired hits are swept; a
database that cannot count fails sign-in closed and intake open. The cost of
one check is measured and printed (run with -s to read it).

The apps reach neither Temporal nor a worker: the routes used here refuse or
answer before either is needed (the Temporal client is lazy).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from limits import parse as parse_rate
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import Engine, func, insert, inspect, select, text

from api.app import create_app
from api.limits import UNCOUNTED_RETRY_AFTER_SECONDS, DatabaseStorage
from settings import Settings
from store import rate_limits
from store.db import current_revision, make_engine, migrate
from store.models import RateLimitHitRow
from tests.api_fixtures import csrf_in
from tests.db_fixtures import downgrade


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The read model at `database_url`, migrated: both replicas' database."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@asynccontextmanager
async def replicas(database_url: str, count: int = 2, **settings) -> AsyncIterator[list[FastAPI]]:
    """`count` apps on one read model, running (their lifespans entered)."""
    async with AsyncExitStack() as stack:
        apps = [create_app(Settings(database_url=database_url, **settings)) for _ in range(count)]
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


def client_of(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    """An HTTP client of `app` from `address`, keeping its own cookies."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://cxloop.test")


async def sign_in(client: httpx.AsyncClient, username: str = "ann") -> httpx.Response:
    """One sign-in attempt with a wrong password: 401 when the limits let it
    through, 429 when they refuse it."""
    csrf_token = csrf_in((await client.get("/login")).text, "csrf_token")
    return await client.post(
        "/login", data={"username": username, "password": "not-the-password", "csrf_token": csrf_token}
    )


def rows_of(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as connection:
        return connection.execute(select(RateLimitHitRow.key, RateLimitHitRow.hits)).all()


async def test_two_replicas_share_the_sign_in_limit_until_the_window_passes(
    database_url: str, engine: Engine
) -> None:
    # Five attempts (each a page and an Argon2 check) must fall within the
    # window: 2 s was too short beside another pytest-xdist worker on 2 cores.
    limit = "3/4 seconds"
    window = parse_rate(limit).get_expiry()
    async with (
        replicas(database_url, login_rate_limit=limit) as apps,
        client_of(apps[0]) as first,
        client_of(apps[1]) as second,
    ):
        # Split across the replicas, as a load balancer would.
        assert [(await sign_in(replica)).status_code for replica in (first, second, first)] == [401] * 3
        for replica in (second, first):
            refused = await sign_in(replica)
            assert refused.status_code == 429, refused.text
            assert "Too many attempts" in refused.text
            retry_after = int(refused.headers["Retry-After"])
            assert 1 <= retry_after <= window

        # Retry-After is long enough: the oldest attempt has left the window.
        await asyncio.sleep(retry_after)
        assert (await sign_in(second)).status_code == 401
        # A whole window later, every attempt has left it: the full limit again.
        await asyncio.sleep(window)
        assert [(await sign_in(replica)).status_code for replica in (second, first, second)] == [401] * 3
        assert (await sign_in(first)).status_code == 429


async def test_concurrent_attempts_never_pass_the_limit(database_url: str, engine: Engine) -> None:
    """Twelve attempts on one username at once, each from an address of its
    own and split across both replicas: the per-username limit lets exactly
    four through."""
    async with replicas(database_url, login_rate_limit="4/minute") as apps, AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(client_of(apps[n % 2], f"198.51.100.{n + 1}")) for n in range(12)
        ]
        answers = await asyncio.gather(*(sign_in(client, "shared-target") for client in clients))
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * 4 + [429] * 8
    per_username = [hits for key, hits in rows_of(engine) if "/login-user/" in key]
    assert sum(per_username) == 4


def test_concurrent_threads_of_two_storages_never_pass_the_limit(database_url: str, engine: Engine) -> None:
    """The storage alone, from many threads and two engines (two replicas'
    connection pools): 7 of 60 hits admitted, never more."""
    other_engine = make_engine(database_url)
    try:
        limiters = [MovingWindowRateLimiter(DatabaseStorage(e)) for e in (engine, other_engine)]
        rate = parse_rate("7/minute")
        with ThreadPoolExecutor(max_workers=12) as pool:
            admitted = list(pool.map(lambda n: limiters[n % 2].hit(rate, "threads", "key"), range(60)))
    finally:
        other_engine.dispose()
    assert admitted.count(True) == 7
    assert sum(hits for _, hits in rows_of(engine)) == 7


def test_expired_hits_are_swept(engine: Engine) -> None:
    """A replica sweeps on its first hit and then every `sweep_every` seconds:
    the hits of keys that went quiet go too."""
    limiter = MovingWindowRateLimiter(DatabaseStorage(engine, sweep_every=0.5))
    rate = parse_rate("5/second")
    for client in ("quiet-1", "quiet-2", "quiet-2"):
        assert limiter.hit(rate, "sweep", client)
    assert len(rows_of(engine)) == 3
    time.sleep(rate.get_expiry() + 0.1)
    assert limiter.hit(rate, "sweep", "busy")
    assert [key for key, _ in rows_of(engine)] == [rate.key_for("sweep", "busy")]
    # Nothing left to sweep, and the query says so.
    assert rate_limits.sweep_expired(engine, time.time()) == 0


def test_keys_no_database_could_store_are_counted_apart(engine: Engine) -> None:
    """A username typed with a NUL (which PostgreSQL's text refuses) is
    counted like any other, and apart from the username that spells the
    escape out."""
    limiter = MovingWindowRateLimiter(DatabaseStorage(engine))
    rate = parse_rate("2/minute")
    assert [limiter.hit(rate, "login-user", "ann\x00") for _ in range(3)] == [True, True, False]
    assert limiter.hit(rate, "login-user", "ann\\x00")
    assert limiter.get_window_stats(rate, "login-user", "ann\x00").remaining == 0


async def test_memory_storage_counts_in_each_replica(database_url: str, engine: Engine) -> None:
    """CXLOOP_RATE_LIMIT_STORAGE=memory: each process counts alone, and
    writes nothing to the database."""
    async with (
        replicas(database_url, login_rate_limit="2/minute", rate_limit_storage="memory") as apps,
        client_of(apps[0]) as first,
        client_of(apps[1]) as second,
    ):
        assert [(await sign_in(first)).status_code for _ in range(3)] == [401, 401, 429]
        assert (await sign_in(second)).status_code == 401
    assert rows_of(engine) == []


async def test_a_database_that_cannot_count_closes_sign_in_and_leaves_intake_open(
    database_url: str, engine: Engine
) -> None:
    """Without its table (a database that refuses, or a replica ahead of
    its migration) no limit can count: sign-in refuses with 429 and a short
    Retry-After, while the web form and the customer's links go on to
    answer for themselves. Never a 500."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE rate_limit_hits"))
    async with (
        replicas(database_url, count=1, form_rate_limit="1/minute") as apps,
        client_of(apps[0]) as replica,
    ):
        refused = await sign_in(replica)
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == str(UNCOUNTED_RETRY_AFTER_SECONDS)
        # Past the (uncountable) limit of one a minute, each reaches validation.
        for _ in range(3):
            assert (await replica.post("/api/intake/form", json={})).status_code == 422
        assert (await replica.get("/customer/tickets/not-a-link")).status_code == 404


def test_migration_0007_upgrades_and_downgrades(database_url: str, engine: Engine) -> None:
    limiter = MovingWindowRateLimiter(DatabaseStorage(engine))
    assert limiter.hit(parse_rate("1/minute"), "migration", "client")
    downgrade(database_url, "0006")
    assert current_revision(database_url) == "0006"
    assert "rate_limit_hits" not in inspect(engine).get_table_names()
    migrate(database_url)
    assert rows_of(engine) == []
    assert limiter.hit(parse_rate("1/minute"), "migration", "client")


def test_cost_of_one_check(database_url: str, engine: Engine) -> None:
    """Measured, not asserted (it depends on the machine): what a survey
    webhook's check costs, in microseconds, next to counting in memory."""
    rate = parse_rate("6000/minute")  # the webhooks' default
    iterations = 300
    database = MovingWindowRateLimiter(DatabaseStorage(engine))
    memory = MovingWindowRateLimiter(MemoryStorage())
    # A platform that has already sent 5000 deliveries this minute: each
    # check sums that many rows.
    busy_key = rate.key_for("intake-webhook", "busy-platform")
    with engine.begin() as connection:
        now = time.time()
        connection.execute(
            insert(RateLimitHitRow),
            [{"key": busy_key, "expires_at": now + 30 + n / 1000, "hits": 1} for n in range(5000)],
        )

    def per_check(limiter: MovingWindowRateLimiter, client: str) -> float:
        started = time.perf_counter()
        admitted = [limiter.hit(rate, "intake-webhook", client) for _ in range(iterations)]
        elapsed = time.perf_counter() - started
        assert admitted == [True] * iterations
        return elapsed / iterations * 1e6

    costs = {
        "database, a fresh client": per_check(database, "fresh-platform"),
        "database, 5000 hits in the window": per_check(database, "busy-platform"),
        "memory": per_check(memory, "fresh-platform"),
    }
    with engine.connect() as connection:
        stored = connection.scalar(select(func.sum(RateLimitHitRow.hits)))
    assert stored == 5000 + 2 * iterations
    dialect = engine.dialect.name
    for what, microseconds in costs.items():
        print(f"\nrate limit check on {dialect}, {what}: {microseconds:.0f} µs ({iterations} iterations)")
