"""The read model under concurrent writers, and when it cannot answer.

Concurrent writes: the routes that read first and write later in one
transaction (a user's password, a new API token, a user's change) run at once
with the ticket projections the worker writes, over real HTTP through the
ASGI app (each request's database work runs on a thread of its own). On
SQLite a transaction that reads first and upgrades to a write later cannot
wait for another writer and failed at once with "database is locked" (a
500): every one must succeed, and every write must be there afterwards.

A database that cannot answer: a lock held past the busy timeout (SQLite),
connections refused and terminated (PostgreSQL). The API answers 503 with
Retry-After, in the reader's language, never 500.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.engine import make_url

from api.app import create_app
from settings import Settings
from store import accounts
from store.db import make_engine, migrate, reading
from store.models import User, UserRole
from tests.api_fixtures import ApiEnv, created, new_user, user_id_for
from tests.db_fixtures import POSTGRES_ADMIN_URL, _postgres_database


WRITERS = 8  # of each kind: passwords, tokens, user changes, comments


@pytest.mark.dev_server
async def test_concurrent_writers_all_succeed_and_every_write_is_applied(api: ApiEnv, workspace: str) -> None:
    http = api.http
    usernames = [await new_user(api, f"writer{n}") for n in range(WRITERS)]
    users = {u["username"]: u for u in (await http.get("/api/users")).json() if u["username"] in usernames}
    ticket = await created(http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
        "comment": "Phoned about a late delivery",
    }))
    answers: list[tuple[str, int | str]] = []

    async def send(what: str, method: str, url: str, body: dict) -> None:
        try:
            response = await http.request(method, url, json=body)
            answers.append((what, response.status_code))
        except Exception as error:  # the ASGI transport raises what the app raised (a 500)
            answers.append((what, f"{error.__class__.__name__}: {error}"))

    requests = []
    for n, username in enumerate(usernames):
        user_id = users[username]["id"]
        requests += [
            send("password", "PUT", f"/api/users/{user_id}/password", {"password": f"new-password-{n}-{user_id}"}),
            send("token", "POST", "/api/tokens", {"name": f"contention-{n}", "user_id": user_id}),
            send("user", "PATCH", f"/api/users/{user_id}", {"display_name": f"Writer {n}"}),
            send("comment", "POST", f"/api/tickets/{ticket['id']}/comments", {"comment": f"contention {n}"}),
        ]
    await asyncio.gather(*requests)

    failed = [answer for answer in answers if not (isinstance(answer[1], int) and answer[1] < 300)]
    assert not failed, failed
    assert len(answers) == 4 * WRITERS

    # Every write is there.
    for n, username in enumerate(usernames):
        user_id = users[username]["id"]
        signed_in = await asyncio.to_thread(
            accounts.authenticate, api.engine, username, f"new-password-{n}-{user_id}"
        )
        assert signed_in is not None and signed_in.user_id == user_id
        tokens = (await http.get("/api/tokens", params={"user_id": user_id})).json()
        assert [token["name"] for token in tokens] == [f"contention-{n}"]
        assert (await http.get(f"/api/users/{user_id}")).json()["display_name"] == f"Writer {n}"
    events = (await http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert sorted(e["comment"] for e in events if e["comment"].startswith("contention ")) == sorted(
        f"contention {n}" for n in range(WRITERS)
    )



# --- the mechanism: on SQLite no transaction that may write starts deferred -------------


def another_writer(path) -> sqlite3.Connection:
    """A second writer that does not wait: it fails at once if the write lock is taken."""
    return sqlite3.connect(path, isolation_level=None, timeout=0)


def test_every_sqlite_transaction_but_a_read_holds_the_write_lock_from_its_start(tmp_path) -> None:
    path = tmp_path / "read-model.db"
    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    other = another_writer(path)
    try:
        # An ORM Session that reads first (set_password, create_token, the
        # configuration's changes): the lock is its from the first SELECT, so a
        # concurrent writer waits (here: fails at once, with no wait allowed)
        # instead of committing under its snapshot and failing its later write.
        with Session(engine) as session, session.begin():
            assert session.scalar(select(User).where(User.username == "nobody")) is None
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            session.add(User(username="pat", email="pat@example.com", role=UserRole.AGENT))
        # A Core connection's transaction, begun by its first statement, too.
        with engine.connect() as connection:
            connection.execute(select(User.id))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        # A declared read does not take the lock, and cannot write.
        with reading(engine) as connection:
            assert connection.scalar(select(User.username)) == "pat"
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE users SET display_name = 'Pat' WHERE username = 'pat'")
            other.execute("COMMIT")
            with pytest.raises(OperationalError, match="readonly"):
                connection.execute(update(User).values(display_name="Pat Lee"))
        # The connection went back to the pool: the next transaction may write.
        with Session(engine) as session, session.begin():
            session.execute(update(User).values(display_name="Pat Lee"))
        with reading(engine) as connection:
            assert connection.scalar(select(User.display_name)) == "Pat Lee"
    finally:
        other.close()
        engine.dispose()


def test_a_configuration_read_neither_takes_nor_waits_for_the_sqlite_write_lock(tmp_path) -> None:
    """A ticket's policy (every intake, every projection that finds an older
    copy) and the settings' lists are declared reads: they go on while a
    projection writes, and do not hold one up."""
    from store.configuration import list_segments, load_policy

    path = tmp_path / "read-model.db"
    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO workspaces (id, name, config_revision) VALUES ('w', 'W', 3)"))
    other = another_writer(path)
    try:
        other.execute("BEGIN IMMEDIATE")  # a writer holds the lock throughout
        assert load_policy(engine, "w").revision == 3
        assert list_segments(engine, "w") == []
        other.execute("COMMIT")
    finally:
        other.close()
        engine.dispose()


# --- a database that cannot answer: 503 with Retry-After, in the reader's language -----


@contextmanager
def app_on(database_url: str) -> Iterator[tuple[Settings, str]]:
    """The settings of an app on `database_url` (migrated), and a bearer token
    of an admin there, already used once (so that its last use is not written
    again by the request under test)."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        admin_id = user_id_for(engine, f"admin-{uuid.uuid4().hex[:8]}", UserRole.ADMIN)
        _, secret = accounts.create_token(engine, admin_id, "tests")
        assert accounts.token_principal(engine, secret) is not None
    finally:
        engine.dispose()
    # Temporal is not needed: the client connects lazily, on first use.
    yield Settings(database_url=database_url, temporal_address="127.0.0.1:1"), secret


