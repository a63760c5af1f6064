"""Request and response bodies of the workspace endpoints."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from api.configuration.fields import FreeText, Label, Name, PatchBody, TimeZone, WorkspaceSlug
from api.tickets.schemas import CustomerLocale

# The signature under every customer mail: plain text, a few lines.
Signature = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000), FreeText]


class MailIdentityFields(BaseModel):
    """How the workspace writes to its customers. A mail field left empty
    (null): the server's default sender (its mail_from setting)."""

    default_locale: CustomerLocale = Field(
        default="en", description="the language of customers whose survey, form or mail names none"
    )
    time_zone: TimeZone = Field(default="UTC", description="the time zone of the dates in customers' mails")
    mail_sender_name: Label | None = Field(default=None, description="the From name of customers' mails")
    mail_sender_address: EmailStr | None = Field(default=None, description="the From address of customers' mails")
    mail_reply_to: EmailStr | None = Field(
        default=None, description="Reply-To: the inbound address whose mail feeds POST /api/intake/email"
    )
    mail_signature: Signature | None = Field(
        default=None, description="plain text, appended to every mail to a customer"
    )


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id": "acme-eu", "name": "ACME Europe"}]}
    )

    id: WorkspaceSlug | None = Field(
        default=None,
        description="lowercase letters, digits, '-' and '_', at most 63; default: a generated id",
    )
    name: Name


class WorkspacePatch(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "ACME EMEA"},
        {"default_locale": "de", "mail_sender_name": "ACME Kundendienst", "mail_sender_address": "care@acme.example",
         "mail_reply_to": "inbound@acme.example", "mail_signature": "ACME GmbH\nKundendienst"},
    ]})
    IMMUTABLE = ("id",)
    NOT_NULLABLE = ("name", "default_locale", "time_zone", "resolution_reason_required")

    name: Name | None = None
    default_locale: CustomerLocale | None = None
    time_zone: TimeZone | None = None
    mail_sender_name: Label | None = None
    mail_sender_address: EmailStr | None = None
    mail_reply_to: EmailStr | None = None
    mail_signature: Signature | None = None
    resolution_reason_required: bool | None = None


class WorkspaceOut(MailIdentityFields):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    resolution_reason_required: bool = Field(
        default=False, description="resolving a ticket needs one of the workspace's resolution reasons"
    )
