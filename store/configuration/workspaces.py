"""Workspaces: list, read, create, rename, and delete an empty one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from domain.commands import N_
from domain.ticket import DEFAULT_CUSTOMER_LOCALE
from store.configuration.common import Conflict, Phrase, _bump_revision, _count, _listing, _reading, _workspace, _writing
from store.models import EscalationRuleRow, Segment, Survey, Workspace


# What update_workspace changes: its name, the language and time zone of its
# customers' mails, and its mail identity.
MAIL_IDENTITY_FIELDS = ("mail_sender_name", "mail_sender_address", "mail_reply_to", "mail_signature")
WORKSPACE_FIELDS = ("name", "default_locale", "time_zone", *MAIL_IDENTITY_FIELDS)


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
        workspace = Workspace(
            name=name, default_locale=DEFAULT_CUSTOMER_LOCALE, time_zone="UTC",
            **({"id": workspace_id} if workspace_id is not None else {}),
        )
        session.add(workspace)
        return workspace


def update_workspace(engine: Engine, workspace_id: str, changes: Mapping[str, Any]) -> Workspace:
    with _writing(engine) as session:
        workspace = _workspace(session, workspace_id)
        if "resolution_reason_required" in changes and (
            bool(changes["resolution_reason_required"]) != workspace.resolution_reason_required
        ):
            # Tickets hold it in their policy: a roll-out tells them.
            workspace.resolution_reason_required = bool(changes["resolution_reason_required"])
            _bump_revision(session, workspace_id)
        for field in WORKSPACE_FIELDS:
            if field in changes:
                value = changes[field]
                # An empty mail field is none: the settings' default sender.
                if field in MAIL_IDENTITY_FIELDS and isinstance(value, str):
                    value = value.strip() or None
                setattr(workspace, field, str(value) if value is not None else None)
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
