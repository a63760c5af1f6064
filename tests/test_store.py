"""The read model on SQLite and PostgreSQL: migrations, the version-guarded
projection, filters, keyset pagination, counts and streaming."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import event, func, inspect, select, text

from domain.commands import Command, Decision, NewTicket, TicketChange, decide_change, decide_comment
from domain.commands import decide_create, decide_purge
from domain.ticket import (
    EscalatedBy,
    Priority,
    Source,
    TicketPolicy,
    TicketProjection,
    TicketState,
    TicketStatus,
)
from store.db import SQLITE_SEARCH_TABLES, alembic_config, current_revision, make_engine, migrate, modelled_here
from store.models import Base
from store.tickets import InvalidCursor, TicketFilters, TicketStore

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
POLICY = TicketPolicy(segment_managers={"retail": ["ann"], "b2b": ["bob", "cy"], "support": ["dee"]})
S = TicketStatus
P = Priority



def read_model_tables(dialect_name: str) -> set[str]:
    """The tables a migrated read model holds: what the models declare, and
    what the migrations add by hand."""
    tables = {*Base.metadata.tables, "alembic_version"}
    return tables | SQLITE_SEARCH_TABLES if dialect_name == "sqlite" else tables




def create(ticket_id: str | None = None, at: datetime = NOW, **fields: Any) -> Decision:
    new = NewTicket(
        id=ticket_id or str(uuid.uuid4()),
        source=fields.pop("source", Source.MANUAL),
        customer_email=fields.pop("customer_email", "customer@example.com"),
        segment=fields.pop("segment", "retail"),
        comment="created by a test",
        **fields,
    )
    return decide_create(new, POLICY, at)


def change(state: TicketState, at: datetime = NOW, **fields: Any) -> Decision:
    return decide_change(state, TicketChange(comment="changed by a test", **fields), POLICY, at)


def projection(decision: Decision) -> TicketProjection:
    return TicketProjection(state=decision.state, events=decision.events)


def ticket(ticket_id: str, days_ago: float, **fields: Any) -> TicketState:
    """A ticket reported `days_ago` before NOW; `status` may be any status."""
    status = fields.pop("status", S.NEW)
    state = create(ticket_id, at=NOW - timedelta(days=days_ago), **fields).state
    return state.model_copy(update={"status": status})


# --- migrations -------------------------------------------------------------------


def test_migrations_create_the_schema_and_a_second_run_changes_nothing(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(database_url) is None

    migrate(database_url)
    engine = make_engine(database_url)
    dialect = engine.dialect.name
    try:
        assert set(inspect(engine).get_table_names()) == read_model_tables(dialect)
        assert current_revision(database_url) == head
        with engine.connect() as connection:
            # The migrations build exactly what store.models describes.
            context = MigrationContext.configure(connection, opts={"include_object": modelled_here(dialect)})
            assert compare_metadata(context, Base.metadata) == []
            tickets_indexes = {index["name"] for index in inspect(connection).get_indexes("tickets")}
        assert {
            "ix_tickets_workspace_reported",
            "ix_tickets_workspace_priority",
            "ix_tickets_workspace_status",
            "ix_tickets_workspace_segment",
            "ix_tickets_workspace_owner",
        } <= tickets_indexes
        assert ("ix_tickets_search" in tickets_indexes) == (dialect == "postgresql")

        migrate(database_url)

        assert current_revision(database_url) == head
        assert set(inspect(engine).get_table_names()) == read_model_tables(dialect)
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            assert versions == [head]
    finally:
        engine.dispose()


def test_migrate_creates_the_directory_of_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "cxloop.db"
    migrate(f"sqlite:///{path}")
    assert path.is_file()
    assert current_revision(f"sqlite:///{path}") is not None


def test_sqlite_engine_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


# --- the projection ----------------------------------------------------------------


def test_a_ticket_reads_back_exactly_as_projected(ticket_store: TicketStore) -> None:
    paris = timezone(timedelta(hours=1))
    created = create(
        source=Source.SURVEY,
        survey_id="nps-q1",
        response_id="resp-1",
        customer_email="jane@acme.io",
        customer_name="Jane Smith",
        customer_comment="Late delivery, twice.",
        score=3,
        priority=P.HIGH,
        reported_at=datetime(2025, 2, 28, 9, 30, 15, 123456, tzinfo=paris),
    ).state
    # Every optional field set, so that each column is exercised.
    state = created.model_copy(
        update={
            "status": S.DELETED,
            "status_before_delete": S.ESCALATED,
            "escalated_by": EscalatedBy.RULE,
            "snooze_until": NOW + timedelta(days=1),
            "resolved_at": NOW - timedelta(hours=1),
            "fired_rule_ids": ["rule-4h", "rule-2d"],
            "escalation_due_at": NOW + timedelta(hours=4),
            "escalation_rule_id": "rule-4h",
            "wake_at": NOW + timedelta(days=1),
            "auto_close_at": NOW + timedelta(days=7),
        }
    )

    assert ticket_store.apply(TicketProjection(state=state, events=[])).written is True

    stored = ticket_store.get(state.id)
    assert stored == state
    assert stored is not None and stored.reported_at.tzinfo == UTC
    assert stored.reported_at == datetime(2025, 2, 28, 8, 30, 15, 123456, tzinfo=UTC)
    assert ticket_store.get("no-such-ticket") is None


def test_apply_inserts_then_updates(ticket_store: TicketStore) -> None:
    created = create(segment="b2b")
    assigned = change(created.state, at=NOW + timedelta(minutes=5), owner="bob", priority=P.CRITICAL)

    assert ticket_store.apply(projection(created)).written is True
    assert ticket_store.get(created.state.id) == created.state

    assert ticket_store.apply(projection(assigned)).written is True
    stored = ticket_store.get(created.state.id)
    assert stored == assigned.state
    assert (stored.owner, stored.priority, stored.version) == ("bob", P.CRITICAL, 3)
    assert ticket_store.events(created.state.id) == created.events + assigned.events
    assert [event.seq for event in ticket_store.events(created.state.id)] == [1, 2, 3]


def test_a_late_projection_does_not_roll_back_but_its_events_are_kept_once(ticket_store: TicketStore) -> None:
    created = create()
    opened = change(created.state, status=S.OPEN)
    answered = change(opened.state, status=S.ANSWERED)

    # The projections of `opened` and `answered` overtake that of `created`,
    # and then `opened` is retried.
    assert ticket_store.apply(projection(opened)).written is True
    assert ticket_store.apply(projection(answered)).written is True
    assert ticket_store.apply(projection(created)).written is False
    assert ticket_store.apply(projection(opened)).written is False

    assert ticket_store.get(created.state.id) == answered.state
    events = ticket_store.events(created.state.id)
    assert events == created.events + opened.events + answered.events
    assert [event.seq for event in events] == [1, 2, 3]


def test_a_retried_projection_is_idempotent(ticket_store: TicketStore) -> None:
    created = create(customer_comment="never arrived")

    assert ticket_store.apply(projection(created)).written is True
    assert ticket_store.apply(projection(created)).written is False

    assert ticket_store.get(created.state.id) == created.state
    assert ticket_store.events(created.state.id) == created.events
    assert ticket_store.counts(TicketFilters())["total"] == 1


def test_a_retried_workflow_task_replaces_the_dead_attempts_times(ticket_store: TicketStore) -> None:
    """A worker killed after projecting: Temporal runs the task again and it
    decides the same change later. Only the retry is in the history, so its
    times win over the dead attempt's; an older version still never does."""
    created = create()
    dead_attempt = change(created.state, at=NOW + timedelta(minutes=1), status=S.OPEN)
    retried = change(created.state, at=NOW + timedelta(minutes=1, seconds=10), status=S.OPEN)
    assert ticket_store.apply(projection(created)).written is True
    assert ticket_store.apply(projection(dead_attempt)).new_events == tuple(dead_attempt.events)

    applied = ticket_store.apply(projection(retried))
    # Its lines replace the dead attempt's, and are not new to the read model.
    assert applied.written is True and applied.new_events == ()
    ticket_id = created.state.id
    assert ticket_store.get(ticket_id) == retried.state
    assert ticket_store.events(ticket_id) == created.events + retried.events
    # The dead attempt's projection arriving again changes nothing, nor does an older version.
    assert ticket_store.apply(projection(dead_attempt)).written is False
    assert ticket_store.apply(projection(created)).written is False
    assert ticket_store.get(ticket_id) == retried.state
    assert ticket_store.events(ticket_id) == created.events + retried.events


