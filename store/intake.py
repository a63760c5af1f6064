"""What survey intake reads and writes: surveys, their alert rules, the
responses received, and who may take a segment's new tickets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.alerts import AlertRule
from domain.assignment import AssignmentMode
from domain.commands import N_
from domain.responses import FieldMapping, MappedResponse, SurveyResponse
from domain.ticket import DEFAULT_CUSTOMER_LOCALE, TicketStatus
from store.models import AlertRuleRow, Segment, SegmentManager, Survey, SurveyResponse as SurveyResponseRow
from store.configuration import NotFound
from store.db import dialect_insert, reading
from store.models import TicketRow, User, Workspace

# A manager's load: the tickets still waiting on them.
OPEN_STATUSES = (
    TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.ANSWERED, TicketStatus.ESCALATED, TicketStatus.POSTPONED,
)


class SurveyConfig(BaseModel):
    id: str
    workspace_id: str
    adapter: str
    webhook_secret: str
    field_mapping: FieldMapping
    default_segment: str | None


def get_survey(engine: Engine, survey_id: str) -> SurveyConfig | None:
    with reading(engine) as connection, Session(bind=connection) as session:
        survey = session.get(Survey, survey_id)
        if survey is None:
            return None
        return SurveyConfig(
            id=survey.id,
            workspace_id=survey.workspace_id,
            adapter=str(survey.adapter.value if hasattr(survey.adapter, "value") else survey.adapter),
            webhook_secret=survey.webhook_secret,
            field_mapping=FieldMapping.model_validate(survey.field_mapping or {}),
            default_segment=survey.default_segment,
        )


def alert_rule_documents(engine: Engine, survey_id: str) -> list[dict[str, Any]]:
    """The survey's alert rules in evaluation order, as stored (JSON)."""
    with reading(engine) as connection, Session(bind=connection) as session:
        rows = session.scalars(
            select(AlertRuleRow).where(AlertRuleRow.survey_id == survey_id).order_by(AlertRuleRow.position, AlertRuleRow.id)
        ).all()
        return [{**row.definition, "id": row.id, "name": row.name, "enabled": row.enabled} for row in rows]


def record_response(
    engine: Engine, key: str, response: SurveyResponse, mapped: MappedResponse, received_at: datetime
) -> None:
    """Keep the response whole, once: a redelivery changes nothing."""
    values = {
        "id": key,
        "survey_id": response.survey_id,
        "received_at": received_at,
        "payload": response.model_dump(mode="json"),
        "score": mapped.score,
        "customer_email": mapped.customer_email,
    }
    table = SurveyResponseRow.__table__
    with engine.begin() as connection:
        connection.execute(dialect_insert(connection, table).values(**values).on_conflict_do_nothing(index_elements=["id"]))


class StoredResponse(BaseModel):
    id: str
    survey_id: str
    received_at: datetime
    response: SurveyResponse
    score: int | None
    customer_email: str | None
    ticket_id: str | None


def get_response(engine: Engine, key: str) -> StoredResponse | None:
    with reading(engine) as connection, Session(bind=connection) as session:
        row = session.get(SurveyResponseRow, key)
        if row is None:
            return None
        # A survey ticket's id is its response's key (both derive from the
        # survey and the platform's response id).
        ticket_id = session.scalar(select(TicketRow.id).where(TicketRow.id == key))
        return StoredResponse(
            id=row.id, survey_id=row.survey_id, received_at=row.received_at,
            response=SurveyResponse.model_validate(row.payload), score=row.score,
            customer_email=row.customer_email, ticket_id=ticket_id,
        )


class SegmentStaffing(BaseModel):
    """Who may take a segment's next ticket, and how loaded each is."""

    mode: str
    # A candidate's open_tickets is 0 when the mode has no use for it (below).
    candidates: list[dict[str, Any]]
    previous_owner: str | None


