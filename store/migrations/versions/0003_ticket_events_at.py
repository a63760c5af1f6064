"""Index ticket log lines by time, for the dashboard's feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_ticket_events_at", "ticket_events", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ticket_events_at", table_name="ticket_events")
