"""What the ticket workflows read of the configuration: a workspace's policy
(`load_policy`), its configuration revision (`workspace_revision`), and the
conversions from rows that the administration shares (`segment_calendar`,
`rule_of`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from domain.calendar import BusinessCalendar
from domain.escalation import EscalationRule
from domain.ticket import TicketPolicy
from store.configuration.common import _reading
from store.db import reading
from store.configuration.resolution_reasons import active_codes
from store.models import EscalationRuleRow, Segment, SegmentManager, User, Workspace


def segment_calendar(segment: Segment) -> BusinessCalendar | None:
    """The segment's business calendar; None when it works around the clock."""
    if segment.time_zone is None:
        return None
    fields: dict = {"time_zone": segment.time_zone}
    if segment.working_hours is not None:
        fields["working_hours"] = segment.working_hours
    if segment.holidays is not None:
        fields["holidays"] = segment.holidays
    return BusinessCalendar.model_validate(fields)


def rule_of(row: EscalationRuleRow) -> EscalationRule:
    return EscalationRule(
        id=row.id,
        name=row.name,
        survey_id=row.survey_id,
        segment=row.segment,
        after=timedelta(seconds=row.after_seconds),
        assignee=row.assignee,
        enabled=row.enabled,
        business_hours=row.business_hours,
    )


def load_policy(engine: Engine, workspace_id: str) -> TicketPolicy:
    """Everything a ticket of the workspace needs to decide on its own: who
    manages each segment, each segment's calendar, the enabled escalation
    rules, and the configuration revision they were read at."""
    with _reading(engine) as session:
        # The revision first, the configuration after it. On PostgreSQL each
        # statement sees what has committed by then, so a change committing in
        # between is in the configuration read but not in the revision: the
        # copy looks older than it is and is at worst sent again (silently, as
        # only the revision differs). Read the other way round, a copy could
        # carry a revision newer than its contents, and no projection would
        # ever correct it. (SQLite reads one snapshot throughout.)
        revision, reason_required = session.execute(
            select(Workspace.config_revision, Workspace.resolution_reason_required).where(Workspace.id == workspace_id)
        ).first() or (None, False)
        segments = session.scalars(select(Segment).where(Segment.workspace_id == workspace_id)).all()
        managers = session.execute(
            select(Segment.name, User.username)
            .join(SegmentManager, SegmentManager.segment_id == Segment.id)
            .join(User, User.id == SegmentManager.user_id)
            .where(Segment.workspace_id == workspace_id)
            .order_by(Segment.name, User.username)
        ).all()
        rules = session.scalars(
            select(EscalationRuleRow)
            .where(EscalationRuleRow.workspace_id == workspace_id, EscalationRuleRow.enabled.is_(True))
            .order_by(EscalationRuleRow.id)
        ).all()
        segment_managers: dict[str, list[str]] = {segment.name: [] for segment in segments}
        for segment_name, username in managers:
            segment_managers[segment_name].append(username)
        calendars = {s.name: c for s in segments if (c := segment_calendar(s)) is not None}
        return TicketPolicy(
            segment_managers=segment_managers,
            segment_calendars=calendars,
            escalation_rules=[rule_of(row) for row in rules],
            revision=revision,
            resolution_reasons=active_codes(session, workspace_id),
            resolution_reason_required=reason_required,
        )


def workspace_revision(engine: Engine, workspace_id: str) -> int | None:
    """The workspace's configuration revision (one primary-key read, for every
    projection); None when there is no such workspace."""
    with reading(engine) as connection:
        return connection.scalar(select(Workspace.config_revision).where(Workspace.id == workspace_id))
