"""What workflows and activities exchange: activity names and payloads.

Both sides import these, and workflows may import nothing but domain/, so the
contracts live here. The activities themselves are in activities/.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.alerts import AlertRule
from domain.commands import NewTicket
from domain.responses import MappedResponse, SurveyResponse
from domain.ticket import Source, TicketEvent, TicketNotice, TicketPolicy, TicketState

# activities/intake.py
PREPARE_SURVEY_INTAKE_ACTIVITY = "prepare_survey_intake"
PREPARE_MESSAGE_INTAKE_ACTIVITY = "prepare_message_intake"
PICK_OWNER_ACTIVITY = "pick_owner"
USER_EMAIL_ACTIVITY = "user_email"
# activities/mail.py
SEND_AUTO_REPLY_ACTIVITY = "send_auto_reply"
SEND_NOTIFICATION_ACTIVITY = "send_notification"
# A segment nobody configured still gets the ticket: nothing is dropped.
UNSORTED_SEGMENT = "unsorted"

# activities/rollout.py
ROLL_OUT_POLICY_ACTIVITY = "roll_out_policy"


class ResponseRecord(BaseModel):
    key: str
    response: SurveyResponse
    mapped: MappedResponse
    received_at: datetime


class SurveyRules(BaseModel):
    """What a survey response is decided with, read when it is recorded."""

    workspace_id: str
    segment: str = Field(description="the response's own segment (mapped, or the survey's default)")
    # What the response named when the workspace has no such segment:
    # `segment` is then the fallback (domain/segments.py).
    unknown_segment: str | None = None
    alert_rules: list[AlertRule]
    policy: TicketPolicy
    # Who would own a ticket in `segment` (its assignment mode), picked up
    # front: most tickets stay in the response's own segment.
    owner: str | None
    # The workspace's language for a customer whose response names none
    # (None in histories recorded before it was read).
    default_locale: str | None = None


class OwnerQuestion(BaseModel):
    workspace_id: str
    segment: str


class MessageRules(BaseModel):
    policy: TicketPolicy
    segment: str
    owner: str | None
    # What the form or mail named when the workspace has no such segment.
    unknown_segment: str | None = None
    # The workspace's language for a customer whose source names none
    # (None in histories recorded before it was read).
    default_locale: str | None = None


class AutoReply(BaseModel):
    to: str
    customer_name: str | None = None
    reference: str
    source: str
    subject: str | None = None
    # The ticket's customer_locale and workspace (its mail identity); None in
    # histories recorded before them: English, the settings' sender.
    locale: str | None = None
    workspace_id: str | None = None


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


# --- workflow inputs and results ------------------------------------------------

# Temporal refuses more than 2,000 updates in one run; a ticket moves on to a
# fresh run long before that.
DEFAULT_MAX_CHANGES_PER_RUN = 500


class TicketWorkflowInput(BaseModel):
    """Either a new ticket, or (after continue-as-new) the state carried over."""

    new: NewTicket | None = None
    state: TicketState | None = None
    log: list[TicketEvent] = Field(default_factory=list)
    unprojected: list[TicketEvent] = Field(default_factory=list)
    # Mails of changes not yet projected (they go to the outbox with them).
    notices: list[TicketNotice] = Field(default_factory=list)
    policy: TicketPolicy = Field(default_factory=TicketPolicy)
    max_changes_per_run: int = DEFAULT_MAX_CHANGES_PER_RUN


class SurveyIntake(BaseModel):
    response: SurveyResponse
    mapped: MappedResponse
    received_at: datetime


class IntakeResult(BaseModel):
    response_key: str
    ticket_id: str | None = None
    reference: str | None = None
    reasons: list[str] = Field(default_factory=list)
    notified: list[str] = Field(default_factory=list)


class MessageIntake(BaseModel):
    """A web form or inbound mail, already validated by the API."""

    ticket_id: str
    source: Source
    workspace_id: str
    customer_email: str
    customer_name: str | None = None
    segment: str | None = None
    subject: str | None = None
    message: str
    received_at: datetime
    # The form's Accept-Language or the mail's language, as one of
    # domain.ticket.CUSTOMER_LOCALES; None: the workspace's default.
    customer_locale: str | None = None
    # A customer's mail answering a ticket that is closed: its reference,
    # named in the new ticket's first line.
    follows: str | None = None
