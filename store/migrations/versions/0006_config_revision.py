"""Configuration revision: each workspace counts the configuration changes its
tickets depend on, so a ticket whose copy of the policy is older than the
workspace's is found at its projection and sent the current one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Existing workspaces start at 0; tickets started before this revision carry no
revision at all and are left to the roll-outs, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Migrations stay as written: they spell types out rather than import the models.

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (a constant default needs no table
    # rebuild on SQLite); the default fills the rows that exist.
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("config_revision", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    # SQLite: batch mode rebuilds the table without the column.
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_column("config_revision")
