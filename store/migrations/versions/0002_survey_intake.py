"""Survey intake: action-alert rules, segment assignment modes (replacing the
unused per-survey one) and a survey's default segment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("survey_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("definition", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_alert_rules_survey_id_surveys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_index(op.f("ix_alert_rules_survey_id"), "alert_rules", ["survey_id"], unique=False)
    with op.batch_alter_table("segments") as batch:
        batch.add_column(
            sa.Column("assignment_mode", sa.String(32), server_default="single_manager", nullable=False)
        )
    with op.batch_alter_table("surveys") as batch:
        batch.add_column(sa.Column("default_segment", sa.String(), nullable=True))
        # Assignment is per segment (segments.assignment_mode), not per survey.
        batch.drop_column("assignment_mode")


def downgrade() -> None:
    with op.batch_alter_table("surveys") as batch:
        batch.drop_column("default_segment")
        batch.add_column(
            sa.Column("assignment_mode", sa.String(), server_default="segment_default", nullable=False)
        )
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("assignment_mode")
    op.drop_index(op.f("ix_alert_rules_survey_id"), table_name="alert_rules")
    op.drop_table("alert_rules")
