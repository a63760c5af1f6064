"""When the workflow task that decided a ticket's projected state ran.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

A projection written by a workflow task that never committed (a speculative
task the server discarded, a task whose worker died) must give way to the one
the history holds, which is always decided later, even when its version is
lower. Existing rows take their `updated_at`, the best earlier stand-in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD and DROP COLUMN, never batch mode: on SQLite, batch mode rebuilds
# the table, which drops the search index's triggers with it (see 0004). The
# column stays nullable for the same reason (SQLite cannot alter that in
# place); every projection writes it.


def upgrade() -> None:
    op.add_column("tickets", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET decided_at = updated_at")


def downgrade() -> None:
    op.drop_column("tickets", "decided_at")
