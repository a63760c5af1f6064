"""Escalation rules: list, read, create, change (RULE_FIELDS) and delete, each
checked for what it names (its survey, segment and assignee)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.commands import N_
from store.configuration.common import (
    InvalidConfiguration,
    Phrase,
    _bump_revision,
    _get,
    _listing,
    _reading,
    _refuse_fields,
    _segment_exists,
    _workspace,
    _writing,
)
from store.models import EscalationRuleRow, Survey, User


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
    assignee = None if rule.assignee is None else session.execute(
        select(User.id, User.deactivated_at).where(User.username == rule.assignee)
    ).first()
    if assignee is None:
        unknown = N_("assignee '{assignee}' is not a known username")
        problems.append(Phrase(unknown, {"assignee": rule.assignee}))
    elif assignee.deactivated_at is not None:
        # Their tickets would wait on someone who no longer works them.
        problems.append(Phrase(N_("assignee '{assignee}' is deactivated"), {"assignee": rule.assignee}))
    if rule.after_seconds is None or rule.after_seconds <= 0:
        problems.append(Phrase(N_("after_seconds must be a positive number of seconds"), {}))
    if problems:
        every_problem = _listing(problems, "; ")
        raise InvalidConfiguration(every_problem.message, **every_problem.params)
