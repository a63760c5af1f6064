"""One customer's history across the read model: their tickets and their
survey responses, narrowed to what the reader may see.

The reader's reach is a WHERE clause, as in store/tickets.py, but across
workspaces: a manager's segments are per workspace, so reach is "owned by
the reader, or in one of the segments they manage in that ticket's
workspace". A response is in reach when its ticket is; a response that made
no ticket is the admin's alone (nothing ties it to anyone's segment).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, and_, func, or_, select

from domain.access import Principal
from domain.ticket import TicketState
from store.db import reading
from store.models import Survey, SurveyResponse as SurveyResponseRow
from store.tickets import STATE_COLUMNS, tickets

responses = SurveyResponseRow.__table__
surveys = Survey.__table__


class CustomerResponse(BaseModel):
    """A survey response of the customer, with the ticket it made (if any)."""

    id: str
    survey_id: str
    workspace_id: str
    received_at: datetime
    submitted_at: datetime | None
    score: int | None
    ticket_id: str | None
    ticket_reference: str | None


class CustomerHistory(BaseModel):
    tickets: list[TicketState]
    responses: list[CustomerResponse]
    # More tickets (responses) than `limit` matched: only the newest are here.
    more_tickets: bool
    more_responses: bool


def _in_reach(principal: Principal) -> ColumnElement[bool] | None:
    """The tickets `principal` may see in any workspace; None: every one."""
    if principal.is_admin:
        return None
    c = tickets.c
    clauses: list[ColumnElement[bool]] = [c.owner == principal.username]
    for workspace_id in sorted(principal.workspaces):
        segments = principal.managed_segments(workspace_id)
        if segments:
            clauses.append(and_(c.workspace_id == workspace_id, c.segment.in_(sorted(segments))))
    return or_(*clauses)


def customer_history(engine: Engine, email: str, principal: Principal, limit: int) -> CustomerHistory:
    """The customer's tickets and responses within `principal`'s reach,
    newest first, at most `limit` of each. The address is matched
    case-insensitively (lower() on both sides: ASCII letters on SQLite)."""
    address = email.lower()
    reach = _in_reach(principal)
    ticket_stmt = select(*STATE_COLUMNS).where(func.lower(tickets.c.customer_email) == address)
    if reach is not None:
        ticket_stmt = ticket_stmt.where(reach)
    ticket_stmt = ticket_stmt.order_by(tickets.c.reported_at.desc(), tickets.c.id.desc()).limit(limit + 1)

    # A survey ticket's id is its response's key (store/intake.get_response).
    response_stmt = (
        select(
            responses.c.id, responses.c.survey_id, surveys.c.workspace_id, responses.c.received_at,
            responses.c.payload, responses.c.score, tickets.c.id.label("ticket_id"),
            tickets.c.reference.label("ticket_reference"),
        )
        .join(surveys, surveys.c.id == responses.c.survey_id)
        .outerjoin(tickets, tickets.c.id == responses.c.id)
        .where(func.lower(responses.c.customer_email) == address)
    )
    if reach is not None:
        # Without a ticket the reach's columns are NULL: the clause is not
        # true, and the response stays the admin's.
        response_stmt = response_stmt.where(tickets.c.id.is_not(None), reach)
    response_stmt = response_stmt.order_by(responses.c.received_at.desc(), responses.c.id.desc()).limit(limit + 1)

    with reading(engine) as connection:
        found_tickets = [TicketState.model_validate(dict(row._mapping)) for row in connection.execute(ticket_stmt)]
        found_responses = [_response_of(row._mapping) for row in connection.execute(response_stmt)]
    return CustomerHistory(
        tickets=found_tickets[:limit], responses=found_responses[:limit],
        more_tickets=len(found_tickets) > limit, more_responses=len(found_responses) > limit,
    )


def _response_of(row) -> CustomerResponse:
    submitted = (row["payload"] or {}).get("submitted_at")
    return CustomerResponse(
        id=row["id"], survey_id=row["survey_id"], workspace_id=row["workspace_id"],
        received_at=row["received_at"], submitted_at=submitted, score=row["score"],
        ticket_id=row["ticket_id"], ticket_reference=row["ticket_reference"],
    )

