"""Request and response bodies of the survey endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.configuration.fields import Name, PatchBody, Ref, storable_document
from store.models import SurveyAdapter

FIELD_MAPPING_DESCRIPTION = (
    "cxloop's field (score, comment, customer_email, customer_name, segment) -> the question key that "
    "answers it (Typeform: the question's ref), or hidden:<name> for a hidden field; `required` lists the "
    "fields a response must carry (default: customer_email). Any other key is refused. Left out when "
    'creating: {"score": "nps", "comment": "comment", "customer_email": "email", "customer_name": "name", '
    '"segment": "hidden:segment"}'
)
DEFAULT_SEGMENT_DESCRIPTION = "a segment of the workspace, for responses that name none"


FieldMapping = Annotated[dict[str, Any], AfterValidator(storable_document)]


class SurveyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workspace_id": "acme-eu",
                    "name": "Post-delivery NPS",
                    "adapter": "typeform",
                    "field_mapping": {
                        "score": "q_nps",
                        "comment": "q_why",
                        "customer_email": "hidden:email",
                        "segment": "hidden:segment",
                    },
                    "default_segment": "retail",
                }
            ]
        },
    )

    workspace_id: Ref
    name: Name
    adapter: SurveyAdapter = Field(default=SurveyAdapter.CXLOOP, description="the webhook's payload format")
    field_mapping: FieldMapping | None = Field(default=None, description=FIELD_MAPPING_DESCRIPTION)
    default_segment: Name | None = Field(default=None, description=DEFAULT_SEGMENT_DESCRIPTION)


class SurveyPatch(PatchBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Post-delivery NPS (v2)"}]}
    )
    IMMUTABLE = ("id", "workspace_id", "webhook_secret")
    NOT_NULLABLE = ("name", "adapter")

    name: Name | None = None
    adapter: SurveyAdapter | None = None
    field_mapping: FieldMapping | None = Field(default=None, description=FIELD_MAPPING_DESCRIPTION)
    default_segment: Name | None = Field(default=None, description=DEFAULT_SEGMENT_DESCRIPTION)


class SurveyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    workspace_id: str
    name: str
    adapter: SurveyAdapter
    field_mapping: dict[str, Any] | None
    default_segment: str | None


class SurveyWithSecret(SurveyOut):
    webhook_secret: str = Field(
        description="signs the platform's deliveries: X-Cxloop-Signature is sha256=HMAC-SHA256 of "
        '"<X-Cxloop-Timestamp>.<raw body>" with this secret'
    )


class SurveyTest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"score": 3}]})

    score: int = Field(default=3, ge=0, le=10, description="the test response's score (3: a detractor)")


class SurveyTestResult(BaseModel):
    """What the survey's webhook answered to a signed test delivery, and what
    became of it."""

    status_code: int = Field(description="the webhook's answer: 202 accepted, 4xx refused")
    accepted: bool
    detail: str | None = Field(default=None, description="the webhook's refusal, in the reader's language")
    payload: dict[str, Any] = Field(description="the body that was delivered, signed, in the adapter's format")
    response_id: str | None = Field(default=None, description="GET /api/responses/{response_id}")
    ticket_id: str | None = Field(default=None, description="the ticket the response made, if the rules made one")
    reference: str | None = None
    reasons: list[str] = Field(default_factory=list, description="each alert rule's verdict")
