"""The ticket: its enums, its state, its log entries and its lifecycle table.

Everything here is pure and deterministic (no I/O, no clock), so the ticket
workflow can use it inside Temporal's sandbox and tests can use it directly.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import BusinessCalendar
from domain.escalation import EscalationRule


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    ANSWERED = "answered"
    ESCALATED = "escalated"
    POSTPONED = "postponed"
    RESOLVED = "resolved"
    CLOSED = "closed"
    SPAM = "spam"
    DELETED = "deleted"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Source(StrEnum):
    SURVEY = "survey"
    MANUAL = "manual"
    EMAIL = "email"
    FORM = "form"
    API = "api"


class EscalatedBy(StrEnum):
    HAND = "hand"
    RULE = "rule"


S = TicketStatus
_WORKING = {S.OPEN, S.ANSWERED, S.ESCALATED, S.POSTPONED, S.RESOLVED, S.SPAM, S.DELETED}

# DESIGN.md's lifecycle table. DELETED is special: it may only go back to the
# status it had before it was deleted (restore), which `can_transition` checks.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.NEW: frozenset(_WORKING),
    S.OPEN: frozenset(_WORKING - {S.OPEN}),
    S.ANSWERED: frozenset(_WORKING - {S.ANSWERED}),
    S.ESCALATED: frozenset(_WORKING - {S.ESCALATED}),
    S.POSTPONED: frozenset(_WORKING - {S.POSTPONED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),
    S.CLOSED: frozenset(),
    S.SPAM: frozenset({S.OPEN, S.DELETED}),
    S.DELETED: frozenset(s for s in S if s not in {S.DELETED, S.CLOSED}),
}

# Statuses in which escalation rules keep counting. Answered tickets wait for
# the customer and postponed ones were deliberately put aside, so neither is
# "waiting too long" on us; the rest are finished or not real tickets.
ESCALATION_CLOCK_RUNS = frozenset({S.NEW, S.OPEN, S.ESCALATED})

# A customer writing back puts these statuses back in front of an agent.
REOPENED_BY_CUSTOMER_REPLY = frozenset({S.ANSWERED, S.POSTPONED, S.RESOLVED})

# The languages a customer is written to in: the dashboard's catalogs'.
CUSTOMER_LOCALES = ("en", "de", "es", "ja", "hu")
DEFAULT_CUSTOMER_LOCALE = "en"


def customer_locale(tag: str | None) -> str | None:
    """A language tag as a customer's source gives it ("de-DE", "DE", "es_MX",
    "ja") as one of CUSTOMER_LOCALES; None for none or one cxloop does not
    write in, so the caller falls back to the workspace's default."""
    if not tag:
        return None
    language = tag.strip().replace("_", "-").split("-")[0].lower()
    return language if language in CUSTOMER_LOCALES else None


IMMUTABLE_FIELDS = frozenset(
    {
        "id",
        "reference",
        "source",
        "response_id",
        "survey_id",
        "workspace_id",
        "customer_email",
        "customer_name",
        "origin_segment",
        "reported_at",
        "submitted_at",
        "customer_locale",
        "customer_comment",
        "score",
        "created_at",
    }
)

EDITABLE_FIELDS = ("status", "priority", "segment", "owner")

DEFAULT_VERIFICATION_WINDOW = timedelta(days=7)


def can_transition(
    current: TicketStatus, target: TicketStatus, status_before_delete: TicketStatus | None
) -> bool:
    if current is S.DELETED:
        return target == status_before_delete
    return target in TRANSITIONS[current]


