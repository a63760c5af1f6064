"""Resolution reasons: a workspace's list (code, label per language, order,
retired), whether resolving needs one, and the reason a ticket was resolved
with.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN on tickets, never batch mode (see 0008).


def upgrade() -> None:
    op.create_table(
        "resolution_reasons",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_resolution_reasons"),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name="fk_resolution_reasons_workspace_id_workspaces"
        ),
        sa.UniqueConstraint("workspace_id", "code", name="uq_resolution_reasons_workspace_id_code"),
    )
    op.create_index("ix_resolution_reasons_workspace_id", "resolution_reasons", ["workspace_id"])
    op.add_column(
        "workspaces",
        sa.Column("resolution_reason_required", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("tickets", sa.Column("resolution_reason", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "resolution_reason")
    op.drop_column("workspaces", "resolution_reason_required")
    op.drop_index("ix_resolution_reasons_workspace_id", table_name="resolution_reasons")
    op.drop_table("resolution_reasons")
