"""Rate limits shared by every API replica: the requests each limit let
through, while they are inside its moving window.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

Starts empty: until a replica runs this revision's code, it counts in its own
memory as before, and what it counted there is not carried over.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Migrations stay as written: they spell types out rather than import the models.

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "expires_at", name=op.f("pk_rate_limit_hits")),
    )
    # The sweep deletes every expired row, whatever its key.
    op.create_index(op.f("ix_rate_limit_hits_expires_at"), "rate_limit_hits", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_hits_expires_at"), table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
