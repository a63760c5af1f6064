"""Configuration: what the ticket workflows need of it (a workspace's policy)
and its administration (workspaces, users, segments and their managers,
surveys, escalation rules).

The administration functions are synchronous (the API runs them in a thread),
each one transaction. They refuse what the configuration cannot hold with a
`ConfigurationError`: `NotFound`, `Conflict` (a duplicate, or something still
in use) or `InvalidConfiguration` (a reference to something that does not
exist). A constraint the database enforces is checked first, for a clear
message, and the database's own refusal is translated as well, for the request
that loses a race.

A refusal's message is an English template with named {placeholders}, marked
with `N_` like a ticket's refusals (domain/commands.py), and the values that
fill it in: the API answers it in the reader's language (api/errors.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from domain.assignment import DEFAULT_ASSIGNMENT_MODE, AssignmentMode
from domain.alerts import detractor_rule
from domain.calendar import BusinessCalendar
from domain.commands import N_
from domain.escalation import EscalationRule
from domain.ticket import TicketPolicy, TicketStatus
from store.db import write_transaction
from store.models import (
    AlertRuleRow,
    EscalationRuleRow,
    Segment,
    SegmentManager,
    Survey,
    SurveyAdapter,
    SurveyResponse,
    TicketRow,
    User,
    UserRole,
    Workspace,
)

T = TypeVar("T")

# --- what the ticket workflows read -----------------------------------------------


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
    with Session(engine) as session:
        # The revision first, the configuration after it. On PostgreSQL each
        # statement sees what has committed by then, so a change committing in
        # between is in the configuration read but not in the revision: the
        # copy looks older than it is and is at worst sent again (silently, as
        # only the revision differs). Read the other way round, a copy could
        # carry a revision newer than its contents, and no projection would
        # ever correct it. (SQLite reads one snapshot throughout.)
        revision = session.scalar(select(Workspace.config_revision).where(Workspace.id == workspace_id))
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
        )


def workspace_revision(engine: Engine, workspace_id: str) -> int | None:
    """The workspace's configuration revision (one primary-key read, for every
    projection); None when there is no such workspace."""
    with engine.connect() as connection:
        return connection.scalar(select(Workspace.config_revision).where(Workspace.id == workspace_id))


# --- refusals ---------------------------------------------------------------------


class ConfigurationError(Exception):
    """A change or lookup the configuration refuses, and why.

    Like `domain.commands.Refused`: `message` is an English template (marked
    with `N_`) and `params` fill it in, so that the API can answer in the
    reader's language; `reason` (and str()) is the English text."""

    def __init__(self, message: str, **params: Any) -> None:
        self.reason = message.format(**params)
        super().__init__(self.reason)
        self.message = message
        self.params = params


class NotFound(ConfigurationError):
    pass


class Conflict(ConfigurationError):
    """A duplicate (name, username, id) or something still in use."""


class InvalidConfiguration(ConfigurationError):
    """A reference to something that does not exist, or a value the database refuses."""


@dataclass(frozen=True)
class Phrase:
    """A part of a refusal's message that is translated on its own ("2
    segments"), passed as one of the message's parameters. Its English text is
    what the message is filled in with in English."""

    message: str
    params: Mapping[str, Any]

    def __str__(self) -> str:
        return self.message.format(**self.params)


def _listing(phrases: Sequence[Phrase], separator: str) -> Phrase:
    """Phrases one after the other. The template that strings them together
    is no message of the catalogs: it reads the same in every language."""
    names = [f"item{index}" for index in range(len(phrases))]
    return Phrase(separator.join(f"{{{name}}}" for name in names), dict(zip(names, phrases)))


