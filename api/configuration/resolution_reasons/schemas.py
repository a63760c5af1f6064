"""Request and response bodies of the resolution-reason endpoints."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.configuration.fields import Label, PatchBody, Ref
from domain.reply_templates import Language
from store.models import ResolutionReasonRow

# What tickets keep and the API takes: lowercase letters, digits, '-' and '_'.
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Labels = Annotated[
    dict[Language, Annotated[str, StringConstraints(min_length=1), Label]],
    Field(min_length=1, description="the reason's name per language (en, de, es, ja, hu; at least one)"),
]
EXAMPLE = {"workspace_id": "default", "code": "late-delivery",
           "labels": {"en": "Late delivery", "de": "Verspätete Lieferung"}}


class ResolutionReasonCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    workspace_id: Ref
    code: Code = Field(description="what tickets keep: unique in the workspace, never changed")
    labels: Labels
    position: int | None = Field(default=None, ge=0, description="its place in the list; default: last")
    retired: bool = Field(default=False, description="kept for the tickets that name it, offered no more")

    def fields(self) -> dict:
        fields = {"code": self.code, "labels": dict(self.labels), "retired": self.retired}
        return fields if self.position is None else {**fields, "position": self.position}


class ResolutionReasonPatch(PatchBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"retired": True}]})
    IMMUTABLE: ClassVar[tuple[str, ...]] = ("workspace_id", "code")
    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("labels", "position", "retired")

    labels: Labels | None = None
    position: Annotated[int, Field(ge=0)] | None = None
    retired: bool | None = None

    def changes(self) -> dict:
        return {field: dict(value) if field == "labels" else value for field, value in super().changes().items()}


class ResolutionReasonOut(BaseModel):
    id: str
    workspace_id: str
    code: str
    labels: dict[Language, str]
    position: int
    retired: bool

    @classmethod
    def of(cls, row: ResolutionReasonRow) -> ResolutionReasonOut:
        return cls(id=row.id, workspace_id=row.workspace_id, code=row.code, labels=row.labels,
                   position=row.position, retired=row.retired)