def comments_at(state: TicketState, at: datetime, *texts: str) -> list[TicketProjection]:
    """One workflow task that ran a comment update per text, in this order: each
    update handler projects its own change, all at the task's time."""
    projections = []
    for text in texts:
        decision = decide_comment(state, Command(comment=text), at)
        projections.append(TicketProjection(state=decision.state, events=decision.events, decided_at=at))
        state = decision.state
    return projections


def test_a_discarded_workflow_task_gives_way_to_the_committed_one(ticket_store: TicketStore) -> None:
    """Concurrent updates make the server discard speculative workflow tasks
    after their update handlers projected: the task runs again later with the
    updates in another order. The read model ends holding exactly what the
    committed history holds, though the discarded attempt got further."""
    created = create()
    ticket_id = created.state.id
    ticket_store.apply(projection(created))
    discarded = comments_at(created.state, NOW + timedelta(seconds=1), "c1", "c2", "c3", "c4", "c5")
    for landed in discarded:
        ticket_store.apply(landed)
    # The committed history: the same updates, ordered otherwise and over two
    # tasks, the second of which the read model has not seen yet.
    first_task = comments_at(created.state, NOW + timedelta(seconds=2), "c3", "c1")
    second_task = comments_at(first_task[-1].state, NOW + timedelta(seconds=3), "c5", "c2", "c4")

    applied = [ticket_store.apply(landed) for landed in first_task]
    assert all(landed.written for landed in applied)
    # c3 and c1 replace c1 and c2; c3, c4 and c5 of the discarded attempt are gone.
    assert sum(landed.repaired for landed in applied) == 2 + 3
    assert [event.comment for event in ticket_store.events(ticket_id)][1:] == ["c3", "c1"]
    assert ticket_store.get(ticket_id) == first_task[-1].state
    for landed in second_task:
        assert ticket_store.apply(landed).repaired == 0
    committed = [*created.events, *(event for landed in first_task + second_task for event in landed.events)]
    assert ticket_store.events(ticket_id) == committed
    assert ticket_store.get(ticket_id) == second_task[-1].state
    # A late copy of the discarded attempt's projections changes nothing.
    for late in discarded:
        assert ticket_store.apply(late) == type(applied[0])(written=False, new_events=(), repaired=0)
    assert ticket_store.events(ticket_id) == committed


