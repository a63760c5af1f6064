"""/api/workspaces: list, create, read, change (its name, its customers'
default language and time zone, its mail identity: sender, Reply-To,
signature), delete (only when empty)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.service import in_store, roll_out
from api.configuration.workspaces.schemas import WorkspaceCreate, WorkspaceOut, WorkspacePatch
from api.deps import ServicesDep
from store import configuration as store

router = APIRouter(prefix="/api/workspaces", tags=["workspaces"])


@router.get("", summary="List workspaces")
async def list_workspaces(services: ServicesDep) -> list[WorkspaceOut]:
    return [WorkspaceOut.model_validate(w) for w in await in_store(store.list_workspaces, services.engine)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a workspace",
    responses={**CONFLICT, **UNPROCESSABLE},
)
async def create_workspace(body: WorkspaceCreate, services: ServicesDep) -> WorkspaceOut:
    workspace = await in_store(store.create_workspace, services.engine, body.name, body.id)
    return WorkspaceOut.model_validate(workspace)


@router.get("/{workspace_id}", summary="One workspace", responses=NOT_FOUND)
async def get_workspace(workspace_id: str, services: ServicesDep) -> WorkspaceOut:
    return WorkspaceOut.model_validate(await in_store(store.get_workspace, services.engine, workspace_id))


@router.patch("/{workspace_id}", summary="Change a workspace: its name, customers' language and time zone, mail identity", responses={**NOT_FOUND, **UNPROCESSABLE})
async def update_workspace(workspace_id: str, body: WorkspacePatch, services: ServicesDep) -> WorkspaceOut:
    changes = body.changes()
    workspace = await in_store(store.update_workspace, services.engine, workspace_id, changes)
    if "resolution_reason_required" in changes:
        # Tickets hold it in their policy.
        await roll_out(services, workspace_id)
    return WorkspaceOut.model_validate(workspace)


@router.delete(
    "/{workspace_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a workspace that has no segments, surveys or rules left",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_workspace(workspace_id: str, services: ServicesDep) -> Response:
    await in_store(store.delete_workspace, services.engine, workspace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
