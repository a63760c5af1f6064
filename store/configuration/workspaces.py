"""Workspaces: list, read, create, rename, and delete an empty one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select

from domain.commands import N_
from store.configuration.common import Conflict, Phrase, _count, _listing, _reading, _workspace, _writing
from store.models import EscalationRuleRow, Segment, Survey, Workspace


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