def test_the_committed_task_wins_even_when_it_ends_at_a_lower_version(ticket_store: TicketStore) -> None:
    """The discarded attempt ran five updates; the committed one ran two (the
    others were refused in the new order, or arrive later): its state, lower in
    version, replaces the discarded one's, and the lines beyond it go."""
    created = create()
    ticket_id = created.state.id
    ticket_store.apply(projection(created))
    for landed in comments_at(created.state, NOW + timedelta(seconds=1), "a", "b", "c", "d", "e"):
        ticket_store.apply(landed)
    committed = comments_at(created.state, NOW + timedelta(seconds=2), "b", "a")
    for landed in committed:
        ticket_store.apply(landed)
    assert ticket_store.get(ticket_id) == committed[-1].state
    assert [(event.seq, event.comment) for event in ticket_store.events(ticket_id)][1:] == [(2, "b"), (3, "a")]


def test_a_new_attempt_at_the_same_task_time_wins_by_when_it_ran(ticket_store: TicketStore) -> None:
    """The server may run a discarded task again with the very same
    `workflow.now()` (seen under load: the read model kept "c17" where the
    history has "c5", both at one time). The attempt that ran later wins,
    even at a lower version; a late write of the earlier attempt loses."""
    created = create()
    ticket_id = created.state.id
    ticket_store.apply(projection(created))
    task_time = NOW + timedelta(seconds=1)
    ran = [NOW + timedelta(seconds=1, microseconds=n) for n in range(10)]
    discarded = comments_at(created.state, task_time, "c17", "c5")
    for landed, started in zip(discarded, ran[:2]):
        assert ticket_store.apply(landed, projected_at=started).written
    committed = comments_at(created.state, task_time, "c5")[0]

    applied = ticket_store.apply(committed, projected_at=ran[5])
    assert applied.written and applied.repaired == 2  # line 2 corrected, line 3 removed
    assert ticket_store.get(ticket_id) == committed.state
    assert [event.comment for event in ticket_store.events(ticket_id)][1:] == ["c5"]
    # The discarded attempt's projections landing late (a stalled database):
    # they ran earlier, so they change nothing.
    for late, started in zip(discarded, ran[:2]):
        assert ticket_store.apply(late, projected_at=started) == type(applied)(written=False, new_events=(), repaired=0)
    assert ticket_store.get(ticket_id) == committed.state
    assert [event.comment for event in ticket_store.events(ticket_id)][1:] == ["c5"]


def test_concurrent_projections_of_one_ticket_end_at_the_newest(ticket_store: TicketStore) -> None:
    decisions = [create()]
    for n in range(19):
        decisions.append(decide_comment(decisions[-1].state, Command(comment=f"note {n}"), NOW))
    shuffled = random.Random(7).sample(decisions, len(decisions))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda d: ticket_store.apply(projection(d)).written, shuffled))

    ticket_id = decisions[0].state.id
    assert ticket_store.get(ticket_id) == decisions[-1].state
    assert [event.seq for event in ticket_store.events(ticket_id)] == list(range(1, 21))
    # The newest always lands; only an older one can lose to a newer one.
    assert results[shuffled.index(decisions[-1])] is True


