"""Request and response bodies of the workspace endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.configuration.fields import Name, PatchBody, WorkspaceSlug


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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "ACME EMEA"}]})
    IMMUTABLE = ("id",)
    NOT_NULLABLE = ("name",)

    name: Name | None = None


class WorkspaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