def ticket_id_for_response(survey_id: str, response_id: str) -> str:
    """A survey ticket's id derives from its response, so a webhook delivered
    twice maps to one workflow id and Temporal starts one ticket."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxloop:survey:{survey_id}:response:{response_id}"))


def reference_for(ticket_id: str) -> str:
    """The short reference a customer quotes back to us ("CX-8K2M4QZP")."""
    digest = uuid.uuid5(uuid.NAMESPACE_OID, ticket_id).bytes
    return "CX-" + base64.b32encode(digest).decode()[:8]


def workflow_id_for(ticket_id: str) -> str:
    return f"ticket-{ticket_id}"


class TicketState(BaseModel):
    """One ticket as its workflow holds it: the source of truth."""

    model_config = ConfigDict(use_enum_values=False)

    # Immutable after creation.
    id: str
    reference: str
    source: Source
    workspace_id: str = "default"
    survey_id: str | None = None
    response_id: str | None = None
    customer_email: str
    customer_name: str | None = None
    origin_segment: str
    reported_at: datetime
    # When the customer submitted the survey response behind the ticket (None:
    # not a survey ticket, or one made before this was kept).
    submitted_at: datetime | None = None
    # The language the customer is written to in (CUSTOMER_LOCALES). None: a
    # ticket made before this was kept (its workspace's default language).
    customer_locale: str | None = None
    customer_comment: str | None = None
    score: int | None = None
    created_at: datetime

    # Editable, each edit with a comment.
    segment: str
    owner: str | None = None
    priority: Priority = Priority.MEDIUM
    status: TicketStatus = TicketStatus.NEW

    # Lifecycle bookkeeping.
    version: int = 0
    updated_at: datetime
    status_before_delete: TicketStatus | None = None
    escalated_by: EscalatedBy | None = None
    snooze_until: datetime | None = None
    resolved_at: datetime | None = None
    # Why it was resolved: a code of the workspace's resolution reasons (the
    # root cause), given when it is resolved, gone when it is reopened.
    resolution_reason: str | None = None
    # The customer's second score (0-10), given when they confirmed the
    # ticket solved, and when: a detractor who answers 7 or more is recovered.
    recovery_score: int | None = None
    recovery_scored_at: datetime | None = None

    @property
    def recovered(self) -> bool | None:
        """A detractor (0-6) whose second score is 7 or more; None when either
        score is missing or the first was no detractor's."""
        if self.score is None or self.recovery_score is None or self.score > 6:
            return None
        return self.recovery_score >= 7
    escalation_clock_started_at: datetime
    fired_rule_ids: list[str] = Field(default_factory=list)
    purged: bool = False

    # When each pending timer is due (None: no such timer), recomputed after
    # every change so a client can say "escalates on ..." or "wakes on ...".
    escalation_due_at: datetime | None = None
    escalation_rule_id: str | None = None
    wake_at: datetime | None = None
    auto_close_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status is TicketStatus.CLOSED or self.purged

    def next_due_at(self) -> datetime | None:
        due = [d for d in (self.escalation_due_at, self.wake_at, self.auto_close_at) if d]
        return min(due) if due else None