def test_purge_removes_the_ticket_and_a_late_projection_cannot_bring_it_back(
    ticket_store: TicketStore,
) -> None:
    created = create(customer_email="forget-me@example.com")
    deleted = change(created.state, status=S.DELETED)
    purged = decide_purge(deleted.state, Command(comment="customer asked to be forgotten"), NOW)
    other = create()
    for decision in (created, deleted, other):
        ticket_store.apply(projection(decision))

    assert ticket_store.apply(projection(purged)).written is True

    ticket_id = created.state.id
    assert ticket_store.get(ticket_id) is None
    assert ticket_store.events(ticket_id) == []
    assert ticket_store.list(TicketFilters(q="forget-me")).items == []
    # A retried purge and a late projection of the deleted ticket change nothing.
    assert ticket_store.apply(projection(purged)).written is False
    assert ticket_store.apply(projection(deleted)).written is False
    assert ticket_store.get(ticket_id) is None
    assert ticket_store.events(ticket_id) == []
    # Other tickets are untouched.
    assert ticket_store.get(other.state.id) == other.state
    assert ticket_store.events(other.state.id) == other.events


# --- filters and counts ---------------------------------------------------------------


@pytest.fixture
def desk(ticket_store: TicketStore) -> TicketStore:
    """Seven tickets that the filter tests pick apart."""
    tickets = [
        ticket("t1", 1, segment="retail", priority=P.HIGH, customer_email="jane@acme.io",
               customer_name="Jane Smith", customer_comment="Please refund my order"),
        ticket("t2", 2, segment="b2b", owner="bob", status=S.OPEN, priority=P.CRITICAL,
               customer_email="ops@globex.com", customer_name="Globex Ops",
               customer_comment="100% unhappy with support", source=Source.SURVEY,
               survey_id="nps", response_id="resp-4242"),
        ticket("t3", 10, segment="b2b", owner="cy", status=S.ESCALATED, priority=P.LOW,
               customer_email="li@initech.com", customer_comment="1000 reasons to leave"),
        ticket("t4", 40, segment="retail", status=S.RESOLVED, customer_email="old@acme.io"),
        ticket("t5", 3, segment="support", status=S.SPAM, customer_email="bot@spam.example"),
        ticket("t6", 1, segment="retail", priority=P.HIGH, workspace_id="emea",
               customer_email="jane@acme.io", customer_name="Jane Smith"),
        ticket("t7", 5, segment="b2b", priority=P.CRITICAL, customer_email="cto@hooli.com"),
    ]
    assert ticket_store.bulk_insert_states(tickets) == 7
    return ticket_store


def recent(**filters: Any) -> TicketFilters:
    """Filters as the API applies them: the last 30 days unless a date is given."""
    return TicketFilters(**filters).with_defaults(NOW)


def ids(store: TicketStore, filters: TicketFilters) -> set[str]:
    page = store.list(filters, limit=100)
    assert page.next_cursor is None
    return {state.id for state in page.items}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param(recent(), {"t1", "t2", "t3", "t5", "t7"}, id="default: last 30 days"),
        pytest.param(recent(workspace_id="emea"), {"t6"}, id="workspace"),
        pytest.param(recent(workspace_id="nowhere"), set(), id="unknown workspace"),
        pytest.param(
            recent(reported_from=NOW - timedelta(days=5), reported_to=NOW - timedelta(days=2)),
            {"t7", "t5"},
            id="range: from inclusive, to exclusive",
        ),
        pytest.param(recent(reported_to=NOW - timedelta(days=30)), {"t4"}, id="only an upper bound"),
        pytest.param(recent(segment="b2b"), {"t2", "t3", "t7"}, id="segment"),
        pytest.param(recent(owner="ann"), {"t1"}, id="owner"),
        pytest.param(recent(status=[S.NEW, S.SPAM]), {"t1", "t5", "t7"}, id="status"),
        pytest.param(recent(priority=[P.CRITICAL]), {"t2", "t7"}, id="priority"),
        pytest.param(recent(q="SMITH"), {"t1"}, id="q: customer name, any case"),
        pytest.param(recent(q="Refund"), {"t1"}, id="q: customer comment"),
        pytest.param(recent(q="@acme.io"), {"t1"}, id="q: customer email"),
        pytest.param(recent(q="resp-42"), {"t2"}, id="q: response id"),
        pytest.param(recent(q="100%"), {"t2"}, id="q: % is not a wildcard"),
        pytest.param(recent(q="_"), set(), id="q: _ is not a wildcard"),
        pytest.param(
            recent(segment="b2b", status=[S.NEW, S.OPEN], priority=[P.CRITICAL], q="hooli"), {"t7"},
            id="combined",
        ),
        pytest.param(recent(segment="", owner=" ", q="", status=[]), {"t1", "t2", "t3", "t5", "t7"},
                     id="blank filters do not restrict"),
    ],
)
def test_filters_select_exactly_the_expected_tickets(
    desk: TicketStore, filters: TicketFilters, expected: set[str]
) -> None:
    assert ids(desk, filters) == expected


