"""Reply templates: a workspace's reusable answers, one body per language.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

`reply_templates`: id, workspace, a name unique in the workspace, the bodies
as a JSON document ({"en": "...", "de": "..."}) and when it last changed.
Starts empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Migrations stay as written: they spell types out rather than import the models.

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("bodies", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reply_templates"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name="fk_reply_templates_workspace_id_workspaces"),
        sa.UniqueConstraint("workspace_id", "name", name="uq_reply_templates_workspace_id_name"),
    )
    op.create_index("ix_reply_templates_workspace_id", "reply_templates", ["workspace_id"])


def downgrade() -> None:
    op.drop_index("ix_reply_templates_workspace_id", table_name="reply_templates")
    op.drop_table("reply_templates")
