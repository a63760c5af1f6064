"""Request and response bodies of the ticket endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from api.configuration.fields import FreeText, Label, NonBlankFreeText, Ref
from domain.ticket import EscalatedBy, EventKind, Priority, Source, TicketState, TicketStatus
from store.conversation import Message

# domain.ticket.CUSTOMER_LOCALES, listed for the schema.
CustomerLocale = Literal["en", "de", "es", "ja", "hu"]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), NonBlankFreeText]


class TicketCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_email": "pat@example.com",
                    "customer_name": "Pat Doe",
                    "segment": "retail",
                    "priority": "high",
                    "comment": "Called about a late delivery",
                }
            ]
        },
    )

    workspace_id: Ref = "default"
    customer_email: EmailStr
    customer_name: Label | None = None
    segment: Ref
    priority: Priority = Priority.MEDIUM
    status: TicketStatus = TicketStatus.NEW
    owner: Ref | None = Field(default=None, description="a manager of the segment; default: its only manager")
    customer_comment: Annotated[str, StringConstraints(max_length=10_000), FreeText] | None = None
    reported_at: datetime | None = Field(
        default=None, description="default: now, when the ticket is made; the list's date filter is on it"
    )
    customer_locale: CustomerLocale | None = Field(
        default=None, description="the language the customer is written to in; default: the workspace's"
    )
    comment: Comment = Field(description="why the ticket is opened; the first line of its log")


class TicketPatch(BaseModel):
    """Any of status, priority, segment and owner, with the comment that
    explains the change. `owner: null` unassigns. Other fields of the ticket
    cannot be changed and are refused by name."""

    model_config = ConfigDict(
        extra="allow",
        # Allowed through, to be refused by name in words; documented as refused.
        json_schema_extra={"examples": [{"status": "resolved", "comment": "Refund issued"}], "additionalProperties": False},
    )

    status: TicketStatus | None = None
    priority: Priority | None = None
    segment: Ref | None = None
    owner: Ref | None = None
    snooze_until: datetime | None = Field(default=None, description="with status postponed: when it wakes up")
    resolution_reason: Ref | None = Field(
        default=None,
        description="with status resolved: why (the code of one of the workspace's resolution reasons; "
        "422 when the workspace requires one and it is missing, or it is unknown or retired)",
    )
    comment: Comment


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"comment": "Left a voicemail"}]})

    comment: Comment


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "body": "Dear Pat,\n\nwe have sent a new lid today.\n\nKind regards,\nAnn", "status": "answered",
        "comment": "Replacement shipped from the Leeds store",
    }]})

    body: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), NonBlankFreeText
    ] = Field(description="the reply as the customer reads it, plain text")
    status: Literal["answered", "open", "resolved"] | None = Field(
        default="answered", description="what the ticket becomes; null keeps its status"
    )
    template_id: Ref | None = Field(default=None, description="the reply template it was written from")
    resolution_reason: Ref | None = Field(
        default=None, description="with status resolved: why (a code of the workspace's resolution reasons)"
    )
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000), FreeText] | None = Field(
        default=None, description="the team's internal note; never mailed"
    )


# The conversation's messages are answered as the read model builds them.
MessageOut = Message


class TicketOut(BaseModel):
    """A ticket as clients see it."""

    id: str
    reference: str
    source: Source
    workspace_id: str
    survey_id: str | None
    response_id: str | None
    customer_email: str
    customer_name: str | None
    origin_segment: str
    reported_at: datetime = Field(description="when the ticket was made: the list's date filter is on it")
    submitted_at: datetime | None = Field(
        default=None, description="when the customer submitted the survey response behind it"
    )
    customer_locale: str | None = Field(
        default=None,
        description="the language the customer's mails and pages are in (their survey's, form's or mail's, "
        "else the workspace's default); set when the ticket is made",
    )
    customer_comment: str | None
    score: int | None
    created_at: datetime
    segment: str
    owner: str | None
    priority: Priority
    status: TicketStatus
    version: int
    updated_at: datetime
    escalated_by: EscalatedBy | None
    snooze_until: datetime | None
    resolved_at: datetime | None
    resolution_reason: str | None = Field(default=None, description="why it was resolved (a resolution reason's code)")
    recovery_score: int | None = Field(
        default=None, description="the customer's second score (0-10), given when they confirmed it solved"
    )
    recovery_scored_at: datetime | None = None
    recovered: bool | None = Field(
        default=None, description="a detractor (score 0-6) whose second score is 7 or more; null: not both scores"
    )
    escalation_due_at: datetime | None = Field(description="when an escalation rule will escalate it")
    wake_at: datetime | None = Field(description="when a postponed ticket wakes up")
    auto_close_at: datetime | None = Field(description="when a resolved ticket closes by itself")

    @classmethod
    def of(cls, state: TicketState) -> TicketOut:
        return cls.model_validate({**state.model_dump(), "recovered": state.recovered})


class TicketList(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class EventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    kind: EventKind
    field: str | None
    old: str | None
    new: str | None
    comment: str


class StatusCounts(BaseModel):
    new: int
    open: int
    answered: int
    escalated: int
    postponed: int
    resolved: int
    closed: int
    spam: int
    deleted: int
    total: int


class ReplyOut(BaseModel):
    message: MessageOut
    ticket: TicketOut