def test_q_finds_a_ticket_by_its_reference(desk: TicketStore) -> None:
    reference = desk.get("t3").reference
    assert ids(desk, recent(q=reference.lower())) == {"t3"}


def test_counts_cover_every_status_and_match_the_list(desk: TicketStore) -> None:
    assert desk.counts(recent()) == {
        "new": 2, "open": 1, "answered": 0, "escalated": 1, "postponed": 0,
        "resolved": 0, "closed": 0, "spam": 1, "deleted": 0, "total": 5,
    }
    for filters in (recent(), recent(segment="b2b"), recent(q="acme"), TicketFilters(), recent(owner="zoe")):
        listed = desk.list(filters, limit=100).items
        counts = desk.counts(filters)
        assert counts["total"] == len(listed)
        assert {status: n for status, n in counts.items() if n and status != "total"} == dict(
            Counter(state.status.value for state in listed)
        )


# --- text search ---------------------------------------------------------------------
# `q` uses an index (PostgreSQL: pg_trgm; SQLite: FTS5 trigram, migration 0004);
# these pin down that it still means "this text, in any case, anywhere in the
# customer's email, name or comment, the reference or the response id".


@pytest.fixture
def comments(ticket_store: TicketStore) -> TicketStore:
    tickets = [
        ticket("middle", 1, segment="retail", customer_comment="The parcel arrived DAMAGED, twice."),
        ticket("other-segment", 2, segment="b2b", customer_comment="parcel arrived damaged"),
        ticket("other-workspace", 1, segment="retail", workspace_id="emea",
               customer_comment="Parcel arrived damaged"),
        ticket("too-old", 45, segment="retail", customer_comment="Parcel arrived damaged"),
        ticket("no-damage", 3, segment="retail", status=S.OPEN, customer_comment="Arrived early, no damage"),
        ticket("accents", 4, segment="retail", customer_name="Élodie Brûlé", customer_comment="Très déçue"),
        ticket("query-syntax", 5, segment="retail",
               customer_comment='They said "next week" AND NEAR(never) * col:umn'),
    ]
    assert ticket_store.bulk_insert_states(tickets) == len(tickets)
    return ticket_store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param(recent(q="rived DAMaged"), {"middle", "other-segment"},
                     id="across words in the middle of a comment, any case"),
        pytest.param(recent(q="rived DAMaged", segment="retail"), {"middle"}, id="with a segment"),
        pytest.param(recent(q="amage", segment="retail"), {"middle", "no-damage"}, id="inside a word"),
        pytest.param(recent(q="amage", segment="retail", status=[S.OPEN]), {"no-damage"}, id="with a status"),
        pytest.param(recent(q="parcel arrived damaged", workspace_id="emea"), {"other-workspace"},
                     id="the whole comment, another workspace"),
        pytest.param(recent(q="damaged", reported_to=NOW - timedelta(days=30)), {"too-old"},
                     id="within the dates"),
        pytest.param(recent(q="élodie brûlÉ"), {"accents"}, id="letters beyond ASCII, any case"),
        pytest.param(recent(q="Dé"), {"accents"}, id="two characters (no trigram)"),
        pytest.param(recent(q='"next week" AND'), {"query-syntax"}, id="quotes and operators are text"),
        pytest.param(recent(q="NEAR(never) *"), {"query-syntax"}, id="FTS5 syntax is text"),
        pytest.param(recent(q="col:umn"), {"query-syntax"}, id="a colon is text"),
        pytest.param(recent(q='"'), {"query-syntax"}, id="one quote"),
        pytest.param(recent(q="arrived  damaged"), set(), id="spaces count"),
        pytest.param(recent(q="damaged twice"), set(), id="punctuation counts"),
    ],
)
def test_q_is_a_case_insensitive_substring_within_the_other_filters(
    comments: TicketStore, filters: TicketFilters, expected: set[str]
) -> None:
    assert ids(comments, filters) == expected
    assert comments.counts(filters)["total"] == len(expected)


