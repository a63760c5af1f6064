"""Resolution reasons: a workspace's list of root causes a resolved ticket
names (code, a label per language, their order, retired or not). The API
checks the labels' shape; here, the workspace, the code's uniqueness in it,
and the configuration revision, since tickets hold the active codes (their
policy) and are sent the new list by a roll-out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.commands import N_
from store.configuration.common import (
    Conflict, InvalidConfiguration, _bump_revision, _get, _reading, _refuse_fields, _workspace, _writing,
)
from store.models import ResolutionReasonRow

RESOLUTION_REASON_FIELDS = frozenset({"code", "labels", "position", "retired"})


def list_resolution_reasons(engine: Engine, workspace_id: str | None = None) -> list[ResolutionReasonRow]:
    """In their order (position, then code), retired ones too."""
    with _reading(engine) as session:
        query = select(ResolutionReasonRow).order_by(
            ResolutionReasonRow.workspace_id, ResolutionReasonRow.position, ResolutionReasonRow.code
        )
        if workspace_id is not None:
            _workspace(session, workspace_id)
            query = query.where(ResolutionReasonRow.workspace_id == workspace_id)
        return list(session.scalars(query))


def get_resolution_reason(engine: Engine, reason_id: str) -> ResolutionReasonRow:
    with _reading(engine) as session:
        return _reason(session, reason_id)


def create_resolution_reason(engine: Engine, workspace_id: str, fields: Mapping[str, Any]) -> ResolutionReasonRow:
    """`fields`: code and labels; position (default: after the last), retired."""
    _refuse_fields(set(fields) - RESOLUTION_REASON_FIELDS, N_("a resolution reason has no {fields}"))
    with _writing(engine) as session:
        _workspace(session, workspace_id, missing=InvalidConfiguration)
        _check_code_free(session, workspace_id, fields["code"])
        position = fields.get("position")
        if position is None:
            last = session.scalar(
                select(func.max(ResolutionReasonRow.position)).where(ResolutionReasonRow.workspace_id == workspace_id)
            )
            position = (last or 0) + 1
        reason = ResolutionReasonRow(workspace_id=workspace_id, **{**fields, "position": position})
        session.add(reason)
        _bump_revision(session, workspace_id)
        return reason


def update_resolution_reason(engine: Engine, reason_id: str, changes: Mapping[str, Any]) -> ResolutionReasonRow:
    """Labels, position or retired. The code stays: tickets keep it."""
    _refuse_fields(set(changes) - (RESOLUTION_REASON_FIELDS - {"code"}), N_("cannot change {fields} of a resolution reason"))
    with _writing(engine) as session:
        reason = _reason(session, reason_id)
        for field, value in changes.items():
            setattr(reason, field, value)
        _bump_revision(session, reason.workspace_id)
        return reason


def active_codes(session: Session, workspace_id: str) -> list[str]:
    """The codes a ticket may be resolved with (not retired), in order."""
    return list(session.scalars(
        select(ResolutionReasonRow.code)
        .where(ResolutionReasonRow.workspace_id == workspace_id, ResolutionReasonRow.retired.is_(False))
        .order_by(ResolutionReasonRow.position, ResolutionReasonRow.code)
    ))


def _reason(session: Session, reason_id: str) -> ResolutionReasonRow:
    return _get(session, ResolutionReasonRow, reason_id, N_("resolution reason '{id}' not found"))


def _check_code_free(session: Session, workspace_id: str, code: str) -> None:
    taken = session.scalar(
        select(ResolutionReasonRow.id).where(
            ResolutionReasonRow.workspace_id == workspace_id, ResolutionReasonRow.code == code
        )
    )
    if taken is not None:
        raise Conflict(N_("resolution reason '{code}' already exists in this workspace"), code=code)
