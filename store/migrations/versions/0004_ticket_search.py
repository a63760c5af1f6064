"""Read model performance: a text index for the list's `q` search, and
ticket indexes that serve both the list and the counts by themselves.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Each filter's index now ends in (reported_at, id, status): (reported_at, id)
is the list's order, so a filtered page is read in order and stops after 50
rows; the status makes the index cover the counts by status, so counting a
month of tickets reads the index alone, never the table (100,000 tickets:
counts by priority 200 ms -> a few ms on SQLite).

`q` is a case-insensitive substring of the customer's email, name or comment,
the ticket reference or the response id. A b-tree cannot serve `LIKE '%q%'`,
so the search scanned every ticket of the date window; each database gets the
index it has for substrings:

- PostgreSQL: `pg_trgm` trigram GIN index over the five columns, which serves
  `ILIKE '%q%'` directly (PostgreSQL rechecks every candidate row, so results
  stay exactly those of ILIKE).
- SQLite: an FTS5 table with the trigram tokenizer (case-insensitive) whose
  content is the tickets table itself ("external content": the text is stored
  once), kept in step by triggers. It is keyed by the tickets' rowid, which a
  table rebuild renumbers: a later migration that rebuilds `tickets` (Alembic's
  batch mode on SQLite does) drops these triggers with the old table and must
  create them again and run the index's 'rebuild' command (see `upgrade`).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCHED_COLUMNS = ("customer_comment", "customer_email", "customer_name", "reference", "response_id")
SEARCH_INDEX = "ix_tickets_search"
SQLITE_SEARCH_TABLE = "tickets_search"

# Each ticket index: its columns before this revision, and after. After id,
# which is unique, the status does not change an index's order.
TICKET_INDEXES = {
    "ix_tickets_workspace_status": (
        ["workspace_id", "status", "reported_at"],
        ["workspace_id", "status", "reported_at", "id"],
    ),
    "ix_tickets_workspace_segment": (
        ["workspace_id", "segment", "reported_at"],
        ["workspace_id", "segment", "reported_at", "id", "status"],
    ),
    "ix_tickets_workspace_owner": (
        ["workspace_id", "owner", "reported_at"],
        ["workspace_id", "owner", "reported_at", "id", "status"],
    ),
    "ix_tickets_workspace_reported": (
        ["workspace_id", "reported_at", "id"],
        ["workspace_id", "reported_at", "id", "status"],
    ),
    "ix_tickets_workspace_priority": (
        ["workspace_id", "priority_rank", "reported_at", "id"],
        ["workspace_id", "priority_rank", "reported_at", "id", "status"],
    ),
}


def upgrade() -> None:
    for name, (_, columns) in TICKET_INDEXES.items():
        op.drop_index(name, table_name="tickets")
        op.create_index(name, "tickets", columns)
    match op.get_bind().dialect.name:
        case "postgresql":
            _create_postgresql_search()
        case "sqlite":
            _create_sqlite_search()


def downgrade() -> None:
    match op.get_bind().dialect.name:
        case "postgresql":
            # The extension stays: other databases' objects may use it.
            op.drop_index(SEARCH_INDEX, table_name="tickets")
        case "sqlite":
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {SQLITE_SEARCH_TABLE}_{trigger}")
            op.execute(f"DROP TABLE IF EXISTS {SQLITE_SEARCH_TABLE}")
    for name, (columns, _) in TICKET_INDEXES.items():
        op.drop_index(name, table_name="tickets")
        op.create_index(name, "tickets", columns)


def _create_postgresql_search() -> None:
    # pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since
    # PostgreSQL 13: the database's owner may create it without superuser.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        SEARCH_INDEX,
        "tickets",
        list(SEARCHED_COLUMNS),
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops" for column in SEARCHED_COLUMNS},
    )


def _create_sqlite_search() -> None:
    columns = ", ".join(SEARCHED_COLUMNS)
    new_values = ", ".join(f"new.{column}" for column in SEARCHED_COLUMNS)
    old_values = ", ".join(f"old.{column}" for column in SEARCHED_COLUMNS)
    # The trigram tokenizer indexes every three-character sequence, folding
    # case (Unicode, not only ASCII), so a quoted phrase of three or more
    # characters matches exactly the rows holding it as a substring.
    op.execute(
        f"CREATE VIRTUAL TABLE {SQLITE_SEARCH_TABLE} USING fts5({columns}, "
        "content='tickets', content_rowid='rowid', tokenize='trigram')"
    )
    # An external-content index is told what to remove: the old values, as
    # they were indexed.
    op.execute(
        f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_insert AFTER INSERT ON tickets BEGIN "
        f"INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, {columns}) VALUES (new.rowid, {new_values}); END"
    )
    op.execute(
        f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_delete AFTER DELETE ON tickets BEGIN "
        f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, {columns}) "
        f"VALUES ('delete', old.rowid, {old_values}); END"
    )
    # The searched fields are immutable after creation, but every projection
    # rewrites every column (an upsert's DO UPDATE fires UPDATE triggers, not
    # INSERT ones): the WHEN keeps a projection from re-indexing unchanged text.
    changed = " OR ".join(f"old.{column} IS NOT new.{column}" for column in SEARCHED_COLUMNS)
    op.execute(
        f"CREATE TRIGGER {SQLITE_SEARCH_TABLE}_update AFTER UPDATE OF {columns} ON tickets "
        f"WHEN {changed} BEGIN "
        f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}, rowid, {columns}) "
        f"VALUES ('delete', old.rowid, {old_values}); "
        f"INSERT INTO {SQLITE_SEARCH_TABLE}(rowid, {columns}) VALUES (new.rowid, {new_values}); END"
    )
    # Tickets already in the read model.
    op.execute(f"INSERT INTO {SQLITE_SEARCH_TABLE}({SQLITE_SEARCH_TABLE}) VALUES ('rebuild')")