class EventKind(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    COMMENTED = "commented"
    CUSTOMER_REPLIED = "customer_replied"
    # A reply of the team's, mailed to the customer: its comment is the
    # reply's text (public), not an internal remark.
    REPLIED = "replied"
    ESCALATED_BY_RULE = "escalated_by_rule"
    WOKE_UP = "woke_up"
    AUTO_CLOSED = "auto_closed"
    PURGED = "purged"
    RULES_REPLACED = "rules_replaced"
    DIRECTORY_REPLACED = "directory_replaced"
    REJECTED = "rejected"


class TicketEvent(BaseModel):
    """One line of a ticket's log: who, when, what changed from what to what, why."""

    seq: int
    at: datetime
    actor: str
    kind: EventKind
    field: str | None = None
    old: str | None = None
    new: str | None = None
    comment: str


class NpsCategory(StrEnum):
    """Where a 0-10 score puts its customer (Net Promoter Score)."""

    DETRACTOR = "detractor"  # 0-6
    PASSIVE = "passive"  # 7-8
    PROMOTER = "promoter"  # 9-10

    @property
    def scores(self) -> range:
        return {"detractor": range(0, 7), "passive": range(7, 9), "promoter": range(9, 11)}[self.value]


class TicketPolicy(BaseModel):
    """What a ticket needs to know about its workspace's configuration. Kept in
    the workflow so validators can decide without I/O; replaced by a command
    whenever configuration changes."""

    escalation_rules: list[EscalationRule] = Field(default_factory=list)
    # segment -> the managers who may own its tickets
    segment_managers: dict[str, list[str]] = Field(default_factory=dict)
    # segment -> its business calendar, for rules counting business hours
    segment_calendars: dict[str, BusinessCalendar] = Field(default_factory=dict)
    verification_window: timedelta = DEFAULT_VERIFICATION_WINDOW
    # The workspace's configuration revision this copy was read at (at least:
    # see store.configuration.load_policy). None: a ticket started before
    # workspaces had revisions, which only roll-outs correct.
    revision: int | None = None
    # The codes of the workspace's resolution reasons that are not retired
    # (None: a copy from before they existed, which takes any code), and
    # whether resolving needs one.
    resolution_reasons: list[str] | None = None
    resolution_reason_required: bool = False


class NoticeKind(StrEnum):
    """A mail about a ticket (domain/notices.py decides who gets which)."""

    ASSIGNED = "assigned"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    # A reply of the team's to the customer (its text is the log line's).
    REPLY = "reply"
    # The automatic reply to a web form's or a mail's customer, with the
    # ticket's reference.
    AUTO_REPLY = "auto_reply"
    # A mail to the customer that the mail server refused: its owner is told.
    DELIVERY_FAILED = "delivery_failed"

    @property
    def to_customer(self) -> bool:
        return self in (NoticeKind.RESOLVED, NoticeKind.REPLY, NoticeKind.AUTO_REPLY)


class TicketNotice(BaseModel):
    kind: NoticeKind
    ticket_id: str
    reference: str
    version: int  # of the change: with the kind, it names the mail (retries send it once)
    # A username for ASSIGNED and ESCALATED (the activity looks up the address);
    # the customer's address for RESOLVED.
    to: str
    customer_email: str
    customer_name: str | None = None
    customer_comment: str | None = None
    segment: str
    actor: str
    # The change's comment, for the team's mails; empty in a customer's notice.
    comment: str = ""
    # A resolved ticket closes by itself then: the customer's links expire with it.
    closes_at: datetime | None = None
    # The customer's language and the workspace whose mail identity writes to
    # them; None in notices recorded before them (the workspace's default
    # language; the settings' sender).
    customer_locale: str | None = None
    workspace_id: str | None = None
    # Names the mail in the outbox the same way on every attempt of the
    # workflow task that decided it (the update's id, else the version), so a
    # retried or re-run projection queues it once. None: sent by an activity
    # (histories from before the outbox).
    key: str | None = None
    # A reply's text (the REPLIED log line's), and the failed mail's reason
    # for DELIVERY_FAILED.
    body: str = ""
    # The automatic reply's: the subject of the customer's form or mail, and
    # where the ticket came from (form, email).
    subject: str | None = None
    source: str | None = None


class TicketProjection(BaseModel):
    """What the read model receives after each change: the new state and the log
    lines appended since the previous projection."""

    state: TicketState
    events: list[TicketEvent]
    # The revision of the ticket's policy: the projection compares it with
    # the workspace's and sends a ticket whose copy is older the current one.
    policy_revision: int | None = None
    # When the workflow task that decided this state ran (`workflow.now()`).
    # Several attempts of one task may project (a speculative task that the
    # server discarded, a task whose worker died): only the last one is in
    # the history, and it is always the latest, so the read model lets a later
    # decision replace an earlier one, whatever their versions. None: a
    # projection of a worker from before this field (ordered by version alone).
    decided_at: datetime | None = None
    # The mails this projection's changes send: written to the outbox in the
    # same transaction, sent by the mailer (activities/mailer.py).
    notices: list[TicketNotice] = Field(default_factory=list)


PROJECT_TICKET_ACTIVITY = "project_ticket"
