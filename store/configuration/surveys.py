"""Surveys: list, read, create (with a fresh webhook secret, the default field
mapping and the detractor alert rule), change (SURVEY_FIELDS), a new webhook
secret, the question keys its responses used, and delete one that received no
responses, with the escalation rules that apply to it alone."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from domain.alerts import detractor_rule
from domain.commands import N_
from domain.responses import HIDDEN_PREFIX, FieldMapping
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

# cxloop's fields a mapping may name (each mapped to a question key or
# `hidden:<name>`), and the list of those a response must carry.
MAPPED_FIELDS = tuple(field for field in FieldMapping.model_fields if field != "required")
REQUIRED_KEY = "required"

# What a survey made without a mapping gets: the question keys of a typical
# survey (cxloop's own payload, or Typeform questions given these refs), so
# that a survey made in the dashboard with its defaults takes a response at once.
DEFAULT_FIELD_MAPPING: dict[str, Any] = {
    "score": "nps",
    "comment": "comment",
    "customer_email": "email",
    "customer_name": "name",
    "segment": HIDDEN_PREFIX + "segment",
}


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
            field_mapping=dict(DEFAULT_FIELD_MAPPING) if field_mapping is None else field_mapping,
            default_segment=default_segment,
            webhook_secret=new_webhook_secret(),
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


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def rotate_webhook_secret(engine: Engine, survey_id: str) -> Survey:
    """A new webhook secret: deliveries signed with the old one are refused
    from now on (the platform must be given the new one)."""
    with _writing(engine) as session:
        survey = _survey(session, survey_id)
        survey.webhook_secret = new_webhook_secret()
        return survey


# Enough recent responses to see every question a survey asks.
QUESTION_KEY_SAMPLE = 50


def question_keys(engine: Engine, survey_id: str) -> list[str]:
    """The question keys (and `hidden:<name>` fields) of the survey's latest
    responses: what its mapping can name."""
    with _reading(engine) as session:
        payloads = session.scalars(
            select(SurveyResponse.payload)
            .where(SurveyResponse.survey_id == survey_id)
            .order_by(SurveyResponse.received_at.desc())
            .limit(QUESTION_KEY_SAMPLE)
        )
        keys: dict[str, None] = {}
        for payload in payloads:
            for answer in (payload or {}).get("answers") or []:
                if isinstance(answer, dict) and answer.get("key"):
                    keys[str(answer["key"])] = None
            for name in (payload or {}).get("hidden") or {}:
                keys[HIDDEN_PREFIX + str(name)] = None
        return sorted(keys)


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
    if survey.field_mapping is not None:
        _check_field_mapping(survey.field_mapping)
    if survey.default_segment is not None and not _segment_exists(
        session, survey.workspace_id, survey.default_segment
    ):
        raise InvalidConfiguration(
            N_("default segment '{segment}' is not a segment of workspace '{workspace}'"),
            segment=survey.default_segment, workspace=survey.workspace_id,
        )


def _check_field_mapping(mapping: Mapping[str, Any]) -> None:
    """A mapping goes from cxloop's field to the question that answers it
    (`{"score": "nps"}`); one the wrong way round (`{"nps": "score"}`) or
    misspelt would leave every response without that field."""
    fields = ", ".join((*MAPPED_FIELDS, REQUIRED_KEY))
    for key, value in mapping.items():
        if key == REQUIRED_KEY:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise InvalidConfiguration(
                    N_("field mapping: 'required' must be a list of cxloop's fields ({fields})"), fields=fields
                )
            unknown = [item for item in value if item not in MAPPED_FIELDS]
            if unknown:
                raise InvalidConfiguration(
                    N_("field mapping: required field '{key}' is not one of cxloop's fields ({fields})"),
                    key=unknown[0], fields=", ".join(MAPPED_FIELDS),
                )
        elif key not in MAPPED_FIELDS:
            raise InvalidConfiguration(
                N_("field mapping: '{key}' is not one of cxloop's fields ({fields}); "
                   "a mapping goes from cxloop's field to the survey's question key"),
                key=key, fields=fields,
            )
        elif value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidConfiguration(
                N_("field mapping: '{key}' must name a question key (or hidden:<name>), or be null"), key=key
            )