def test_q_finds_what_projections_write_and_forgets_what_purges_remove(ticket_store: TicketStore) -> None:
    created = create(customer_email="late.arrival@example.com", customer_comment="The refund never came")
    assert ticket_store.apply(projection(created)).written is True
    changed = change(created.state, priority=P.HIGH, status=S.OPEN)
    assert ticket_store.apply(projection(changed)).written is True
    other = create(customer_comment="A refund, please")
    assert ticket_store.apply(projection(other)).written is True

    assert ids(ticket_store, recent(q="REFUND NEVER")) == {created.state.id}
    assert ids(ticket_store, recent(q="late.arrival@")) == {created.state.id}
    assert ids(ticket_store, recent(q="refund")) == {created.state.id, other.state.id}

    deleted = change(changed.state, status=S.DELETED)
    purged = decide_purge(deleted.state, Command(comment="forget me"), NOW)
    assert ticket_store.apply(projection(deleted)).written is True
    assert ticket_store.apply(projection(purged)).written is True

    assert ids(ticket_store, recent(q="refund")) == {other.state.id}
    assert ids(ticket_store, recent(q="late.arrival")) == set()
    assert_search_index_matches_the_tickets(ticket_store)


def assert_search_index_matches_the_tickets(store: TicketStore) -> None:
    """SQLite's FTS5 index must hold exactly the tickets' text (PostgreSQL
    keeps its index itself)."""
    if store.engine.dialect.name == "sqlite":
        # FTS5 compares its index with the tickets table (rank 1: with the
        # external content too) and fails if they disagree.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO tickets_search(tickets_search, rank) VALUES ('integrity-check', 1)"
            )


def test_filters_validate_their_input() -> None:
    with pytest.raises(ValidationError):
        TicketFilters(reported_from=NOW, reported_to=NOW - timedelta(days=1))
    with pytest.raises(ValidationError):
        TicketFilters(status=["nonsense"])
    with pytest.raises(ValidationError):
        TicketFilters(segmnet="typo")

    naive = TicketFilters(reported_from=datetime(2025, 1, 1))
    assert naive.reported_from == datetime(2025, 1, 1, tzinfo=UTC)
    assert TicketFilters().with_defaults(NOW).reported_from == NOW - timedelta(days=30)
    assert TicketFilters().with_defaults(NOW).reported_to is None
    bounded = TicketFilters(reported_to=NOW)
    assert bounded.with_defaults(NOW) == bounded


# --- keyset pagination and streaming ---------------------------------------------------

PRIORITY_RANK = {P.LOW: 1, P.MEDIUM: 2, P.HIGH: 3, P.CRITICAL: 4}
EXPECTED_ORDER = {
    "reported_at": lambda s: (s.reported_at, s.id),
    "priority": lambda s: (PRIORITY_RANK[s.priority], s.reported_at, s.id),
}