def _is_unique_violation(error: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE (psycopg), SQLite's message: neither driver says it
    # in a way the other understands.
    return getattr(error.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(error.orig)


@contextmanager
def _reading(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


@contextmanager
def _writing(engine: Engine, *, removing: bool = False) -> Iterator[Session]:
    """One write transaction (queued behind other writers on SQLite). The
    checks before each write give clear messages; the database's refusals are
    translated for the request that loses a race to a concurrent one."""
    try:
        with (
            write_transaction(engine) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session
            session.flush()
    except IntegrityError as error:
        if _is_unique_violation(error):
            raise Conflict(N_("it already exists (changed concurrently); reload and retry")) from None
        if removing:
            raise Conflict(N_("it is still in use (changed concurrently); reload and retry")) from None
        raise InvalidConfiguration(N_("it refers to something that does not exist (any more)")) from None
    except DataError as error:
        raise InvalidConfiguration(
            N_("the database refused a value: {error}"), error=str(error.orig)
        ) from None


def _get(
    session: Session,
    model: type[T],
    row_id: str,
    not_found: str,
    missing: type[ConfigurationError] = NotFound,
) -> T:
    """The row `row_id`, else a refusal with the message `not_found` ("user
    '{id}' not found")."""
    # An id with a NUL can name nothing, and PostgreSQL refuses to even look
    # it up: answer "not found" rather than let the database fail.
    row = None if "\x00" in row_id else session.get(model, row_id)
    if row is None:
        raise missing(not_found, id=row_id)
    return row


def _refuse_fields(unknown: set[str], refusal: str) -> None:
    """Refuse fields a change or a new row cannot have (`refusal` names them: "{fields}")."""
    if unknown:
        raise InvalidConfiguration(refusal, fields=", ".join(sorted(unknown)))


def _workspace(
    session: Session, workspace_id: str, *, missing: type[ConfigurationError] = NotFound
) -> Workspace:
    return _get(session, Workspace, workspace_id, N_("workspace '{id}' not found"), missing)


def _bump_revision(session: Session, *workspace_ids: str) -> None:
    """Count a change the workspaces' tickets depend on (every change the API
    rolls out), in the transaction that makes it: a policy read at the new
    revision holds the change. An increment in the database, so concurrent
    changes each count."""
    if workspace_ids:
        session.execute(
            update(Workspace)
            .where(Workspace.id.in_(workspace_ids))
            .values(config_revision=Workspace.config_revision + 1)
        )


# --- workspaces --------------------------------------------------------------------


def list_workspaces(engine: Engine) -> list[Workspace]:
    with _reading(engine) as session:
        return list(session.scalars(select(Workspace).order_by(Workspace.name, Workspace.id)))


def get_workspace(engine: Engine, workspace_id: str) -> Workspace:
    with _reading(engine) as session:
        return _workspace(session, workspace_id)


def create_workspace(engine: Engine, name: str, workspace_id: str | None = None) -> Workspace:
    with _writing(engine) as session:
        if workspace_id is not None and session.get(Workspace, workspace_id) is not None:
            raise Conflict(N_("workspace '{workspace}' already exists"), workspace=workspace_id)
        workspace = Workspace(name=name, **({"id": workspace_id} if workspace_id is not None else {}))
        session.add(workspace)
        return workspace


def update_workspace(engine: Engine, workspace_id: str, changes: Mapping[str, Any]) -> Workspace:
    with _writing(engine) as session:
        workspace = _workspace(session, workspace_id)
        if "name" in changes:
            workspace.name = changes["name"]
        return workspace


def delete_workspace(engine: Engine, workspace_id: str) -> None:
    """Only an empty workspace goes: its segments, surveys and rules are
    configuration someone set up, and removing them is a decision of its own."""
    with _writing(engine, removing=True) as session:
        workspace = _workspace(session, workspace_id)
        in_use = {
            # Translators: the parts of "workspace 'x' still has {held}", joined with commas.
            N_("{count} segments"): _count(session, Segment, Segment.workspace_id == workspace_id),
            N_("{count} surveys"): _count(session, Survey, Survey.workspace_id == workspace_id),
            N_("{count} escalation rules"): _count(
                session, EscalationRuleRow, EscalationRuleRow.workspace_id == workspace_id
            ),
        }
        if any(in_use.values()):
            held = _listing([Phrase(what, {"count": count}) for what, count in in_use.items() if count], ", ")
            still_there = N_("workspace '{workspace}' still has {held}; delete them first")
            raise Conflict(still_there, workspace=workspace_id, held=held)
        session.delete(workspace)


def _count(session: Session, model: type, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- users -------------------------------------------------------------------------

USER_FIELDS = frozenset({"email", "display_name", "role", "locale", "time_zone"})


def list_users(engine: Engine) -> list[User]:
    with _reading(engine) as session:
        return list(session.scalars(select(User).order_by(User.username)))


def get_user(engine: Engine, user_id: str) -> User:
    with _reading(engine) as session:
        return _user(session, user_id)


def _user(session: Session, user_id: str) -> User:
    return _get(session, User, user_id, N_("user '{id}' not found"))


def create_user(
    engine: Engine,
    *,
    username: str,
    email: str,
    role: UserRole,
    display_name: str | None = None,
    locale: str = "en",
    time_zone: str = "UTC",
) -> User:
    with _writing(engine) as session:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict(N_("username '{username}' is taken"), username=username)
        user = User(
            username=username,
            email=email,
            role=role,
            display_name=display_name,
            locale=locale,
            time_zone=time_zone,
        )
        session.add(user)
        return user


def update_user(engine: Engine, user_id: str, changes: Mapping[str, Any]) -> User:
    """Any of USER_FIELDS. The username stays: tickets, rules and the
    Temporal search attribute TicketOwner name the user by it."""
    _refuse_fields(set(changes) - USER_FIELDS, N_("cannot change {fields} of a user"))
    with _writing(engine) as session:
        user = _user(session, user_id)
        for field, value in changes.items():
            setattr(user, field, value)
        return user


def delete_user(engine: Engine, user_id: str) -> list[str]:
    """Delete the user and their place among segment managers; answers the
    workspaces whose managers changed (their tickets need the new list). A
    user that escalation rules escalate to stays until the rules change."""
    with _writing(engine, removing=True) as session:
        user = _user(session, user_id)
        rules = session.scalars(
            select(EscalationRuleRow.id).where(EscalationRuleRow.assignee == user.username)
        ).all()
        if rules:
            raise Conflict(
                N_("user '{username}' is the assignee of escalation rule(s) {rules}; "
                   "change or delete those first"),
                username=user.username, rules=", ".join(rules),
            )
        workspaces = session.scalars(
            select(Segment.workspace_id)
            .join(SegmentManager, SegmentManager.segment_id == Segment.id)
            .where(SegmentManager.user_id == user_id)
            .distinct()
            .order_by(Segment.workspace_id)
        ).all()
        session.execute(delete(SegmentManager).where(SegmentManager.user_id == user_id))
        session.delete(user)
        _bump_revision(session, *workspaces)
        return list(workspaces)


# --- segments and their managers ----------------------------------------------------


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
    found = session.execute(select(User.username, User.id).where(User.username.in_(usernames)))
    users = {username: user_id for username, user_id in found}
    unknown = [u for u in usernames if u not in users]
    if unknown:
        raise InvalidConfiguration(N_("unknown username(s): {usernames}"), usernames=", ".join(unknown))
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


# --- surveys -----------------------------------------------------------------------

SURVEY_FIELDS = frozenset({"name", "adapter", "field_mapping", "default_segment"})


def list_surveys(engine: Engine, workspace_id: str | None = None) -> list[Survey]:
    with _reading(engine) as session:
        query = select(Survey).order_by(Survey.workspace_id, Survey.name, Survey.id)
        if workspace_id is not None:
            _workspace(session, workspace_id)
            query = query.where(Survey.workspace_id == workspace_id)
        return list(session.scalars(query))


def get_survey(engine: Engine, survey_id: str) -> Survey:
    with _reading(engine) as session:
        return _survey(session, survey_id)


def create_survey(
    engine: Engine,
    workspace_id: str,
    name: str,
    adapter: SurveyAdapter = SurveyAdapter.CXLOOP,
    field_mapping: dict[str, Any] | None = None,
    default_segment: str | None = None,
) -> Survey:
    """A new survey with a fresh webhook secret (the platform signs its
    deliveries with it)."""
    with _writing(engine) as session:
        _workspace(session, workspace_id, missing=InvalidConfiguration)
        survey = Survey(
            workspace_id=workspace_id,
            name=name,
            adapter=adapter,
            field_mapping=field_mapping,
            default_segment=default_segment,
            webhook_secret=secrets.token_urlsafe(32),
        )
        _check_survey(session, survey)
        session.add(survey)
        session.flush()
        # Every new survey starts with the detractor rule (score 0-6 makes a
        # ticket); the team edits or switches it off from there.
        detractors = detractor_rule()
        session.add(AlertRuleRow(
            id=f"{survey.id}-{detractors.id}", survey_id=survey.id, position=0, name=detractors.name,
            enabled=True, definition=detractors.model_dump(mode="json", include={"criteria", "when_met", "when_not_met"}),
        ))
        return survey


def update_survey(engine: Engine, survey_id: str, changes: Mapping[str, Any]) -> Survey:
    _refuse_fields(set(changes) - SURVEY_FIELDS, N_("cannot change {fields} of a survey"))
    with _writing(engine) as session:
        survey = _survey(session, survey_id)
        for field, value in changes.items():
            setattr(survey, field, value)
        _check_survey(session, survey)
        return survey


def delete_survey(engine: Engine, survey_id: str) -> tuple[str, int]:
    """Delete a survey that received no responses, and the escalation rules
    that apply to it alone; answers its workspace and how many rules went."""
    with _writing(engine, removing=True) as session:
        survey = _survey(session, survey_id)
        responses = _count(session, SurveyResponse, SurveyResponse.survey_id == survey_id)
        if responses:
            raise Conflict(
                N_("survey '{survey}' has {count} response(s) on record; it cannot be deleted"),
                survey=survey_id, count=responses,
            )
        rules = session.execute(delete(EscalationRuleRow).where(EscalationRuleRow.survey_id == survey_id))
        session.delete(survey)
        if rules.rowcount:
            _bump_revision(session, survey.workspace_id)
        return survey.workspace_id, rules.rowcount or 0


def _survey(session: Session, survey_id: str) -> Survey:
    return _get(session, Survey, survey_id, N_("survey '{id}' not found"))


def _check_survey(session: Session, survey: Survey) -> None:
    if survey.default_segment is not None and not _segment_exists(
        session, survey.workspace_id, survey.default_segment
    ):
        raise InvalidConfiguration(
            N_("default segment '{segment}' is not a segment of workspace '{workspace}'"),
            segment=survey.default_segment, workspace=survey.workspace_id,
        )


def _segment_exists(session: Session, workspace_id: str, name: str) -> bool:
    found = session.scalar(
        select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.name == name)
    )
    return found is not None


# --- escalation rules ----------------------------------------------------------------

RULE_FIELDS = frozenset(
    {"name", "survey_id", "segment", "after_seconds", "business_hours", "assignee", "enabled"}
)


def list_escalation_rules(engine: Engine, workspace_id: str | None = None) -> list[EscalationRuleRow]:
    with _reading(engine) as session:
        query = select(EscalationRuleRow).order_by(
            EscalationRuleRow.workspace_id, EscalationRuleRow.after_seconds, EscalationRuleRow.id
        )
        if workspace_id is not None:
            _workspace(session, workspace_id)
            query = query.where(EscalationRuleRow.workspace_id == workspace_id)
        return list(session.scalars(query))


def get_escalation_rule(engine: Engine, rule_id: str) -> EscalationRuleRow:
    with _reading(engine) as session:
        return _rule(session, rule_id)


def create_escalation_rule(engine: Engine, workspace_id: str, fields: Mapping[str, Any]) -> EscalationRuleRow:
    """`fields`: RULE_FIELDS; after_seconds and assignee are required."""
    _refuse_fields(set(fields) - RULE_FIELDS, N_("an escalation rule has no {fields}"))
    with _writing(engine) as session:
        _workspace(session, workspace_id, missing=InvalidConfiguration)
        rule = EscalationRuleRow(workspace_id=workspace_id, **fields)
        _check_rule(session, rule)
        session.add(rule)
        _bump_revision(session, workspace_id)
        return rule


def update_escalation_rule(engine: Engine, rule_id: str, changes: Mapping[str, Any]) -> EscalationRuleRow:
    _refuse_fields(set(changes) - RULE_FIELDS, N_("cannot change {fields} of an escalation rule"))
    with _writing(engine) as session:
        rule = _rule(session, rule_id)
        for field, value in changes.items():
            setattr(rule, field, value)
        _check_rule(session, rule)
        _bump_revision(session, rule.workspace_id)
        return rule


def delete_escalation_rule(engine: Engine, rule_id: str) -> str:
    """Answers the rule's workspace."""
    with _writing(engine, removing=True) as session:
        rule = _rule(session, rule_id)
        session.delete(rule)
        _bump_revision(session, rule.workspace_id)
        return rule.workspace_id


def _rule(session: Session, rule_id: str) -> EscalationRuleRow:
    return _get(session, EscalationRuleRow, rule_id, N_("escalation rule '{id}' not found"))


def _check_rule(session: Session, rule: EscalationRuleRow) -> None:
    """Everything a rule names exists: its survey (in the rule's workspace),
    its segment (likewise) and its assignee."""
    problems: list[Phrase] = []
    workspace = rule.workspace_id
    if rule.survey_id is not None:
        survey = session.get(Survey, rule.survey_id)
        if survey is None or survey.workspace_id != workspace:
            problems.append(Phrase(
                N_("survey '{survey}' is not a survey of workspace '{workspace}'"),
                {"survey": rule.survey_id, "workspace": workspace},
            ))
    if rule.segment is not None and not _segment_exists(session, workspace, rule.segment):
        problems.append(Phrase(
            N_("segment '{segment}' is not a segment of workspace '{workspace}'"),
            {"segment": rule.segment, "workspace": workspace},
        ))
    if rule.assignee is None or session.scalar(select(User.id).where(User.username == rule.assignee)) is None:
        unknown = N_("assignee '{assignee}' is not a known username")
        problems.append(Phrase(unknown, {"assignee": rule.assignee}))
    if rule.after_seconds is None or rule.after_seconds <= 0:
        problems.append(Phrase(N_("after_seconds must be a positive number of seconds"), {}))
    if problems:
        every_problem = _listing(problems, "; ")
        raise InvalidConfiguration(every_problem.message, **every_problem.params)


# --- a first run ---------------------------------------------------------------------

STARTER_WORKSPACE_ID = "default"
STARTER_SEGMENT = "general"


def ensure_starter_workspace(engine: Engine) -> bool:
    """On an empty read model, create the workspace `default` with one segment,
    `general`, so that a first `make run` can take tickets at once. Returns
    True when it created them; a configured database is left as it is."""
    if list_workspaces(engine):
        return False
    create_workspace(engine, "Default", STARTER_WORKSPACE_ID)
    create_segment(engine, STARTER_WORKSPACE_ID, STARTER_SEGMENT)
    return True
