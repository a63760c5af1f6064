"""Reply templates: list, read, create, change and delete, per workspace.
A template's bodies are checked by the API (domain/reply_templates.py) before
they reach here; here, its workspace and its name, unique in the workspace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.commands import N_
from store.configuration.common import Conflict, InvalidConfiguration, _get, _reading, _refuse_fields, _workspace, _writing
from store.models import ReplyTemplateRow

REPLY_TEMPLATE_FIELDS = frozenset({"name", "bodies"})


def list_reply_templates(engine: Engine, workspace_id: str | None = None) -> list[ReplyTemplateRow]:
    with _reading(engine) as session:
        query = select(ReplyTemplateRow).order_by(
            ReplyTemplateRow.workspace_id, ReplyTemplateRow.name, ReplyTemplateRow.id
        )
        if workspace_id is not None:
            _workspace(session, workspace_id)
            query = query.where(ReplyTemplateRow.workspace_id == workspace_id)
        return list(session.scalars(query))


def get_reply_template(engine: Engine, template_id: str) -> ReplyTemplateRow:
    with _reading(engine) as session:
        return _template(session, template_id)


def create_reply_template(engine: Engine, workspace_id: str, fields: Mapping[str, Any]) -> ReplyTemplateRow:
    """`fields`: name and bodies."""
    _refuse_fields(set(fields) - REPLY_TEMPLATE_FIELDS, N_("a reply template has no {fields}"))
    with _writing(engine) as session:
        _workspace(session, workspace_id, missing=InvalidConfiguration)
        _check_name_free(session, workspace_id, fields["name"])
        template = ReplyTemplateRow(workspace_id=workspace_id, **fields)
        session.add(template)
        return template


def update_reply_template(engine: Engine, template_id: str, changes: Mapping[str, Any]) -> ReplyTemplateRow:
    _refuse_fields(set(changes) - REPLY_TEMPLATE_FIELDS, N_("cannot change {fields} of a reply template"))
    with _writing(engine) as session:
        template = _template(session, template_id)
        if "name" in changes and changes["name"] != template.name:
            _check_name_free(session, template.workspace_id, changes["name"])
        for field, value in changes.items():
            setattr(template, field, value)
        return template


def delete_reply_template(engine: Engine, template_id: str) -> None:
    with _writing(engine, removing=True) as session:
        session.delete(_template(session, template_id))


def _template(session: Session, template_id: str) -> ReplyTemplateRow:
    return _get(session, ReplyTemplateRow, template_id, N_("reply template '{id}' not found"))


def _check_name_free(session: Session, workspace_id: str, name: str) -> None:
    taken = session.scalar(
        select(ReplyTemplateRow.id).where(ReplyTemplateRow.workspace_id == workspace_id, ReplyTemplateRow.name == name)
    )
    if taken is not None:
        raise Conflict(N_("workspace '{workspace}' already has a reply template '{name}'"), workspace=workspace_id, name=name)
