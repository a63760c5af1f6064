"""A user can be deactivated rather than deleted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

`users.deactivated_at`: when set, the user signs in no more and their API
tokens are refused; they manage no segment. Tickets, rules and the log keep
naming them by username, which deleting the user would leave dangling. Every
existing user stays active (NULL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Migrations stay as written: they spell types out rather than import the models.

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column: a plain ADD COLUMN on both databases.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite: batch mode rebuilds the table without the column.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
