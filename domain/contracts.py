"""What workflows and activities exchange: activity names and payloads.

Both sides import these, and workflows may import nothing but domain/, so the
contracts live here. The activities themselves are in activities/.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.alerts import AlertRule
from domain.responses import MappedResponse, SurveyResponse
from domain.ticket import TicketPolicy

# activities/intake.py
LOAD_SURVEY_RULES_ACTIVITY = "load_survey_rules"
LOAD_WORKSPACE_POLICY_ACTIVITY = "load_workspace_policy"
RECORD_RESPONSE_ACTIVITY = "record_response"
LINK_RESPONSE_TICKET_ACTIVITY = "link_response_ticket"
PICK_OWNER_ACTIVITY = "pick_owner"
USER_EMAIL_ACTIVITY = "user_email"
# activities/mail.py
SEND_AUTO_REPLY_ACTIVITY = "send_auto_reply"
SEND_NOTIFICATION_ACTIVITY = "send_notification"
# activities/rollout.py
ROLL_OUT_POLICY_ACTIVITY = "roll_out_policy"


class SurveyRules(BaseModel):
    workspace_id: str
    default_segment: str | None
    alert_rules: list[AlertRule]
    policy: TicketPolicy


class ResponseRecord(BaseModel):
    key: str
    response: SurveyResponse
    mapped: MappedResponse
    received_at: datetime


class OwnerQuestion(BaseModel):
    workspace_id: str
    segment: str


class AutoReply(BaseModel):
    to: str
    customer_name: str | None = None
    reference: str
    source: str
    subject: str | None = None


class SurveyNotification(BaseModel):
    to: str
    rule_name: str
    message: str | None = None
    survey_id: str
    response_id: str
    score: int | None = None
    customer_email: str | None = None
    comment: str | None = None
    ticket_reference: str | None = None
