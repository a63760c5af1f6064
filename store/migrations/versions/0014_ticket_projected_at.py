"""When the projection that wrote a ticket's row ran, on the worker's clock.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Two attempts of one workflow task can carry the same decision time: the
server discards an attempt whose update handlers had already projected and
runs the task again with the same `workflow.now()`, the updates possibly in
another order (seen under load with concurrent updates). Between projections
of the same decision time, the one that ran later wins; the workflow runs its
projections one at a time, so within an attempt that is the version order.
Existing rows keep NULL: the version breaks their ties, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD and DROP COLUMN, never batch mode (see 0008).


def upgrade() -> None:
    op.add_column("tickets", sa.Column("projected_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tickets", "projected_at")