@pytest.fixture
def many(ticket_store: TicketStore) -> list[TicketState]:
    """53 tickets, three reported at each moment and priorities repeating, so
    that every sort has ties to break by id."""
    priorities = [P.LOW, P.CRITICAL, P.MEDIUM, P.HIGH, P.CRITICAL]
    states = [
        ticket(str(uuid.uuid4()), (n // 3) / 24, priority=priorities[n % len(priorities)],
               status=S.OPEN if n % 2 else S.NEW)
        for n in range(53)
    ]
    assert ticket_store.bulk_insert_states(iter(states)) == 53
    return states


def page_through(store: TicketStore, filters: TicketFilters, sort: str, limit: int) -> list[list[str]]:
    """The ids on each page, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < 100:
        page = store.list(filters, sort=sort, cursor=cursor, limit=limit)
        pages.append([state.id for state in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("pagination did not end")


def flat(pages: list[list[str]]) -> list[str]:
    return [ticket_id for page in pages for ticket_id in page]


@pytest.mark.parametrize("sort", ["reported_at", "-reported_at", "priority", "-priority"])
def test_pages_return_every_ticket_once_in_order(
    ticket_store: TicketStore, many: list[TicketState], sort: str
) -> None:
    expected = [
        s.id for s in sorted(many, key=EXPECTED_ORDER[sort.removeprefix("-")], reverse=sort.startswith("-"))
    ]

    pages = page_through(ticket_store, recent(), sort, limit=7)

    assert [len(page) for page in pages] == [7] * 7 + [4]
    assert flat(pages) == expected

    # With a filter too, the cursor walks only the matching rows.
    open_ids = {state.id for state in many if state.status is S.OPEN}
    pages = page_through(ticket_store, recent(status=[S.OPEN]), sort, limit=4)
    assert [len(page) for page in pages] == [4] * 6 + [2]
    assert flat(pages) == [ticket_id for ticket_id in expected if ticket_id in open_ids]


@pytest.mark.parametrize("sort", ["reported_at", "-reported_at", "priority", "-priority"])
def test_iter_rows_yields_what_paging_yields(
    ticket_store: TicketStore, many: list[TicketState], sort: str
) -> None:
    paged = flat(page_through(ticket_store, recent(), sort, limit=10))
    streamed = list(ticket_store.iter_rows(recent(), sort))
    assert len(streamed) == 53
    assert [state.id for state in streamed] == paged
    assert all(isinstance(state, TicketState) for state in streamed)


def test_iter_rows_gives_its_connection_back_when_closed_early(
    ticket_store: TicketStore, many: list[TicketState]
) -> None:
    with closing(ticket_store.iter_rows(recent())) as rows:
        first = list(islice(rows, 5))
        assert ticket_store.engine.pool.checkedout() == 1
    assert len(first) == 5
    assert ticket_store.engine.pool.checkedout() == 0


def test_the_last_page_has_no_cursor(ticket_store: TicketStore, many: list[TicketState]) -> None:
    page = ticket_store.list(recent(), limit=53)
    assert len(page.items) == 53 and page.next_cursor is None
    page = ticket_store.list(recent(), limit=52)
    assert len(page.items) == 52 and page.next_cursor is not None
    last = ticket_store.list(recent(), cursor=page.next_cursor, limit=52)
    assert len(last.items) == 1 and last.next_cursor is None


def test_a_cursor_that_this_store_did_not_make_is_refused(
    ticket_store: TicketStore, many: list[TicketState]
) -> None:
    priority_cursor = ticket_store.list(recent(), sort="-priority", limit=5).next_cursor
    assert priority_cursor is not None

    def forged(payload: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    bad_cursors = [
        "not a cursor!",
        "e30",  # {} in base64
        forged(["-reported_at", "2025-01-01T00:00:00+00:00", "x"]),
        forged({"sort": "-reported_at", "after": ["2025-01-01T00:00:00+00:00"]}),
        forged({"sort": "-reported_at", "after": ["yesterday", "x"]}),
        forged({"sort": "-reported_at", "after": ["2025-01-01T00:00:00", "x"]}),  # naive
        forged({"sort": "-reported_at", "after": ["2025-01-01T00:00:00+00:00", 7]}),
        forged({"sort": "-priority", "after": [True, "2025-01-01T00:00:00+00:00", "x"]}),
        priority_cursor,  # made for another sort
    ]
    for cursor in bad_cursors:
        with pytest.raises(InvalidCursor):
            ticket_store.list(recent(), sort="-reported_at", cursor=cursor)
    assert issubclass(InvalidCursor, ValueError)

    with pytest.raises(ValueError, match="unknown sort"):
        ticket_store.list(recent(), sort="customer_email")
    with pytest.raises(ValueError, match="limit"):
        ticket_store.list(recent(), limit=0)


def test_bulk_insert_states_loads_many_tickets(ticket_store: TicketStore) -> None:
    states = [ticket(f"bulk-{n:05d}", n / 1000) for n in range(2_500)]

    assert ticket_store.bulk_insert_states(states) == 2_500

    with ticket_store.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Base.metadata.tables["tickets"])) == 2_500
    assert ticket_store.get("bulk-01234") == states[1234]
    assert ticket_store.counts(recent())["new"] == 2_500
    assert ids(ticket_store, recent(q=states[1234].reference)) == {"bulk-01234"}
    assert_search_index_matches_the_tickets(ticket_store)


# --- query plans ------------------------------------------------------------------------
# Each list and count must read one index, in order, never the whole workspace
# or the table row by row (bench/read_model.py measures them at 100,000
# tickets). SQLite's plans do not depend on the data: the test's empty
# statistics are what a new read model has, and the plans are the same with
# ANALYZE's.


def statement_of(store: TicketStore, read: str, filters: TicketFilters) -> tuple[str, Any]:
    """The SELECT that `store.list` or `store.counts` runs for `filters`, and its parameters."""
    run: list[tuple[str, Any]] = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("SELECT"):
            run.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        store.list(filters) if read == "list" else store.counts(filters)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    (statement, parameters), = run
    return statement, parameters


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("read", "filters", "plan"),
    [
        ("list", recent(), ["SEARCH tickets USING INDEX ix_tickets_workspace_reported"]),
        ("list", recent(segment="b2b"), ["SEARCH tickets USING INDEX ix_tickets_workspace_segment"]),
        ("list", recent(status=[S.OPEN]), ["SEARCH tickets USING INDEX ix_tickets_workspace_status"]),
        ("list", recent(owner="ann", status=[S.NEW, S.OPEN]), ["SEARCH tickets USING INDEX ix_tickets_workspace_owner"]),
        ("list", recent(priority=[P.CRITICAL]), ["SEARCH tickets USING INDEX ix_tickets_workspace_priority"]),
        ("list", recent(q="refund"), ["SEARCH tickets USING INDEX ix_tickets_workspace_reported",
                                      "SCAN tickets_search VIRTUAL TABLE"]),
        ("counts", recent(), ["SEARCH tickets USING COVERING INDEX ix_tickets_workspace_status "
                              "(workspace_id=? AND status=? AND reported_at>?)"]),
        ("counts", recent(segment="b2b"), ["SEARCH tickets USING COVERING INDEX ix_tickets_workspace_segment"]),
        ("counts", recent(owner="ann"), ["SEARCH tickets USING COVERING INDEX ix_tickets_workspace_owner"]),
        ("counts", recent(priority=[P.HIGH, P.CRITICAL]),
         ["SEARCH tickets USING COVERING INDEX ix_tickets_workspace_priority"]),
        ("counts", recent(q="refund"), ["SEARCH tickets USING COVERING INDEX ix_tickets_workspace_status",
                                        "SCAN tickets_search VIRTUAL TABLE"]),
    ],
)
def test_sqlite_reads_each_list_and_count_from_one_index(
    ticket_store: TicketStore, read: str, filters: TicketFilters, plan: list[str]
) -> None:
    statement, parameters = statement_of(ticket_store, read, filters)
    with ticket_store.engine.connect() as connection:
        steps = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    for step in plan:
        assert any(found.startswith(step) for found in steps), steps
    # No step reads the whole table, or every ticket of the workspace, or
    # looks tickets up one by one (by rowid, as the FTS5 table finds them).
    assert not any(found.startswith("SCAN tickets ") or found == "SCAN tickets" for found in steps), steps
    assert not any(found.endswith("(workspace_id=?)") for found in steps), steps
    assert not any("INTEGER PRIMARY KEY" in found for found in steps), steps


def test_q_reads_the_search_index(ticket_store: TicketStore) -> None:
    assert ticket_store.bulk_insert_states(
        ticket(f"t{n}", n / 100, customer_comment=f"comment {n}" + (", refund" if n % 50 == 0 else ""))
        for n in range(2_000)
    ) == 2_000
    statement, parameters = statement_of(ticket_store, "counts", recent(q="REFUND"))
    with ticket_store.engine.connect() as connection, connection.begin() as transaction:
        if connection.dialect.name == "sqlite":
            explain, expected = "EXPLAIN QUERY PLAN", "SCAN tickets_search VIRTUAL TABLE"
        else:
            # On a table this small, reading the month's tickets beats any
            # index. To see that the trigram index serves this statement, the
            # other ways are taken away, inside a transaction rolled back.
            connection.exec_driver_sql("ANALYZE tickets")
            for index in inspect(connection).get_indexes("tickets"):
                if index["name"].startswith("ix_tickets_workspace_"):
                    connection.exec_driver_sql(f"DROP INDEX {index['name']}")
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            explain, expected = "EXPLAIN", "Bitmap Index Scan on ix_tickets_search"
        plan = "\n".join(str(row[-1]) for row in connection.exec_driver_sql(f"{explain} {statement}", parameters))
        transaction.rollback()
    assert expected in plan, plan
    assert ticket_store.counts(recent(q="REFUND"))["total"] == 40


def test_score_filters_select_by_range_and_nps_category(ticket_store: TicketStore) -> None:
    """score_min/score_max and nps (detractor 0-6, passive 7-8, promoter 9-10):
    a ticket without a score matches none of them."""
    scores = {f"s{n}": n for n in (0, 6, 7, 8, 9, 10)} | {"none": None}
    ticket_store.bulk_insert_states(
        ticket(ticket_id, days_ago=1, score=score, source=Source.SURVEY) for ticket_id, score in scores.items()
    )

    def ids(**filters: Any) -> set[str]:
        listed = ticket_store.list(TicketFilters(**filters), limit=50)
        assert ticket_store.counts(TicketFilters(**filters))["total"] == len(listed.items)
        return {state.id for state in listed.items}

    assert ids() == set(scores)
    assert ids(nps=["detractor"]) == {"s0", "s6"}
    assert ids(nps=["passive", "promoter"]) == {"s7", "s8", "s9", "s10"}
    assert ids(score_min=8) == {"s8", "s9", "s10"}
    assert ids(score_min=6, score_max=7) == {"s6", "s7"}
    assert ids(score_max=6, nps=["promoter"]) == set()
    with pytest.raises(ValidationError):
        TicketFilters(score_min=9, score_max=2)
    with pytest.raises(ValidationError):
        TicketFilters(score_min=11)
