"""Initial read model schema: configuration, the ticket projection and its log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written from store.models as they stood, without importing them (they move on
after a revision is written): enums are VARCHAR(32) holding the member's value,
times are timezone-aware, documents are JSON (JSONB on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUM_VALUE = sa.String(32)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # --- configuration ---------------------------------------------------------
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("role", ENUM_VALUE, nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("locale", sa.String(), server_default="en", nullable=False),
        sa.Column("time_zone", sa.String(), server_default="UTC", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=True),
        sa.Column("working_hours", JSON_DOCUMENT, nullable=True),
        sa.Column("holidays", JSON_DOCUMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_segments_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_segments_workspace_id_name")),
    )
    op.create_table(
        "segment_managers",
        sa.Column("segment_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("available", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("max_open_tickets", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_segment_managers_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_segment_managers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("segment_id", "user_id", name=op.f("pk_segment_managers")),
    )
    op.create_index(op.f("ix_segment_managers_user_id"), "segment_managers", ["user_id"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("revoked_at", utc_datetime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("webhook_secret", sa.String(), nullable=False),
        sa.Column("adapter", ENUM_VALUE, server_default="cxloop", nullable=False),
        sa.Column("field_mapping", JSON_DOCUMENT, nullable=True),
        sa.Column("assignment_mode", sa.String(), server_default="segment_default", nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_surveys_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_index(op.f("ix_surveys_workspace_id"), "surveys", ["workspace_id"])
    op.create_table(
        "escalation_rules",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("survey_id", sa.String(), nullable=True),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("after_seconds", sa.Integer(), nullable=False),
        sa.Column("business_hours", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("assignee", sa.String(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("name", sa.String(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_escalation_rules_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_escalation_rules_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation_rules")),
    )
    op.create_index(op.f("ix_escalation_rules_survey_id"), "escalation_rules", ["survey_id"])
    op.create_index(op.f("ix_escalation_rules_workspace_id"), "escalation_rules", ["workspace_id"])
    op.create_table(
        "survey_responses",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("survey_id", sa.String(), nullable=False),
        sa.Column("received_at", utc_datetime(), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("customer_email", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_survey_responses_survey_id_surveys")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
    )
    op.create_index("ix_survey_responses_survey_received", "survey_responses", ["survey_id", "received_at"])

    # --- the ticket projection ---------------------------------------------------
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("source", ENUM_VALUE, nullable=False),
        sa.Column("workspace_id", sa.String(), nullable=False),
        sa.Column("survey_id", sa.String(), nullable=True),
        sa.Column("response_id", sa.String(), nullable=True),
        sa.Column("customer_email", sa.String(), nullable=False),
        sa.Column("customer_name", sa.String(), nullable=True),
        sa.Column("origin_segment", sa.String(), nullable=False),
        sa.Column("reported_at", utc_datetime(), nullable=False),
        sa.Column("customer_comment", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("created_at", utc_datetime(), nullable=False),
        sa.Column("segment", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("priority", ENUM_VALUE, nullable=False),
        sa.Column("priority_rank", sa.SmallInteger(), nullable=False),
        sa.Column("status", ENUM_VALUE, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc_datetime(), nullable=False),
        sa.Column("status_before_delete", ENUM_VALUE, nullable=True),
        sa.Column("escalated_by", ENUM_VALUE, nullable=True),
        sa.Column("snooze_until", utc_datetime(), nullable=True),
        sa.Column("resolved_at", utc_datetime(), nullable=True),
        sa.Column("escalation_clock_started_at", utc_datetime(), nullable=False),
        sa.Column("fired_rule_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("purged", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("escalation_due_at", utc_datetime(), nullable=True),
        sa.Column("escalation_rule_id", sa.String(), nullable=True),
        sa.Column("wake_at", utc_datetime(), nullable=True),
        sa.Column("auto_close_at", utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    op.create_index("ix_tickets_workspace_status", "tickets", ["workspace_id", "status", "reported_at"])
    op.create_index("ix_tickets_workspace_segment", "tickets", ["workspace_id", "segment", "reported_at"])
    op.create_index("ix_tickets_workspace_owner", "tickets", ["workspace_id", "owner", "reported_at"])
    op.create_index("ix_tickets_workspace_reported", "tickets", ["workspace_id", "reported_at", "id"])
    op.create_index(
        "ix_tickets_workspace_priority", "tickets", ["workspace_id", "priority_rank", "reported_at", "id"]
    )
    op.create_table(
        "ticket_events",
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", utc_datetime(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("kind", ENUM_VALUE, nullable=False),
        sa.Column("field", sa.String(), nullable=True),
        sa.Column("old", sa.Text(), nullable=True),
        sa.Column("new", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", "seq", name=op.f("pk_ticket_events")),
    )
    op.create_table(
        "purged_tickets",
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("purged_at", utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_purged_tickets")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in (
        "purged_tickets",
        "ticket_events",
        "tickets",
        "survey_responses",
        "escalation_rules",
        "surveys",
        "api_tokens",
        "segment_managers",
        "segments",
        "users",
        "workspaces",
    ):
        op.drop_table(table)
