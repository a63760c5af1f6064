"""Users: list, read, create, change (USER_FIELDS, deactivation included) and
delete, with their place among segment managers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from domain.commands import N_
from store.configuration.common import Conflict, _bump_revision, _get, _reading, _refuse_fields, _writing
from store.models import EscalationRuleRow, Segment, SegmentManager, User, UserRole, UserSession


# `active`: False deactivates the user (User.deactivated_at), True brings them back.
USER_FIELDS = frozenset({"email", "display_name", "role", "locale", "time_zone", "active"})


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


def update_user(engine: Engine, user_id: str, changes: Mapping[str, Any]) -> tuple[User, list[str]]:
    """Any of USER_FIELDS. The username stays: tickets, rules and the
    Temporal search attribute TicketOwner name the user by it. Answers the
    user and the workspaces whose managers changed (a deactivation)."""
    _refuse_fields(set(changes) - USER_FIELDS, N_("cannot change {fields} of a user"))
    workspaces: list[str] = []
    with _writing(engine) as session:
        user = _user(session, user_id)
        for field, value in changes.items():
            if field == "active":
                if not value and user.deactivated_at is None:
                    workspaces = _deactivate(session, user)
                elif value:
                    user.deactivated_at = None
            else:
                setattr(user, field, value)
        return user, workspaces


def _deactivate(session: Session, user: User) -> list[str]:
    """The user signs in no more (their browsers are signed out; their tokens
    are refused while they are deactivated) and manages no segment: answers
    the workspaces whose managers changed. Refused while escalation rules
    escalate to them: those tickets would go to nobody who works."""
    _refuse_while_assignee(session, user)
    user.deactivated_at = datetime.now(UTC)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))
    return _leave_segments(session, user.id)


def _refuse_while_assignee(session: Session, user: User) -> None:
    rules = session.scalars(select(EscalationRuleRow.id).where(EscalationRuleRow.assignee == user.username)).all()
    if rules:
        raise Conflict(
            N_("user '{username}' is the assignee of escalation rule(s) {rules}; "
               "change or delete those first"),
            username=user.username, rules=", ".join(rules),
        )


def _leave_segments(session: Session, user_id: str) -> list[str]:
    workspaces = session.scalars(
        select(Segment.workspace_id)
        .join(SegmentManager, SegmentManager.segment_id == Segment.id)
        .where(SegmentManager.user_id == user_id)
        .distinct()
        .order_by(Segment.workspace_id)
    ).all()
    session.execute(delete(SegmentManager).where(SegmentManager.user_id == user_id))
    _bump_revision(session, *workspaces)
    return list(workspaces)


def delete_user(engine: Engine, user_id: str) -> list[str]:
    """Delete the user and their place among segment managers; answers the
    workspaces whose managers changed (their tickets need the new list). A
    user that escalation rules escalate to stays until the rules change."""
    with _writing(engine, removing=True) as session:
        user = _user(session, user_id)
        _refuse_while_assignee(session, user)
        workspaces = _leave_segments(session, user_id)
        session.delete(user)
        return workspaces
