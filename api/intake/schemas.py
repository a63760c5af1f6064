"""Bodies of the intake endpoints."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from api.configuration.fields import FreeText, Label, NonBlankFreeText, Ref

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NonBlankFreeText]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), NonBlankFreeText]


class IntakeAccepted(BaseModel):
    """Temporal holds it: the ticket will exist even if a worker is down now."""

    accepted: bool = True
    duplicate: bool = Field(description="this delivery was already accepted before; nothing new was started")
    response_id: str | None = Field(default=None, description="GET /api/responses/{response_id}")
    ticket_id: str | None = None
    reference: str | None = Field(default=None, description="the reference the customer quotes")


class FormSubmission(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "customer_email": "pat@example.com", "customer_name": "Pat", "subject": "Late delivery",
            "message": "My order 1234 is two weeks late.",
        }]},
    )

    workspace_id: Ref = "default"
    customer_email: EmailStr
    customer_name: Label | None = None
    segment: ShortText | None = None
    subject: ShortText | None = None
    message: LongText


class InboundMail(BaseModel):
    """What an inbound-mail service posts for each mail received (the common
    shape of such webhooks, signed like a survey webhook)."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={"examples": [{
            "message_id": "<CAF123@mail.example.com>", "from": "pat@example.com", "from_name": "Pat",
            "to": "support@example.com", "subject": "Broken mixer", "text": "It stopped working.",
        }]},
    )

    message_id: ShortText
    sender: EmailStr = Field(alias="from")
    from_name: Label | None = None
    to: str | None = None
    subject: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), FreeText] | None = None
    text: LongText
    workspace_id: Ref = "default"
    segment: ShortText | None = None
    in_reply_to: ShortText | None = Field(
        default=None, description="the mail's In-Reply-To header: the Message-ID of the mail it answers"
    )
    references: Annotated[str, StringConstraints(max_length=20_000), FreeText] | None = Field(
        default=None, description="the mail's References header: Message-IDs of the thread, oldest first"
    )
    language: ShortText | None = Field(
        default=None,
        description="the mail's language (its Content-Language, e.g. \"ja\" or \"de-DE\"); without it, the "
        "request's Content-Language header; one cxloop does not write in: the workspace's default",
    )


    def thread_ids(self) -> list[str]:
        """The Message-IDs this mail answers, the most direct first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += reversed(MESSAGE_ID.findall(self.references or ""))
        return list(dict.fromkeys(ids))


# One Message-ID of a References header: <...>.
MESSAGE_ID = re.compile(r"<[^<>\s]+>")


class ResponseOut(BaseModel):
    id: str
    survey_id: str
    platform_response_id: str
    received_at: datetime
    submitted_at: datetime
    score: int | None
    customer_email: str | None
    ticket_id: str | None
    answers: list[dict[str, Any]]
    hidden: dict[str, str]
