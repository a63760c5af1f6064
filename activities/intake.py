"""Intake's side effects: reading a survey's rules and a workspace's policy,
keeping the response, and picking the owner of a new ticket."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from domain.alerts import AlertRule
from domain.assignment import AssignmentMode, Candidate, choose_owner
from domain.contracts import (
    PICK_OWNER_ACTIVITY,
    PREPARE_MESSAGE_INTAKE_ACTIVITY,
    PREPARE_SURVEY_INTAKE_ACTIVITY,
    UNSORTED_SEGMENT,
    USER_EMAIL_ACTIVITY,
    MessageRules,
    OwnerQuestion,
    ResponseRecord,
    SurveyRules,
)
from store import intake as store
from store.configuration import load_policy


class IntakeActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _owner(self, workspace_id: str, segment: str) -> str | None:
        staffing = store.segment_staffing(self._engine, workspace_id, segment)
        if staffing is None:
            return None
        return choose_owner(
            AssignmentMode(staffing.mode),
            [Candidate.model_validate(c) for c in staffing.candidates],
            staffing.previous_owner,
        )

    @activity.defn(name=PREPARE_SURVEY_INTAKE_ACTIVITY)
    def prepare_survey_intake(self, record: ResponseRecord) -> SurveyRules:
        """Keep the response (once) and read what deciding on it takes."""
        survey = store.get_survey(self._engine, record.response.survey_id)
        if survey is None:
            raise ValueError(f"survey {record.response.survey_id} no longer exists")
        store.record_response(self._engine, record.key, record.response, record.mapped, record.received_at)
        policy = load_policy(self._engine, survey.workspace_id)
        segment = record.mapped.segment or survey.default_segment or UNSORTED_SEGMENT
        return SurveyRules(
            workspace_id=survey.workspace_id,
            segment=segment,
            alert_rules=[AlertRule.model_validate(doc) for doc in store.alert_rule_documents(self._engine, survey.id)],
            policy=policy,
            owner=self._owner(survey.workspace_id, segment),
        )

    @activity.defn(name=PREPARE_MESSAGE_INTAKE_ACTIVITY)
    def prepare_message_intake(self, question: OwnerQuestion) -> MessageRules:
        policy = load_policy(self._engine, question.workspace_id)
        segment = question.segment if question.segment in policy.segment_managers else UNSORTED_SEGMENT
        return MessageRules(policy=policy, segment=segment, owner=self._owner(question.workspace_id, segment))

    @activity.defn(name=PICK_OWNER_ACTIVITY)
    def pick_owner(self, question: OwnerQuestion) -> str | None:
        return self._owner(question.workspace_id, question.segment)

    @activity.defn(name=USER_EMAIL_ACTIVITY)
    def user_email(self, username: str) -> str | None:
        return store.user_email(self._engine, username)
