"""The customer's language on each ticket, and each workspace's default
language, time zone and mail identity.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

A ticket's `customer_locale` is what its customer is written to in (their
survey's, form's or mail's language, else the workspace's default). Existing
tickets take their workspace's default, "en": every workspace starts with it.
A workspace's mail identity (sender name and address, Reply-To, signature) is
empty until configured: its mails then come from the settings' mail_from.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

tickets = sa.table("tickets", sa.column("customer_locale", sa.String()))


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite, batch mode rebuilds the
    # table, which drops the search index's triggers with it (see 0004).
    op.add_column("workspaces", sa.Column("default_locale", sa.String(), nullable=False, server_default="en"))
    op.add_column("workspaces", sa.Column("time_zone", sa.String(), nullable=False, server_default="UTC"))
    op.add_column("workspaces", sa.Column("mail_sender_name", sa.String(), nullable=True))
    op.add_column("workspaces", sa.Column("mail_sender_address", sa.String(), nullable=True))
    op.add_column("workspaces", sa.Column("mail_reply_to", sa.String(), nullable=True))
    op.add_column("workspaces", sa.Column("mail_signature", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("customer_locale", sa.String(), nullable=True))
    op.execute(sa.update(tickets).values(customer_locale="en"))


def downgrade() -> None:
    op.drop_column("tickets", "customer_locale")
    for column in ("mail_signature", "mail_reply_to", "mail_sender_address", "mail_sender_name", "time_zone",
                   "default_locale"):
        op.drop_column("workspaces", column)