def segment_staffing(engine: Engine, workspace_id: str, segment_name: str) -> SegmentStaffing | None:
    """The segment's assignment mode and managers, with what that mode decides
    by: the managers' open tickets only for least_loaded or when a manager has
    a cap, the segment's previous owner only for round_robin (every survey
    response asks this, so it reads no more than it needs)."""
    with reading(engine) as connection, Session(bind=connection) as session:
        rows = session.execute(
            select(Segment.assignment_mode, User.username, SegmentManager.available, SegmentManager.max_open_tickets)
            .select_from(Segment)
            .outerjoin(SegmentManager, SegmentManager.segment_id == Segment.id)
            .outerjoin(User, User.id == SegmentManager.user_id)
            .where(Segment.workspace_id == workspace_id, Segment.name == segment_name)
            .order_by(User.username)
        ).all()
        if not rows:
            return None
        mode = AssignmentMode(rows[0].assignment_mode)
        # A segment without managers comes back as one row without a user.
        managers = [row for row in rows if row.username is not None]
        usernames = [m.username for m in managers]
        loads: dict[str, int] = {}
        if usernames and (
            mode is AssignmentMode.LEAST_LOADED or any(m.max_open_tickets is not None for m in managers)
        ):
            loads = dict(
                session.execute(
                    select(TicketRow.owner, func.count())
                    .where(TicketRow.workspace_id == workspace_id, TicketRow.owner.in_(usernames),
                           TicketRow.status.in_(OPEN_STATUSES))
                    .group_by(TicketRow.owner)
                ).all()
            )
        previous_owner = None
        if mode is AssignmentMode.ROUND_ROBIN:
            previous_owner = session.scalars(
                select(TicketRow.owner)
                .where(TicketRow.workspace_id == workspace_id, TicketRow.origin_segment == segment_name,
                       TicketRow.owner.is_not(None))
                .order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
                .limit(1)
            ).first()
        return SegmentStaffing(
            mode=mode,
            candidates=[
                {"username": m.username, "available": m.available, "open_tickets": loads.get(m.username, 0),
                 "max_open_tickets": m.max_open_tickets}
                for m in managers
            ],
            previous_owner=previous_owner,
        )


def default_locale(engine: Engine, workspace_id: str) -> str:
    """The language of the workspace's customers whose source names none."""
    with reading(engine) as connection, Session(bind=connection) as session:
        found = session.scalars(select(Workspace.default_locale).where(Workspace.id == workspace_id)).first()
        return found or DEFAULT_CUSTOMER_LOCALE


def user_email(engine: Engine, username: str) -> str | None:
    with reading(engine) as connection, Session(bind=connection) as session:
        return session.scalars(select(User.email).where(User.username == username)).first()


# --- a survey's action-alert rules ------------------------------------------------


class AlertRuleDoc(BaseModel):
    """An alert rule as the API shows it: the domain rule and its place."""

    id: str
    survey_id: str
    position: int
    rule: dict[str, Any]


def _rule_doc(row: AlertRuleRow) -> AlertRuleDoc:
    return AlertRuleDoc(
        id=row.id, survey_id=row.survey_id, position=row.position,
        rule={**row.definition, "id": row.id, "name": row.name, "enabled": row.enabled},
    )


def _survey_or_404(session: Session, survey_id: str) -> Survey:
    survey = session.get(Survey, survey_id)
    if survey is None:
        raise NotFound(N_("survey not found"))
    return survey


def list_alert_rules(engine: Engine, survey_id: str) -> list[AlertRuleDoc]:
    with reading(engine) as connection, Session(bind=connection) as session:
        _survey_or_404(session, survey_id)
        rows = session.scalars(
            select(AlertRuleRow).where(AlertRuleRow.survey_id == survey_id)
            .order_by(AlertRuleRow.position, AlertRuleRow.id)
        ).all()
        return [_rule_doc(row) for row in rows]


def save_alert_rule(engine: Engine, survey_id: str, rule: AlertRule, position: int | None = None) -> AlertRuleDoc:
    """Insert or replace the rule `rule.id` of the survey."""
    definition = rule.model_dump(mode="json", include={"criteria", "when_met", "when_not_met"})
    with Session(engine) as session, session.begin():
        _survey_or_404(session, survey_id)
        row = session.get(AlertRuleRow, rule.id)
        if row is not None and row.survey_id != survey_id:
            raise NotFound(N_("alert rule not found"))
        if row is None:
            if position is None:
                last = session.scalar(
                    select(func.max(AlertRuleRow.position)).where(AlertRuleRow.survey_id == survey_id)
                )
                position = 0 if last is None else last + 1
            row = AlertRuleRow(id=rule.id, survey_id=survey_id, position=position, name=rule.name,
                               enabled=rule.enabled, definition=definition)
            session.add(row)
        else:
            row.name, row.enabled, row.definition = rule.name, rule.enabled, definition
            if position is not None:
                row.position = position
        session.flush()
        return _rule_doc(row)


def get_alert_rule(engine: Engine, survey_id: str, rule_id: str) -> AlertRuleDoc:
    with reading(engine) as connection, Session(bind=connection) as session:
        _survey_or_404(session, survey_id)
        row = session.get(AlertRuleRow, rule_id)
        if row is None or row.survey_id != survey_id:
            raise NotFound(N_("alert rule not found"))
        return _rule_doc(row)


def delete_alert_rule(engine: Engine, survey_id: str, rule_id: str) -> None:
    with Session(engine) as session, session.begin():
        _survey_or_404(session, survey_id)
        row = session.get(AlertRuleRow, rule_id)
        if row is None or row.survey_id != survey_id:
            raise NotFound(N_("alert rule not found"))
        session.delete(row)
