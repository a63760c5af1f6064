"""Request and response bodies of the reply-template endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# _Refusing: a validator with words and the JSON Schema pattern that states it.
from api.configuration.fields import Name, PatchBody, Ref, _Refusing
from domain.reply_templates import BODY_PATTERN, PLACEHOLDERS, Language, body_errors
from store.models import ReplyTemplateRow

MAX_BODY = 20_000


def _fillable(body: str) -> str:
    errors = body_errors(body)
    if errors:
        raise ValueError("; ".join(errors))
    return body


ReplyBody = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_BODY), _Refusing(_fillable, BODY_PATTERN)
]
Bodies = Annotated[
    dict[Language, ReplyBody],
    Field(
        min_length=1,
        description=(
            "one body per language (en, de, es, ja, hu; at least one), plain text with the placeholders "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            + "; a literal brace is written twice ({{ or }})"
        ),
    ),
]
EXAMPLE = {
    "workspace_id": "default",
    "name": "Sorry for the delay",
    "bodies": {
        "en": "Dear {customer_name},\n\nsorry for the delay with {reference}.\n\n{agent_name}, {workspace_name}",
        "de": "Hallo {customer_name},\n\nentschuldigen Sie die Verzögerung bei {reference}.\n\n{agent_name}, {workspace_name}",
    },
}


class ReplyTemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    workspace_id: Ref
    name: Name = Field(description="unique in the workspace")
    bodies: Bodies

    def fields(self) -> dict:
        return {"name": self.name, "bodies": dict(self.bodies)}


class ReplyTemplateReplace(BaseModel):
    """PUT: the whole template but its workspace."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="unique in the workspace")
    bodies: Bodies

    def changes(self) -> dict:
        return {"name": self.name, "bodies": dict(self.bodies)}


class ReplyTemplatePatch(PatchBody):
    """PATCH: the fields sent; `bodies` replaces every body at once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Sorry, again"}]})
    IMMUTABLE: ClassVar[tuple[str, ...]] = ("workspace_id",)
    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ("name", "bodies")

    name: Name | None = None
    bodies: Bodies | None = None

    def changes(self) -> dict:
        return {field: dict(value) if field == "bodies" else value for field, value in super().changes().items()}


class ReplyTemplateOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    bodies: dict[Language, str]
    updated_at: datetime

    @classmethod
    def of(cls, row: ReplyTemplateRow) -> ReplyTemplateOut:
        return cls(id=row.id, workspace_id=row.workspace_id, name=row.name, bodies=row.bodies, updated_at=row.updated_at)
