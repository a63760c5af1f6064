"""Segments and their managers: a segment's calendar, assignment mode and
managers (`ManagerEntry`), read back as a `SegmentConfig`; a rename carries the
escalation rules and surveys that name the segment along."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from domain.assignment import DEFAULT_ASSIGNMENT_MODE, AssignmentMode
from domain.calendar import BusinessCalendar
from domain.commands import N_
from domain.ticket import TicketStatus
from store.configuration.common import (
    Conflict,
    InvalidConfiguration,
    _bump_revision,
    _count,
    _get,
    _reading,
    _refuse_fields,
    _segment_exists,
    _workspace,
    _writing,
)
from store.configuration.policy import segment_calendar
from store.models import EscalationRuleRow, Segment, SegmentManager, Survey, TicketRow, User


@dataclass(frozen=True)
class ManagerEntry:
    """A manager of a segment, named by username."""

    username: str
    available: bool = True
    max_open_tickets: int | None = None


@dataclass(frozen=True)
class SegmentConfig:
    id: str
    workspace_id: str
    name: str
    calendar: BusinessCalendar | None
    managers: list[ManagerEntry]
    assignment_mode: AssignmentMode


def list_segments(engine: Engine, workspace_id: str | None = None) -> list[SegmentConfig]:
    with _reading(engine) as session:
        query = select(Segment).order_by(Segment.workspace_id, Segment.name)
        if workspace_id is not None:
            _workspace(session, workspace_id)
            query = query.where(Segment.workspace_id == workspace_id)
        segments = session.scalars(query).all()
        managers = _managers_of(session, [s.id for s in segments])
        return [_segment_config(s, managers.get(s.id, [])) for s in segments]


def get_segment(engine: Engine, segment_id: str) -> SegmentConfig:
    with _reading(engine) as session:
        return _read_back(session, _segment(session, segment_id))


def create_segment(
    engine: Engine,
    workspace_id: str,
    name: str,
    managers: Sequence[ManagerEntry] = (),
    calendar: BusinessCalendar | None = None,
    assignment_mode: AssignmentMode = DEFAULT_ASSIGNMENT_MODE,
) -> SegmentConfig:
    with _writing(engine) as session:
        _workspace(session, workspace_id, missing=InvalidConfiguration)
        _check_segment_name_free(session, workspace_id, name)
        segment = Segment(
            workspace_id=workspace_id, name=name, assignment_mode=AssignmentMode(assignment_mode)
        )
        _set_calendar(segment, calendar)
        session.add(segment)
        session.flush()  # no relationship() ties the rows: the segment goes in first
        _replace_managers(session, segment, managers)
        _bump_revision(session, workspace_id)
        return _read_back(session, segment)


SEGMENT_FIELDS = frozenset({"name", "calendar", "managers", "assignment_mode"})


def update_segment(engine: Engine, segment_id: str, changes: Mapping[str, Any]) -> SegmentConfig:
    """Any of name, calendar (None: around the clock), managers (the whole
    list) and assignment_mode.

    Tickets, escalation rules and surveys (their default segment) name their
    segment. A rename carries the workspace's rules and surveys along; it is
    refused while tickets that are not closed are in the segment, since they
    would be left in a segment that no longer exists."""
    _refuse_fields(set(changes) - SEGMENT_FIELDS, N_("cannot change {fields} of a segment"))
    with _writing(engine) as session:
        segment = _segment(session, segment_id)
        new_name = changes.get("name", segment.name)
        if new_name != segment.name:
            _check_segment_name_free(session, segment.workspace_id, new_name)
            _refuse_while_tickets_in(
                session, segment,
                N_("segment '{segment}' has {count} ticket(s) that are not closed; it cannot be renamed "
                   "until they are moved to another segment or closed"),
            )
            rules = session.scalars(
                select(EscalationRuleRow).where(
                    EscalationRuleRow.workspace_id == segment.workspace_id,
                    EscalationRuleRow.segment == segment.name,
                )
            ).all()
            for rule in rules:
                rule.segment = new_name
            surveys = session.scalars(
                select(Survey).where(
                    Survey.workspace_id == segment.workspace_id, Survey.default_segment == segment.name
                )
            ).all()
            for survey in surveys:
                survey.default_segment = new_name
            segment.name = new_name
        if "assignment_mode" in changes:
            segment.assignment_mode = AssignmentMode(changes["assignment_mode"])
        if "calendar" in changes:
            _set_calendar(segment, changes["calendar"])
        if "managers" in changes:
            _replace_managers(session, segment, changes["managers"])
        _bump_revision(session, segment.workspace_id)
        session.flush()
        return _read_back(session, segment)


def replace_segment_managers(
    engine: Engine, segment_id: str, managers: Sequence[ManagerEntry]
) -> SegmentConfig:
    return update_segment(engine, segment_id, {"managers": managers})


def delete_segment(engine: Engine, segment_id: str) -> str:
    """Delete a segment that nothing refers to; answers its workspace."""
    with _writing(engine, removing=True) as session:
        segment = _segment(session, segment_id)
        rules = session.scalars(
            select(EscalationRuleRow.id).where(
                EscalationRuleRow.workspace_id == segment.workspace_id,
                EscalationRuleRow.segment == segment.name,
            )
        ).all()
        if rules:
            raise Conflict(
                N_("segment '{segment}' is named by escalation rule(s) {rules}; "
                   "change or delete those first"),
                segment=segment.name, rules=", ".join(rules),
            )
        surveys = session.scalars(
            select(Survey.id).where(
                Survey.workspace_id == segment.workspace_id, Survey.default_segment == segment.name
            )
        ).all()
        if surveys:
            raise Conflict(
                N_("segment '{segment}' is the default segment of survey(s) {surveys}; change those first"),
                segment=segment.name, surveys=", ".join(surveys),
            )
        _refuse_while_tickets_in(
            session, segment,
            N_("segment '{segment}' has {count} ticket(s) that are not closed; it cannot be deleted "
               "until they are moved to another segment or closed"),
        )
        session.execute(delete(SegmentManager).where(SegmentManager.segment_id == segment.id))
        session.delete(segment)
        _bump_revision(session, segment.workspace_id)
        return segment.workspace_id


def _segment(session: Session, segment_id: str) -> Segment:
    return _get(session, Segment, segment_id, N_("segment '{id}' not found"))


def _check_segment_name_free(session: Session, workspace_id: str, name: str) -> None:
    if _segment_exists(session, workspace_id, name):
        taken = N_("workspace '{workspace}' already has a segment '{name}'")
        raise Conflict(taken, workspace=workspace_id, name=name)


def _refuse_while_tickets_in(session: Session, segment: Segment, refusal: str) -> None:
    """Refuse (with the message `refusal`, filled in with the segment and the
    count) while the segment has live tickets."""
    # Closed tickets are finished (their workflow completed); every other
    # status, deleted included (it can be restored), is a live ticket.
    live = _count(
        session,
        TicketRow,
        TicketRow.workspace_id == segment.workspace_id,
        TicketRow.segment == segment.name,
        TicketRow.status != TicketStatus.CLOSED,
    )
    if live:
        raise Conflict(refusal, segment=segment.name, count=live)


def _set_calendar(segment: Segment, calendar: BusinessCalendar | None) -> None:
    # The JSON form BusinessCalendar reads back (segment_calendar): weekday
    # keys "0".."6", times "HH:MM:SS", dates "YYYY-MM-DD".
    if calendar is None:
        segment.time_zone = segment.working_hours = segment.holidays = None
        return
    document = calendar.model_dump(mode="json")
    segment.time_zone = document["time_zone"]
    segment.working_hours = document["working_hours"]
    segment.holidays = document["holidays"]


def _replace_managers(session: Session, segment: Segment, managers: Sequence[ManagerEntry]) -> None:
    usernames = [m.username for m in managers]
    repeated = sorted({u for u in usernames if usernames.count(u) > 1})
    if repeated:
        raise InvalidConfiguration(
            N_("managers listed more than once: {usernames}"), usernames=", ".join(repeated)
        )
    found = session.execute(
        select(User.username, User.id, User.deactivated_at).where(User.username.in_(usernames))
    ).all()
    users = {username: user_id for username, user_id, _ in found}
    unknown = [u for u in usernames if u not in users]
    if unknown:
        raise InvalidConfiguration(N_("unknown username(s): {usernames}"), usernames=", ".join(unknown))
    deactivated = sorted(username for username, _, deactivated_at in found if deactivated_at is not None)
    if deactivated:
        raise InvalidConfiguration(
            N_("deactivated user(s) cannot manage a segment: {usernames}"), usernames=", ".join(deactivated)
        )
    session.execute(delete(SegmentManager).where(SegmentManager.segment_id == segment.id))
    session.add_all(
        SegmentManager(
            segment_id=segment.id,
            user_id=users[m.username],
            available=m.available,
            max_open_tickets=m.max_open_tickets,
        )
        for m in managers
    )


def _managers_of(session: Session, segment_ids: Iterable[str]) -> dict[str, list[ManagerEntry]]:
    rows = session.execute(
        select(
            SegmentManager.segment_id,
            User.username,
            SegmentManager.available,
            SegmentManager.max_open_tickets,
        )
        .join(User, User.id == SegmentManager.user_id)
        .where(SegmentManager.segment_id.in_(list(segment_ids)))
        .order_by(User.username)
    ).all()
    managers: dict[str, list[ManagerEntry]] = {}
    for segment_id, username, available, max_open_tickets in rows:
        managers.setdefault(segment_id, []).append(ManagerEntry(username, available, max_open_tickets))
    return managers


def _read_back(session: Session, segment: Segment) -> SegmentConfig:
    session.flush()
    return _segment_config(segment, _managers_of(session, [segment.id]).get(segment.id, []))


def _segment_config(segment: Segment, managers: list[ManagerEntry]) -> SegmentConfig:
    return SegmentConfig(
        id=segment.id,
        workspace_id=segment.workspace_id,
        name=segment.name,
        calendar=segment_calendar(segment),
        managers=managers,
        assignment_mode=AssignmentMode(segment.assignment_mode or DEFAULT_ASSIGNMENT_MODE),
    )
