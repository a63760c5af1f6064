"""When the survey response behind a ticket was submitted, beside when the
ticket was made.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

A ticket's `reported_at` is when it was made: the list's default window and
date filter are on it. Survey tickets used to take the response's submission
time as `reported_at`, so a response that arrived weeks late was born outside
every view. The submission is now its own column; existing survey tickets
take it from their stored response (the ticket's `response_id` is the stored
response's id) where that response is still kept. Their `reported_at` stays
as their workflows hold it: the read model follows the workflows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tickets backfilled per UPDATE round trip.
BATCH = 1_000

# Migrations stay as written: they spell tables out rather than import the models.
tickets = sa.table(
    "tickets",
    sa.column("id", sa.String()),
    sa.column("response_id", sa.String()),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
)
survey_responses = sa.table("survey_responses", sa.column("id", sa.String()), sa.column("payload", sa.JSON()))


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite, batch mode rebuilds the
    # table, which drops the search index's triggers with it (see 0004).
    op.add_column("tickets", sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    responded = sa.select(tickets.c.id, survey_responses.c.payload).join(
        survey_responses, survey_responses.c.id == tickets.c.response_id
    )
    update = (
        sa.update(tickets)
        .where(tickets.c.id == sa.bindparam("ticket_id"))
        .values(submitted_at=sa.bindparam("submitted"))
    )
    # A batch at a time, in id order: responses are kept whole, and a large
    # read model's would not fit in memory at once.
    last_id = ""
    while found := connection.execute(
        responded.where(tickets.c.id > last_id).order_by(tickets.c.id).limit(BATCH)
    ).all():
        last_id = found[-1][0]
        batch = [
            # Stored as the read model's UTCDateTime stores it: naive UTC on SQLite.
            {"ticket_id": ticket_id, "submitted": submitted.replace(tzinfo=None) if sqlite else submitted}
            for ticket_id, payload in found
            if (submitted := _submitted_at(payload)) is not None
        ]
        if batch:
            connection.execute(update, batch)


def _submitted_at(payload: object) -> datetime | None:
    """The response's `submitted_at` (domain.responses.SurveyResponse, stored
    as JSON), in UTC; None when it is missing or unreadable."""
    if isinstance(payload, str):  # a JSON column read through a driver that returns text
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, dict) or not isinstance(payload.get("submitted_at"), str):
        return None
    try:
        moment = datetime.fromisoformat(payload["submitted_at"].replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def downgrade() -> None:
    op.drop_column("tickets", "submitted_at")
