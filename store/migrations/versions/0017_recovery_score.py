"""The customer's second score: given when they confirm a ticket solved.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN on tickets, never batch mode (see 0008).


def upgrade() -> None:
    op.add_column("tickets", sa.Column("recovery_score", sa.Integer(), nullable=True))
    op.add_column("tickets", sa.Column("recovery_scored_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "recovery_scored_at")
    op.drop_column("tickets", "recovery_score")
