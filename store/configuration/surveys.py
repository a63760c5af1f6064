"""Surveys: list, read, create (with a fresh webhook secret and the detractor
alert rule), change (SURVEY_FIELDS), and delete one that received no
responses, with the escalation rules that apply to it alone."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from domain.alerts import detractor_rule
from domain.commands import N_
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
from store.models import AlertRuleRow, EscalationRuleRow, Survey, SurveyAdapter, SurveyResponse


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
