"""Request and response bodies of the survey endpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.configuration.fields import Name, PatchBody, Ref, storable_document
from store.models import SurveyAdapter

FIELD_MAPPING_DESCRIPTION = "the platform's question ids -> cxloop's fields (score, customer_email, ...)"
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
                    "field_mapping": {"q_nps": "score", "q_email": "customer_email"},
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
