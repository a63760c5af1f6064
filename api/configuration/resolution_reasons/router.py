"""/api/resolution-reasons: list, create, read, change (retire instead of
delete: tickets keep the code). Admins write; everyone signed in reads (the
editor offers them when resolving). Every change is rolled out to the
workspace's running tickets, which check a resolving change against it.
Included by api/app.py on its own: the configuration router admits admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from api.auth.caller import admin, current_principal
from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.resolution_reasons.schemas import (
    ResolutionReasonCreate,
    ResolutionReasonOut,
    ResolutionReasonPatch,
)
from api.configuration.service import in_store, roll_out
from api.deps import ServicesDep
from api.errors import error_responses
from store import configuration as store

router = APIRouter(
    prefix="/api/resolution-reasons", tags=["resolution reasons"], dependencies=[Depends(current_principal)],
    responses=error_responses(401),
)
ADMIN_ONLY = [Depends(admin)]
NOT_ADMIN = error_responses(403)


@router.get("", summary="List resolution reasons, in their order (retired ones too)", responses=NOT_FOUND)
async def list_reasons(
    services: ServicesDep,
    workspace: Annotated[str | None, Query(description="workspace id; default: all")] = None,
) -> list[ResolutionReasonOut]:
    reasons = await in_store(store.list_resolution_reasons, services.engine, workspace)
    return [ResolutionReasonOut.of(r) for r in reasons]


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a resolution reason",
    dependencies=ADMIN_ONLY, responses={**NOT_ADMIN, **UNPROCESSABLE, **CONFLICT},
)
async def create_reason(body: ResolutionReasonCreate, services: ServicesDep) -> ResolutionReasonOut:
    reason = await in_store(store.create_resolution_reason, services.engine, body.workspace_id, body.fields())
    await roll_out(services, reason.workspace_id)
    return ResolutionReasonOut.of(reason)


@router.get("/{reason_id}", summary="One resolution reason", responses=NOT_FOUND)
async def get_reason(reason_id: str, services: ServicesDep) -> ResolutionReasonOut:
    return ResolutionReasonOut.of(await in_store(store.get_resolution_reason, services.engine, reason_id))


@router.patch(
    "/{reason_id}", summary="Change a resolution reason's labels, place or retirement (not its code)",
    dependencies=ADMIN_ONLY, responses={**NOT_ADMIN, **NOT_FOUND, **UNPROCESSABLE},
)
async def update_reason(reason_id: str, body: ResolutionReasonPatch, services: ServicesDep) -> ResolutionReasonOut:
    reason = await in_store(store.update_resolution_reason, services.engine, reason_id, body.changes())
    await roll_out(services, reason.workspace_id)
    return ResolutionReasonOut.of(reason)
