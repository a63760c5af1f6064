"""The ticket projection: written after every change of a ticket workflow,
read by the API's list, counts, export and ticket views.

The workflow is the source of truth; this table follows it. Every write carries
the ticket's version and when the workflow task that decided it ran, and never
replaces a later decision, so a retried or late projection cannot roll a ticket
back, a projection of a workflow task that never committed gives way to the
committed one, and a purged ticket cannot come back.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import (
    and_,
    ColumnElement,
    Connection,
    Engine,
    FunctionElement,
    Row,
    Table,
    column,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    table,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from domain.access import TicketReach
from domain.ticket import NpsCategory, Priority, TicketEvent, TicketProjection, TicketState, TicketStatus
from store.db import dialect_insert, reading, write_transaction
from store import outbox
from store.models import PRIORITY_RANK, TICKET_SEARCHED_COLUMNS, PurgedTicketRow, TicketEventRow, TicketRow

tickets: Table = TicketRow.__table__  # type: ignore[assignment]
ticket_events: Table = TicketEventRow.__table__  # type: ignore[assignment]
purged_tickets: Table = PurgedTicketRow.__table__  # type: ignore[assignment]

# Selecting exactly the state's fields also proves, at import time, that every
# TicketState field has a column: a field added to the domain without a
# migration fails here rather than silently vanishing from the read model.
STATE_COLUMNS = [tickets.c[name] for name in TicketState.model_fields]
EVENT_COLUMNS = [ticket_events.c[name] for name in TicketEvent.model_fields]

# What `q` searches, case-insensitively, as a substring.
SEARCHED_COLUMNS = [tickets.c[name] for name in TICKET_SEARCHED_COLUMNS]

# SQLite's index for `q` (migration 0004): an FTS5 table with the trigram
# tokenizer over SEARCHED_COLUMNS, whose rowids are the tickets' rowids. A
# column named like the table stands for all its columns in MATCH.
sqlite_ticket_search = table("tickets_search", column("rowid"), column("tickets_search"))
# The trigram tokenizer indexes three characters at a time: a shorter search
# cannot use the index and scans the date window instead.
TRIGRAM = 3

TicketSort = Literal["reported_at", "-reported_at", "priority", "-priority"]

BULK_INSERT_BATCH = 1_000
# Rows fetched per round trip when streaming (a server-side cursor on PostgreSQL).
STREAM_BATCH = 1_000


class InvalidCursor(ValueError):
    """A list cursor that this store did not hand out for this sort order."""


class TicketFilters(BaseModel):
    """Which tickets a list, a count or an export is about. Filters combine with
    AND; a filter left out (None, or an empty list) does not restrict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    DEFAULT_PERIOD: ClassVar[timedelta] = timedelta(days=30)

    workspace_id: str = "default"
    # Reported in [reported_from, reported_to). A naive time is taken as UTC.
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    segment: str | None = Field(default=None, description="the ticket's current segment")
    owner: str | None = None
    status: list[TicketStatus] | None = Field(default=None, description="any of these statuses")
    priority: list[Priority] | None = Field(default=None, description="any of these priorities")
    q: str | None = Field(
        default=None,
        description="case-insensitive text in the customer's email, name or comment, "
        "the ticket reference or the response id",
    )
    score_min: int | None = Field(default=None, ge=0, le=10, description="a score at least this")
    score_max: int | None = Field(default=None, ge=0, le=10, description="a score at most this")
    nps: list[NpsCategory] | None = Field(default=None, description="a score in any of these NPS categories")
    # Only what the caller may see (domain/access.py); None: everything.
    reach: TicketReach | None = None

    @field_validator("reported_from", "reported_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("segment", "owner", "q")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        # An empty search box or select arrives as "", which means "any".
        if value is None:
            return None
        return value.strip() or None

    @model_validator(mode="after")
    def _range_in_order(self) -> TicketFilters:
        if self.reported_from and self.reported_to and self.reported_from > self.reported_to:
            raise ValueError("reported_from is after reported_to")
        if self.score_min is not None and self.score_max is not None and self.score_min > self.score_max:
            raise ValueError("score_min is above score_max")
        return self

    def with_defaults(self, now: datetime) -> TicketFilters:
        """Without any date bound, the list shows the last 30 days (DESIGN.md)."""
        if self.reported_from is None and self.reported_to is None:
            return self.model_copy(update={"reported_from": now - self.DEFAULT_PERIOD})
        return self


class TicketPage(BaseModel):
    items: list[TicketState]
    # Hand back as `cursor` for the next page; None on the last page.
    next_cursor: str | None = None


@dataclass(frozen=True)
class _Order:
    """A list order: its sort key columns, ending in id so that the key of a
    row is unique and keyset pagination never skips or repeats a row. All keys
    run in one direction so that one row-value comparison finds the rows after
    a cursor and an index serves it, read forwards or backwards."""

    sort: str
    columns: tuple[ColumnElement[Any], ...]
    descending: bool

    @classmethod
    def parse(cls, sort: str) -> _Order:
        descending = sort.startswith("-")
        match sort.removeprefix("-"):
            case "reported_at":
                columns = (tickets.c.reported_at, tickets.c.id)
            case "priority":
                columns = (tickets.c.priority_rank, tickets.c.reported_at, tickets.c.id)
            case _:
                raise ValueError(
                    f"unknown sort {sort!r}; one of reported_at, priority, with '-' for descending"
                )
        return cls(sort, columns, descending)

    def order_by(self) -> list[ColumnElement[Any]]:
        return [column.desc() if self.descending else column.asc() for column in self.columns]

    def after(self, key: Sequence[Any]) -> ColumnElement[bool]:
        bound = tuple_(*(literal(value, column.type) for value, column in zip(key, self.columns)))
        return tuple_(*self.columns) < bound if self.descending else tuple_(*self.columns) > bound

    def key_of(self, state: TicketState) -> list[Any]:
        values = {
            "priority_rank": PRIORITY_RANK[state.priority],
            "reported_at": state.reported_at,
            "id": state.id,
        }
        return [values[column.name] for column in self.columns]

    def encode_cursor(self, state: TicketState) -> str:
        key = [value.isoformat() if isinstance(value, datetime) else value for value in self.key_of(state)]
        raw = json.dumps({"sort": self.sort, "after": key}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode_cursor(self, cursor: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            decoded = json.loads(raw)
        except (binascii.Error, ValueError) as err:  # JSON and UTF-8 errors are ValueErrors
            raise InvalidCursor("malformed cursor") from err
        if not isinstance(decoded, dict) or decoded.get("sort") != self.sort:
            raise InvalidCursor(f"the cursor does not belong to sort {self.sort!r}")
        key = decoded.get("after")
        if not isinstance(key, list) or len(key) != len(self.columns):
            raise InvalidCursor("malformed cursor")
        return [_key_value(column.name, value) for column, value in zip(self.columns, key)]


def _key_value(column: str, value: Any) -> Any:
    if column == "reported_at" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidCursor("malformed cursor") from None
        if moment.tzinfo is not None:
            return moment
    elif column == "priority_rank" and type(value) is int:
        return value
    elif column == "id" and isinstance(value, str):
        return value
    raise InvalidCursor("malformed cursor")


def filter_conditions(filters: TicketFilters) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a list, a count, an export or the feed."""
    c = tickets.c
    clauses: list[ColumnElement[bool]] = [c.workspace_id == filters.workspace_id]
    if filters.reach is not None:
        clauses.append(or_(c.owner == filters.reach.owner, c.segment.in_(sorted(filters.reach.segments))))
    if filters.reported_from is not None:
        clauses.append(c.reported_at >= filters.reported_from)
    if filters.reported_to is not None:
        clauses.append(c.reported_at < filters.reported_to)
    if filters.segment is not None:
        clauses.append(c.segment == filters.segment)
    if filters.owner is not None:
        clauses.append(c.owner == filters.owner)
    if filters.status:
        clauses.append(c.status.in_(filters.status))
    if filters.priority:
        # On the rank, which ix_tickets_workspace_priority covers; no index has
        # the priority's name.
        clauses.append(c.priority_rank.in_([PRIORITY_RANK[priority] for priority in filters.priority]))
    if filters.q is not None:
        clauses.append(_text_search(filters.q))
    # A score filter leaves out tickets without a score (manual, form, mail).
    if filters.score_min is not None:
        clauses.append(c.score >= filters.score_min)
    if filters.score_max is not None:
        clauses.append(c.score <= filters.score_max)
    if filters.nps:
        clauses.append(or_(*(
            c.score.between(category.scores.start, category.scores.stop - 1) for category in filters.nps
        )))
    return clauses


def _text_search(q: str) -> ColumnElement[bool]:
    """`q` as a case-insensitive substring of any searched column."""
    # PostgreSQL finds the candidates of each LIKE and ILIKE in its trigram
    # index (migration 0004), then checks each candidate row against this OR,
    # in order, stopping at the first match. A case-sensitive LIKE is implied
    # by the ILIKE but costs a sixth of it (ILIKE lower-cases the row's text,
    # every time), and searches mostly match as typed ("refund", an email), so
    # each LIKE comes first: a common word is counted twice as fast.
    # autoescape: a "%" or "_" typed into the search box is matched literally.
    substring = or_(
        *(column.contains(q, autoescape=True) for column in SEARCHED_COLUMNS),
        *(column.icontains(q, autoescape=True) for column in SEARCHED_COLUMNS),
    )
    if len(q) < TRIGRAM:
        return substring
    return _IndexedTextSearch(substring, literal(_fts5_phrase(q)))


def _fts5_phrase(q: str) -> str:
    # One FTS5 phrase, quotes doubled: with the trigram tokenizer it matches
    # the text as a substring, and no character in it is query syntax.
    return '"' + q.replace('"', '""') + '"'


class _IndexedTextSearch(FunctionElement[bool]):
    """The text search as each database can use its index: the portable
    substring match (ILIKE on PostgreSQL), or on SQLite the tickets whose rowid
    the FTS5 trigram table finds for the same text. A SQL construct compiled
    per dialect rather than a choice made by the caller, so that every query
    built from `filter_conditions` (the list, counts, export, the dashboard's
    feed) gets the index without knowing the database.

    The FTS5 phrase matches what the LIKE matches, with one difference: FTS5
    folds the case of every letter, SQLite's lower() only that of ASCII ones
    (PostgreSQL's ILIKE folds all, so SQLite now answers as PostgreSQL does).
    """

    # Cached like any function: its two arguments are its whole state. No
    # Boolean type: SQLite has no boolean type and would get "= 1" appended to
    # a Boolean-typed element in a WHERE; each rendering is a condition already,
    # parenthesized so that the OR inside cannot bind to a neighbouring AND.
    inherit_cache = True

    def __init__(self, substring: ColumnElement[bool], phrase: ColumnElement[str]) -> None:
        super().__init__(substring, phrase)


@compiles(_IndexedTextSearch)
def _compile_portable_search(element: _IndexedTextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    substring, _ = element.clauses
    return f"({compiler.process(substring, **kw)})"


@compiles(_IndexedTextSearch, "sqlite")
def _compile_sqlite_search(element: _IndexedTextSearch, compiler: SQLCompiler, **kw: Any) -> str:
    _, phrase = element.clauses
    found = select(sqlite_ticket_search.c.rowid).where(sqlite_ticket_search.c.tickets_search.match(phrase))
    # The unary + keeps SQLite from looking up every found rowid in the table
    # (15,000 lookups for a common word): it walks the date window in an index
    # instead, testing each rowid against the found set, and a page of the
    # list stops after 50 matches.
    return f"({compiler.process(literal_column('+tickets.rowid').in_(found), **kw)})"


def _count_by_status(connection: Connection, filters: TicketFilters) -> Iterable[tuple[TicketStatus, int]]:
    """(status, count) of the matching tickets. Every ticket index ends in
    the status (migration 0004), so each count can read one index alone;
    PostgreSQL's planner finds it for a plain GROUP BY. SQLite's needs the
    statement shaped for it.

    SQLite prefers, for a GROUP BY status, the status index (workspace,
    status, reported_at) because it yields the statuses in order, even when a
    segment, owner or priority index would read a tenth of the rows (counts
    by priority: 200 ms instead of 5, with or without ANALYZE). So:
    - with one of those filters, one FILTERed count per status: no GROUP BY,
      no order to chase, and the filter's own index is read;
    - without, the status index is the right one, if it can read each
      status's date range rather than the whole workspace: the statuses are
      spelled out (9 short range scans; on PostgreSQL that list would make
      every other index scan 9 times over, so it is SQLite's alone).
    """
    conditions = filter_conditions(filters)
    if connection.dialect.name == "sqlite":
        if filters.segment is not None or filters.owner is not None or filters.priority:
            statuses = list(TicketStatus)
            counted = select(*(func.count().filter(tickets.c.status == status) for status in statuses))
            return zip(statuses, connection.execute(counted.where(*conditions)).one())
        if not filters.status:
            conditions.append(tickets.c.status.in_(list(TicketStatus)))
    stmt = select(tickets.c.status, func.count()).where(*conditions).group_by(tickets.c.status)
    return connection.execute(stmt).all()


def _row_of(state: TicketState, decided_at: datetime, projected_at: datetime | None = None) -> dict[str, Any]:
    return {
        **state.model_dump(), "priority_rank": PRIORITY_RANK[state.priority],
        "decided_at": decided_at, "projected_at": projected_at,
    }


def _decided_at(projection: TicketProjection) -> datetime:
    """When the projection's state was decided. A projection from before the
    field existed stands in its newest log line's time (the time its version
    was decided), else the state's last change."""
    if projection.decided_at is not None:
        return projection.decided_at
    return max((event.at for event in projection.events), default=projection.state.updated_at)


def _state_of(row: Row[Any]) -> TicketState:
    return TicketState.model_validate(dict(row._mapping))


# The columns of a ticket row: the state's fields, the rank the priority
# sorts and filters by, when the state was decided and when its projection
# ran. _row_of builds exactly these keys.
_ROW_COLUMNS = (*TicketState.model_fields, "priority_rank", "decided_at", "projected_at")
# A log line's content: what a later decision of the same line may change.
_EVENT_CONTENT = tuple(name for name in TicketEvent.model_fields if name != "seq")


@cache
def _upsert_statement(dialect_name: str):
    """INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE (the incoming
    projection is the later decision) RETURNING id: the insert-or-guarded-update
    in one statement, so two first projections of a new ticket cannot both try
    to insert it, and RETURNING tells whether the row was written.

    Which projection is the later decision:
    - Decided later wins whatever the versions. A workflow task may project
      and then never commit: the server discards a speculative task that ran
      updates (concurrent updates make it do so routinely), or its worker dies.
      Temporal runs the task again, possibly with the updates in another order
      or fewer of them, and only that attempt is in the history; so its state
      replaces the earlier attempt's even when its version is lower (the
      discarded attempt may have got further).
    - Decided at the same time, the projection that ran later wins. The new
      attempt can carry the very same `workflow.now()` as the discarded one
      (seen under load), and it runs after it. Within one attempt the workflow
      projects one change at a time (workflows/ticket.py), so there "ran
      later" is the version order; a stale attempt of a local activity that
      finishes late (a stalled database) ran earlier and loses.
    - Rows or projections without the time their projection ran (written
      before migration 0014; reconcile's) break the tie by version.

    Built once per dialect and executed with the row as its parameters: built
    per call, `excluded` made a new alias of every column and the statement's
    cache key carried the values, which cost about two thirds of a projection."""
    stmt = dialect_insert(dialect_name, tickets)
    row, new = tickets.c, stmt.excluded
    both_ran_at = and_(row.projected_at.is_not(None), new.projected_at.is_not(None))
    return stmt.on_conflict_do_update(
        index_elements=[tickets.c.id],
        set_={
            **{name: stmt.excluded[name] for name in _ROW_COLUMNS if name != "id"},
            # A ticket's workflow from before submissions were kept carries
            # none; the read model's, backfilled from its response (migration
            # 0009), stays. The field is immutable: a value never becomes None.
            "submitted_at": func.coalesce(stmt.excluded.submitted_at, tickets.c.submitted_at),
            # Likewise the customer's language, backfilled by migration 0013.
            "customer_locale": func.coalesce(stmt.excluded.customer_locale, tickets.c.customer_locale),
        },
        where=or_(
            row.decided_at.is_(None),
            row.decided_at < new.decided_at,
            and_(
                row.decided_at == new.decided_at,
                or_(
                    and_(both_ran_at, row.projected_at < new.projected_at),
                    and_(~both_ran_at, row.version < new.version),
                ),
            ),
        ),
    ).returning(tickets.c.id)


@cache
def _event_upsert_statement(dialect_name: str):
    """INSERT ... ON CONFLICT (ticket_id, seq) DO UPDATE: a log line of the
    projection that won the ticket's row replaces whatever line an earlier,
    uncommitted attempt wrote under the same number (see _upsert_statement)."""
    stmt = dialect_insert(dialect_name, ticket_events)
    return stmt.on_conflict_do_update(
        index_elements=[ticket_events.c.ticket_id, ticket_events.c.seq],
        set_={name: stmt.excluded[name] for name in _EVENT_CONTENT},
    )


@dataclass(frozen=True)
class Applied:
    """What a projection changed in the read model."""

    written: bool
    """The ticket's state was written (False: a newer one was already there)."""
    new_events: tuple[TicketEvent, ...]
    """Its log lines that the read model did not hold before."""
    repaired: int = 0
    """Log lines of a workflow task that never committed that this projection
    corrected: replaced by the committed line of the same number, or removed
    because the committed history has no such line (yet)."""


class TicketStore:
    """The read model's tickets. Thread-safe: every call takes its own
    connection from the engine's pool."""

    def __init__(self, engine: Engine, mail_settle: timedelta = timedelta(seconds=1)) -> None:
        self.engine = engine
        # How long a queued mail waits before it is due (store/outbox.py).
        self.mail_settle = mail_settle

    # --- writing the projection ---------------------------------------------------

    def apply(self, projection: TicketProjection, projected_at: datetime | None = None) -> Applied:
        """Write a ticket's new state and its log lines, in one transaction,
        if this projection is the later decision (see _upsert_statement);
        `projected_at` is when the projection started to run, on the worker's
        clock (None: ties break by version).

        The projection that wins writes each of its log lines over whatever an
        uncommitted attempt left under the same number, and removes lines
        numbered beyond its state, which the history does not hold (yet).
        One that loses (`written` False: a projection overtaken by a later
        one, a discarded attempt's late write, a purged ticket) changes no
        line: it only adds lines up to the held state's version that the
        read model lacks (with the workflow's one-at-a-time projections a
        winner always carries them too; this keeps lines of projections that
        break ties by version). `new_events` are the lines the read model did
        not hold before (what a retry brings again is not new); `repaired`
        counts the lines corrected or removed.
        """
        state = projection.state
        decided_at = _decided_at(projection)
        with write_transaction(self.engine) as connection:
            self._serialize_writes(connection, state.id)
            if state.purged:
                return Applied(self._purge(connection, state), ())
            tombstone = select(purged_tickets.c.ticket_id).where(purged_tickets.c.ticket_id == state.id)
            if connection.scalar(tombstone) is not None:
                return Applied(False, ())
            if not self._upsert_state(connection, state, decided_at, projected_at):
                held_version = connection.scalar(select(tickets.c.version).where(tickets.c.id == state.id))
                missing = [event for event in projection.events if event.seq <= (held_version or 0)]
                return Applied(False, self._insert_missing_events(connection, state.id, missing))
            new_events, repaired = self._upsert_events(connection, state.id, projection.events)
            repaired += self._drop_undecided_events(connection, state)
            # The changes' mails, queued exactly when the changes land.
            repaired += outbox.queue(
                connection, state.id, projection.notices, [event.seq for event in projection.events],
                state.version, projected_at or datetime.now(UTC), self.mail_settle,
            )
            return Applied(True, new_events, repaired)

    @staticmethod
    def _serialize_writes(connection: Connection, ticket_id: str) -> None:
        # Two projections of one ticket may run at once (concurrent updates,
        # a retry racing the original). The guard orders state writes by
        # itself, but a purge racing another write could let that write
        # re-insert the row the purge just deleted. SQLite's BEGIN IMMEDIATE
        # already lets one writer in at a time; on PostgreSQL a transaction
        # lock on the ticket id does it for this ticket only.
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(ticket_id, 0))))

    @staticmethod
    def _upsert_state(
        connection: Connection, state: TicketState, decided_at: datetime, projected_at: datetime | None
    ) -> bool:
        # The row goes in as execution parameters of a statement built once per
        # dialect (see _upsert_statement), so SQLAlchemy's compiled cache serves
        # every projection.
        upsert = _upsert_statement(connection.dialect.name)
        return connection.execute(upsert, _row_of(state, decided_at, projected_at)).first() is not None

    @staticmethod
    def _upsert_events(
        connection: Connection, ticket_id: str, events: Sequence[TicketEvent]
    ) -> tuple[tuple[TicketEvent, ...], int]:
        """Store the log lines, each replacing a different line of the same
        number. Answer the lines that were not there yet, and how many held
        lines were corrected (the caller holds the ticket's write lock, so
        both are exact)."""
        if not events:
            return (), 0
        held = {
            row.seq: row
            for row in connection.execute(
                select(*EVENT_COLUMNS).where(
                    ticket_events.c.ticket_id == ticket_id, ticket_events.c.seq.in_([event.seq for event in events])
                )
            )
        }
        new = tuple(event for event in events if event.seq not in held)
        corrected = [
            event for event in events
            if event.seq in held and any(getattr(held[event.seq], name) != getattr(event, name) for name in _EVENT_CONTENT)
        ]
        if new or corrected:
            rows = [{"ticket_id": ticket_id, **event.model_dump()} for event in (*new, *corrected)]
            connection.execute(_event_upsert_statement(connection.dialect.name), rows)
        return new, len(corrected)

    @staticmethod
    def _insert_missing_events(
        connection: Connection, ticket_id: str, events: Sequence[TicketEvent]
    ) -> tuple[TicketEvent, ...]:
        if not events:
            return ()
        held = set(connection.scalars(
            select(ticket_events.c.seq).where(
                ticket_events.c.ticket_id == ticket_id, ticket_events.c.seq.in_([event.seq for event in events])
            )
        ))
        missing = tuple(event for event in events if event.seq not in held)
        if missing:
            connection.execute(insert(ticket_events), [{"ticket_id": ticket_id, **event.model_dump()} for event in missing])
        return missing

    @staticmethod
    def _drop_undecided_events(connection: Connection, state: TicketState) -> int:
        """Remove log lines numbered beyond the state just written: an attempt
        that never committed got further than the history has. (The workflow
        projects one change at a time, so no line of a later change of the
        same attempt is there yet.)"""
        undecided = delete(ticket_events).where(
            ticket_events.c.ticket_id == state.id, ticket_events.c.seq > state.version
        )
        return connection.execute(undecided).rowcount

    @staticmethod
    def _purge(connection: Connection, state: TicketState) -> bool:
        """Purged means gone: the row and its log leave the read model, and a
        tombstone keeps the id so that a late projection cannot restore them."""
        tombstone = (
            dialect_insert(connection, purged_tickets)
            .values(ticket_id=state.id, version=state.version, purged_at=state.updated_at)
            .on_conflict_do_nothing(index_elements=[purged_tickets.c.ticket_id])
            .returning(purged_tickets.c.ticket_id)
        )
        first_purge = connection.execute(tombstone).first() is not None
        connection.execute(delete(ticket_events).where(ticket_events.c.ticket_id == state.id))
        connection.execute(delete(outbox.outbox).where(outbox.outbox.c.ticket_id == state.id))
        connection.execute(delete(tickets).where(tickets.c.id == state.id))
        return first_purge

    def bulk_insert_states(self, states: Iterable[TicketState]) -> int:
        """Insert many new tickets (benchmarks, tests, imports) in batches, so
        a large iterable is never held at once. Fails on a ticket that is
        already there. Returns how many were inserted."""
        # RETURNING makes SQLAlchemy send each batch as multi-row INSERT ...
        # VALUES statements ("insertmanyvalues") rather than one statement per
        # row. On SQLite that matters: the search index (FTS5, filled by a
        # trigger) writes what it holds to disk at the end of every statement,
        # and one statement per row made a bulk load about fifteen times slower.
        stmt = insert(tickets).returning(tickets.c.id)
        inserted = 0
        states = iter(states)
        with write_transaction(self.engine) as connection:
            while batch := [_row_of(state, state.updated_at) for state in islice(states, BULK_INSERT_BATCH)]:
                inserted += len(connection.execute(stmt, batch).all())
            if connection.dialect.name == "sqlite" and inserted:
                # Loaded a batch at a time, the FTS5 index ends up as segments
                # that FTS5 then merges again at every 16th later write: after
                # 110,000 tickets, one new ticket's projection in 16 took 1-3 s.
                # Rebuilt in one pass (7 s for 110,000), later writes stay in
                # the milliseconds.
                connection.execute(insert(sqlite_ticket_search).values(tickets_search="rebuild"))
        return inserted

    # --- reading ------------------------------------------------------------------

    def get(self, ticket_id: str) -> TicketState | None:
        with reading(self.engine) as connection:
            row = connection.execute(select(*STATE_COLUMNS).where(tickets.c.id == ticket_id)).first()
        return _state_of(row) if row is not None else None

    def events(self, ticket_id: str) -> list[TicketEvent]:
        """The ticket's log, oldest first."""
        stmt = (
            select(*EVENT_COLUMNS)
            .where(ticket_events.c.ticket_id == ticket_id)
            .order_by(ticket_events.c.seq)
        )
        with reading(self.engine) as connection:
            return [TicketEvent.model_validate(dict(row._mapping)) for row in connection.execute(stmt)]

    def counts(self, filters: TicketFilters) -> dict[str, int]:
        """How many tickets match, by status (every status, 0 when none) and in total."""
        counts = dict.fromkeys((status.value for status in TicketStatus), 0)
        with reading(self.engine) as connection:
            for status, count in _count_by_status(connection, filters):
                counts[status.value] = count
        counts["total"] = sum(counts.values())
        return counts

    def list(
        self,
        filters: TicketFilters,
        sort: TicketSort = "-reported_at",
        cursor: str | None = None,
        limit: int = 50,
    ) -> TicketPage:
        """One page of matching tickets in `sort` order, after `cursor`.

        Keyset pagination: the cursor holds the last row's sort key and the
        next page starts strictly after it, so pages stay cheap however deep
        and a ticket that changes between pages is neither skipped nor repeated
        because of rows shifting (it may move, if its sort key changed).
        Raises InvalidCursor for a cursor not made by this sort.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        order = _Order.parse(sort)
        stmt = select(*STATE_COLUMNS).where(*filter_conditions(filters))
        if cursor is not None:
            stmt = stmt.where(order.after(order.decode_cursor(cursor)))
        # One row more than asked tells whether there is a next page.
        stmt = stmt.order_by(*order.order_by()).limit(limit + 1)
        with reading(self.engine) as connection:
            items = [_state_of(row) for row in connection.execute(stmt)]
        if len(items) <= limit:
            return TicketPage(items=items, next_cursor=None)
        items = items[:limit]
        return TicketPage(items=items, next_cursor=order.encode_cursor(items[-1]))

    def iter_rows(self, filters: TicketFilters, sort: TicketSort = "-reported_at") -> Iterator[TicketState]:
        """Every matching ticket in list order, streamed: rows arrive in batches
        (a server-side cursor on PostgreSQL), so an export of 100,000 tickets
        runs in flat memory. The connection is held until the iterator is
        exhausted or closed; close it when stopping early."""
        for row in self.iter_columns(filters, TicketState.model_fields, sort):
            yield _state_of(row)

    def iter_columns(
        self, filters: TicketFilters, columns: Iterable[str], sort: TicketSort = "-reported_at"
    ) -> Iterator[Row[Any]]:
        """Like `iter_rows`, but only the named columns of each ticket, as
        plain rows: for readers such as the Excel export that need a few fields
        of many tickets, where validating a whole TicketState per row would cost
        more than reading it."""
        order = _Order.parse(sort)
        stmt = (
            select(*(tickets.c[name] for name in columns))
            .where(*filter_conditions(filters))
            .order_by(*order.order_by())
            .execution_options(yield_per=STREAM_BATCH)
        )
        with reading(self.engine) as connection:
            yield from connection.execute(stmt)

    # --- ids: repairs from the source of truth (reconcile.py), roll-outs ---------

    def ticket_ids(self, workspace_id: str | None = None, *, open_only: bool = False) -> list[str]:
        """Every ticket id the read model holds (in one workspace, or in all),
        so that rows whose workflow no longer exists can be found; with
        `open_only`, those whose workflow still runs (not closed)."""
        stmt = select(tickets.c.id).order_by(tickets.c.id)
        if workspace_id is not None:
            stmt = stmt.where(tickets.c.workspace_id == workspace_id)
        if open_only:
            stmt = stmt.where(tickets.c.status != TicketStatus.CLOSED)
        with reading(self.engine) as connection:
            return list(connection.scalars(stmt))

    def replace_from_workflow(self, projection: TicketProjection, expected_version: int | None) -> bool:
        """Make the read model hold exactly what the ticket's workflow holds:
        its state, even over a row whose version is ahead of it (written by a
        workflow task that never completed, so the workflow never reached that
        version), and its whole log (`projection.events`), no line more or less.

        `apply` cannot do this: its version guard refuses to move a row back.
        Instead this is a compare-and-set: nothing is written, and False is
        returned, unless the row's version is still `expected_version` (None:
        no row), so a live projection that landed after the caller read the row
        is never overwritten with the state the caller compared against."""
        state = projection.state
        with write_transaction(self.engine) as connection:
            self._serialize_writes(connection, state.id)
            current = connection.scalar(select(tickets.c.version).where(tickets.c.id == state.id))
            if current != expected_version:
                return False
            if state.purged:
                self._purge(connection, state)
                return True
            if state.submitted_at is None:
                # Kept, as by every projection (see _upsert_statement).
                held = connection.scalar(select(tickets.c.submitted_at).where(tickets.c.id == state.id))
                state = state.model_copy(update={"submitted_at": held})
            if state.customer_locale is None:
                held = connection.scalar(select(tickets.c.customer_locale).where(tickets.c.id == state.id))
                state = state.model_copy(update={"customer_locale": held})
            # The workflow says the ticket lives: a tombstone for it is as wrong as a stale row.
            connection.execute(delete(purged_tickets).where(purged_tickets.c.ticket_id == state.id))
            connection.execute(delete(ticket_events).where(ticket_events.c.ticket_id == state.id))
            connection.execute(delete(tickets).where(tickets.c.id == state.id))
            connection.execute(insert(tickets), _row_of(state, _decided_at(projection)))
            self._upsert_events(connection, state.id, projection.events)
            return True

    def by_reference(self, reference: str) -> list[TicketState]:
        """The tickets with this reference (one, nearly always: references are
        short hashes of ids), newest first."""
        stmt = (
            select(*STATE_COLUMNS)
            .where(tickets.c.reference == reference)
            .order_by(tickets.c.created_at.desc())
            .limit(10)
        )
        with reading(self.engine) as connection:
            return [_state_of(row) for row in connection.execute(stmt)]
