"""A survey's action-alert rules: which responses need a human, and what to do.

Rules are evaluated in `position` order; each has criteria (all must hold) and
actions for when they are met and when they are not (domain/alerts.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.configuration.fields import NOT_FOUND, UNPROCESSABLE, storable_document
from api.configuration.service import in_store
from api.dashboard.i18n import N_
from api.deps import ServicesDep
from api.errors import TranslatedError
from domain.alerts import Action, AlertRule, Criterion, Text
from store import intake as store

def ids_that_may_exist(request: Request) -> None:
    # No survey or rule id has a NUL, and PostgreSQL would refuse one in the
    # lookup: unknown, like any other id that is not there.
    if any("\x00" in value for value in request.path_params.values()):
        raise TranslatedError(status.HTTP_404_NOT_FOUND, N_("survey or alert rule not found"))


# Every route names a survey (and most a rule) that may not exist.
router = APIRouter(
    prefix="/api/surveys/{survey_id}/alert-rules", tags=["alert rules"], responses=NOT_FOUND,
    dependencies=[Depends(ids_that_may_exist)],
)

EXAMPLE = {
    "name": "Angry VIPs",
    "criteria": [{"on": "score", "min": 0, "max": 4}, {"on": "answer", "key": "plan", "op": "in",
                                                        "values": ["enterprise", "pro"]}],
    "when_met": [{"type": "create_ticket", "priority": "critical"},
                 {"type": "notify", "recipients": ["cx-lead@example.com"], "message": "VIP detractor"}],
    "when_not_met": [{"type": "nothing"}],
}


class StoredRule(BaseModel):
    """A rule is kept as one JSON document (JSONB on PostgreSQL)."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return storable_document(data)


class AlertRuleBody(StoredRule):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Text
    enabled: bool = True
    position: Annotated[int, Field(ge=0)] | None = Field(default=None, description="default: after the others")
    criteria: list[Criterion] = Field(default_factory=list, description="all must hold; none: always met")
    when_met: list[Action] = Field(default_factory=list)
    when_not_met: list[Action] = Field(default_factory=list)


class AlertRulePatch(StoredRule):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"enabled": False}]})

    name: Text | None = None
    enabled: bool | None = None
    position: Annotated[int, Field(ge=0)] | None = None
    criteria: list[Criterion] | None = None
    when_met: list[Action] | None = None
    when_not_met: list[Action] | None = None


class AlertRuleOut(BaseModel):
    id: str
    survey_id: str
    position: int
    name: str
    enabled: bool
    criteria: list[Criterion]
    when_met: list[Action]
    when_not_met: list[Action]

    @classmethod
    def of(cls, doc: store.AlertRuleDoc) -> AlertRuleOut:
        return cls(survey_id=doc.survey_id, position=doc.position, **doc.rule)


def _rule(fields: dict) -> AlertRule:
    """The domain's checks across fields (e.g. `nothing` alone) as a 422."""
    try:
        return AlertRule.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_context=False)) from None


@router.get("", summary="A survey's alert rules, in evaluation order")
async def list_rules(survey_id: str, services: ServicesDep) -> list[AlertRuleOut]:
    return [AlertRuleOut.of(doc) for doc in await in_store(store.list_alert_rules, services.engine, survey_id)]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add an alert rule", responses=UNPROCESSABLE)
async def create_rule(survey_id: str, body: AlertRuleBody, services: ServicesDep) -> AlertRuleOut:
    fields = body.model_dump(exclude={"position"})
    rule = _rule({**fields, "id": str(uuid.uuid4())})
    return AlertRuleOut.of(await in_store(store.save_alert_rule, services.engine, survey_id, rule, body.position))


@router.get("/{rule_id}", summary="One alert rule")
async def get_rule(survey_id: str, rule_id: str, services: ServicesDep) -> AlertRuleOut:
    return AlertRuleOut.of(await in_store(store.get_alert_rule, services.engine, survey_id, rule_id))


@router.patch("/{rule_id}", summary="Change, switch on or off, or move an alert rule", responses=UNPROCESSABLE)
async def update_rule(survey_id: str, rule_id: str, body: AlertRulePatch, services: ServicesDep) -> AlertRuleOut:
    current = await in_store(store.get_alert_rule, services.engine, survey_id, rule_id)
    changes = body.model_dump(exclude_unset=True, exclude={"position"})
    rule = _rule({**current.rule, **{k: v for k, v in changes.items() if v is not None}})
    return AlertRuleOut.of(await in_store(store.save_alert_rule, services.engine, survey_id, rule, body.position))


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an alert rule")
async def delete_rule(survey_id: str, rule_id: str, services: ServicesDep) -> Response:
    await in_store(store.delete_alert_rule, services.engine, survey_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
