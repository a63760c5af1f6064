"""Request and response bodies of the escalation rule endpoints.

A rule's wait is stored in whole seconds; a client gives it either as
`after_seconds` or as `after`, an ISO 8601 duration ("PT4H", "P2D")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic_core import core_schema

from api.configuration.fields import MAX_INT_COLUMN, Label, Name, PatchBody, Ref, Username, not_nullable
from store.models import EscalationRuleRow

ONE_SECOND = timedelta(seconds=1)
AFTER_DESCRIPTION = 'the wait as an ISO 8601 duration, e.g. "PT4H"; instead of after_seconds'
AFTER_SECONDS_DESCRIPTION = "the wait in seconds since the ticket's escalation clock started"


def _seconds_of(after: timedelta) -> int:
    if after <= timedelta(0):
        raise ValueError("after must be a positive duration")
    if after % ONE_SECOND:
        raise ValueError("after must be a whole number of seconds")
    seconds = after // ONE_SECOND
    if seconds > MAX_INT_COLUMN:
        raise ValueError(f"after must be at most {MAX_INT_COLUMN} seconds")
    return seconds


class _Wait(BaseModel):
    """`after_seconds` or `after`, not both; `after` is folded into after_seconds."""

    after_seconds: int | None = Field(
        default=None, gt=0, le=MAX_INT_COLUMN, description=AFTER_SECONDS_DESCRIPTION
    )
    after: timedelta | None = Field(default=None, description=AFTER_DESCRIPTION, exclude=True)

    @model_validator(mode="after")
    def _one_wait(self) -> Any:
        if "after" in self.model_fields_set and self.after is None:
            raise ValueError("after cannot be null")
        if self.after is not None:
            if "after_seconds" in self.model_fields_set:
                raise ValueError("give after_seconds or after, not both")
            self.after_seconds = _seconds_of(self.after)
            self.model_fields_set.add("after_seconds")
        self.model_fields_set.discard("after")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        # What _one_wait refuses, said in the schema: null for either, and both at once.
        documented = super().__get_pydantic_json_schema__(schema, handler)
        model_schema = handler.resolve_ref_schema(documented)
        not_nullable(model_schema, "after_seconds", "after")
        model_schema["not"] = {"required": ["after_seconds", "after"]}
        return documented


class EscalationRuleCreate(_Wait):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workspace_id": "acme-eu",
                    "name": "Detractors to the team lead",
                    "segment": "retail",
                    "after": "PT4H",
                    "business_hours": True,
                    "assignee": "ann",
                },
                {"workspace_id": "acme-eu", "after_seconds": 86400, "assignee": "director"},
            ],
            # One of the two is required (_has_wait).
            "anyOf": [{"required": ["after_seconds"]}, {"required": ["after"]}],
        },
    )

    workspace_id: Ref
    name: Label = ""
    survey_id: Ref | None = Field(default=None, description="a survey of the workspace; null: every survey")
    segment: Name | None = Field(default=None, description="a segment of the workspace; null: every segment")
    business_hours: bool = Field(
        default=False, description="count only the working hours of the segment's calendar"
    )
    assignee: Username = Field(description="the username the ticket escalates to")
    enabled: bool = True

    @model_validator(mode="after")
    def _has_wait(self) -> EscalationRuleCreate:
        if self.after_seconds is None:
            raise ValueError("after_seconds (or after) is required")
        return self

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"workspace_id"})


class EscalationRulePatch(_Wait, PatchBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": False}, {"after": "PT8H", "assignee": "bob"}]},
    )
    IMMUTABLE = ("id", "workspace_id")
    NOT_NULLABLE = ("name", "after_seconds", "business_hours", "assignee", "enabled")

    name: Label | None = None
    survey_id: Ref | None = Field(default=None, description="null: every survey")
    segment: Name | None = Field(default=None, description="null: every segment")
    business_hours: bool | None = None
    assignee: Username | None = None
    enabled: bool | None = None


class EscalationRuleOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    survey_id: str | None
    segment: str | None
    after_seconds: int
    after: timedelta = Field(description="after_seconds as an ISO 8601 duration")
    business_hours: bool
    assignee: str
    enabled: bool

    @classmethod
    def of(cls, row: EscalationRuleRow) -> EscalationRuleOut:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            name=row.name,
            survey_id=row.survey_id,
            segment=row.segment,
            after_seconds=row.after_seconds,
            after=timedelta(seconds=row.after_seconds),
            business_hours=row.business_hours,
            assignee=row.assignee,
            enabled=row.enabled,
        )
