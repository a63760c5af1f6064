"""Intake's side effects: reading a survey's rules and a workspace's policy,
keeping the response, and picking the owner of a new ticket."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from domain.alerts import AlertRule
from domain.assignment import AssignmentMode, Candidate, choose_owner
from domain.contracts import (
    LINK_RESPONSE_TICKET_ACTIVITY,
    LOAD_SURVEY_RULES_ACTIVITY,
    LOAD_WORKSPACE_POLICY_ACTIVITY,
    PICK_OWNER_ACTIVITY,
    RECORD_RESPONSE_ACTIVITY,
    USER_EMAIL_ACTIVITY,
    OwnerQuestion,
    ResponseRecord,
    SurveyRules,
)
from domain.ticket import TicketPolicy
from store import intake as store
from store.configuration import load_policy

class IntakeActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=LOAD_SURVEY_RULES_ACTIVITY)
    def load_survey_rules(self, survey_id: str) -> SurveyRules:
        survey = store.get_survey(self._engine, survey_id)
        if survey is None:
            raise ValueError(f"survey {survey_id} no longer exists")
        return SurveyRules(
            workspace_id=survey.workspace_id,
            default_segment=survey.default_segment,
            alert_rules=[AlertRule.model_validate(doc) for doc in store.alert_rule_documents(self._engine, survey_id)],
            policy=load_policy(self._engine, survey.workspace_id),
        )

    @activity.defn(name=LOAD_WORKSPACE_POLICY_ACTIVITY)
    def load_workspace_policy(self, workspace_id: str) -> TicketPolicy:
        return load_policy(self._engine, workspace_id)

    @activity.defn(name=RECORD_RESPONSE_ACTIVITY)
    def record_response(self, record: ResponseRecord) -> None:
        store.record_response(self._engine, record.key, record.response, record.mapped, record.received_at)

    @activity.defn(name=LINK_RESPONSE_TICKET_ACTIVITY)
    def link_response_ticket(self, key: str) -> None:
        # A survey ticket's id is the response's key (both derive from it).
        store.link_ticket(self._engine, key, key)

    @activity.defn(name=PICK_OWNER_ACTIVITY)
    def pick_owner(self, question: OwnerQuestion) -> str | None:
        staffing = store.segment_staffing(self._engine, question.workspace_id, question.segment)
        if staffing is None:
            return None
        return choose_owner(
            AssignmentMode(staffing.mode),
            [Candidate.model_validate(c) for c in staffing.candidates],
            staffing.previous_owner,
        )

    @activity.defn(name=USER_EMAIL_ACTIVITY)
    def user_email(self, username: str) -> str | None:
        return store.user_email(self._engine, username)


