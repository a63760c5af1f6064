"""/api/escalation-rules: list, create, read, change, delete. Every change is
rolled out to the workspace's running tickets before the answer: a rule
applies to tickets that already exist, too."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.configuration.escalation_rules.schemas import (
    EscalationRuleCreate,
    EscalationRuleOut,
    EscalationRulePatch,
)
from api.configuration.fields import NOT_FOUND, UNPROCESSABLE
from api.configuration.service import in_store, roll_out
from api.deps import ServicesDep
from store import configuration as store

router = APIRouter(prefix="/api/escalation-rules", tags=["escalation rules"])


@router.get("", summary="List escalation rules", responses=NOT_FOUND)
async def list_rules(
    services: ServicesDep,
    workspace: Annotated[str | None, Query(description="workspace id; default: all")] = None,
) -> list[EscalationRuleOut]:
    rules = await in_store(store.list_escalation_rules, services.engine, workspace)
    return [EscalationRuleOut.of(r) for r in rules]


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create an escalation rule", responses=UNPROCESSABLE
)
async def create_rule(body: EscalationRuleCreate, services: ServicesDep) -> EscalationRuleOut:
    rule = await in_store(store.create_escalation_rule, services.engine, body.workspace_id, body.fields())
    await roll_out(services, rule.workspace_id)
    return EscalationRuleOut.of(rule)


@router.get("/{rule_id}", summary="One escalation rule", responses=NOT_FOUND)
async def get_rule(rule_id: str, services: ServicesDep) -> EscalationRuleOut:
    return EscalationRuleOut.of(await in_store(store.get_escalation_rule, services.engine, rule_id))


@router.patch(
    "/{rule_id}",
    summary="Change an escalation rule (enabled: false pauses it)",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def update_rule(rule_id: str, body: EscalationRulePatch, services: ServicesDep) -> EscalationRuleOut:
    rule = await in_store(store.update_escalation_rule, services.engine, rule_id, body.changes())
    await roll_out(services, rule.workspace_id)
    return EscalationRuleOut.of(rule)


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an escalation rule",
    responses=NOT_FOUND,
)
async def delete_rule(rule_id: str, services: ServicesDep) -> Response:
    workspace_id = await in_store(store.delete_escalation_rule, services.engine, rule_id)
    await roll_out(services, workspace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
