"""Intake's side effects: reading a survey's rules and a workspace's policy,
keeping the response, and picking the owner of a new ticket."""

from __future__ import annotations

import time
from datetime import timedelta
from functools import lru_cache

from sqlalchemy import Engine
from temporalio import activity

from domain.alerts import AlertRule
from domain.assignment import AssignmentMode, Candidate, choose_owner
from domain.segments import choose_segment
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

# A survey's set-up (its field mapping, default segment and alert rules) read
# for one response also serves the responses received in the next few seconds,
# so a burst of webhooks reads it once. An alert rule or survey changed in the
# API therefore applies to responses received at most this long afterwards.
# The workspace's policy and the segment's staffing are read for every
# response: the owner must be one of the managers that policy lists, and the
# policy lives on in the ticket. A copy read before a configuration change
# whose ticket starts after the change's roll-out looked for tickets (under a
# worker backlog, minutes later) is not left stale: it carries the revision it
# was read at, and the ticket's first projection sends it the current policy
# (activities/projection.py).
SURVEY_SETUP_MAX_AGE = timedelta(seconds=5)


class IntakeActivities:
    def __init__(self, engine: Engine, survey_setup_max_age: timedelta = SURVEY_SETUP_MAX_AGE) -> None:
        self._engine = engine
        self._max_age = survey_setup_max_age.total_seconds()
        # Keyed by the survey and the current period of max_age: an entry
        # serves until its period ends, so it is never older than max_age.
        self._survey_setup = lru_cache(maxsize=1024)(self._read_survey_setup)

    def _read_survey_setup(self, survey_id: str, _period: int) -> tuple[store.SurveyConfig, list[AlertRule]]:
        survey = store.get_survey(self._engine, survey_id)
        if survey is None:
            raise ValueError(f"survey {survey_id} no longer exists")
        rules = [AlertRule.model_validate(doc) for doc in store.alert_rule_documents(self._engine, survey.id)]
        return survey, rules

    def _setup_of(self, survey_id: str) -> tuple[store.SurveyConfig, list[AlertRule]]:
        if self._max_age <= 0:
            return self._read_survey_setup(survey_id, 0)
        return self._survey_setup(survey_id, int(time.monotonic() // self._max_age))

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
        survey, alert_rules = self._setup_of(record.response.survey_id)
        store.record_response(self._engine, record.key, record.response, record.mapped, record.received_at)
        policy = load_policy(self._engine, survey.workspace_id)
        choice = choose_segment(
            record.mapped.segment, policy.segment_managers, default=survey.default_segment, unnamed=UNSORTED_SEGMENT
        )
        return SurveyRules(
            workspace_id=survey.workspace_id,
            segment=choice.segment,
            unknown_segment=choice.unknown_named,
            alert_rules=alert_rules,
            policy=policy,
            owner=self._owner(survey.workspace_id, choice.segment),
            default_locale=store.default_locale(self._engine, survey.workspace_id),
        )

    @activity.defn(name=PREPARE_MESSAGE_INTAKE_ACTIVITY)
    def prepare_message_intake(self, question: OwnerQuestion) -> MessageRules:
        policy = load_policy(self._engine, question.workspace_id)
        # The workflow asks about UNSORTED_SEGMENT when the form or mail named none.
        named = None if question.segment == UNSORTED_SEGMENT else question.segment
        choice = choose_segment(named, policy.segment_managers, default=None, unnamed=UNSORTED_SEGMENT)
        return MessageRules(
            policy=policy, segment=choice.segment, unknown_segment=choice.unknown_named,
            owner=self._owner(question.workspace_id, choice.segment),
            default_locale=store.default_locale(self._engine, question.workspace_id),
        )

    @activity.defn(name=PICK_OWNER_ACTIVITY)
    def pick_owner(self, question: OwnerQuestion) -> str | None:
        return self._owner(question.workspace_id, question.segment)

    @activity.defn(name=USER_EMAIL_ACTIVITY)
    def user_email(self, username: str) -> str | None:
        return store.user_email(self._engine, username)