async def post_token_in_german(settings: Settings, secret: str, when_ready) -> httpx.Response:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as http:
            headers = {"Authorization": f"Bearer {secret}", "Accept-Language": "de"}
            # The app's pool holds a working connection before the database goes.
            assert (await http.get("/api/me", headers=headers)).status_code == 200
            with when_ready():
                return await http.post("/api/tokens", json={"name": "during the outage"}, headers=headers)


def assert_retry_later_in_german(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.headers["Content-Language"] == "de"
    assert answer.json() == {"detail": "die Datenbank ist ausgelastet oder nicht erreichbar; versuchen Sie es gleich noch einmal"}


async def test_a_sqlite_lock_held_past_the_busy_timeout_answers_503(tmp_path) -> None:
    path = tmp_path / "read-model.db"
    # pysqlite's `timeout` is SQLite's busy timeout: one second, not thirty.
    with app_on(f"sqlite:///{path}?timeout=1") as (settings, secret):

        @contextmanager
        def another_writer_holds_the_lock() -> Iterator[None]:
            holder = sqlite3.connect(path, isolation_level=None)
            try:
                holder.execute("BEGIN EXCLUSIVE")
                yield
            finally:
                holder.execute("ROLLBACK")
                holder.close()

        answer = await post_token_in_german(settings, secret, another_writer_holds_the_lock)
    assert_retry_later_in_german(answer)


async def test_a_postgresql_database_refusing_connections_answers_503() -> None:
    for database_url in _postgres_database():
        name = make_url(database_url).database
        with app_on(database_url) as (settings, secret):
            admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

            @contextmanager
            def connections_refused_and_terminated() -> Iterator[None]:
                with admin.connect() as connection:
                    connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
                    connection.execute(
                        text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                        {"name": name},
                    )
                try:
                    yield
                finally:
                    with admin.connect() as connection:
                        connection.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))

            try:
                answer = await post_token_in_german(settings, secret, connections_refused_and_terminated)
            finally:
                admin.dispose()
        assert_retry_later_in_german(answer)
