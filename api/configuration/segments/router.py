"""/api/segments: list, create, read, change, delete, and replace the managers.
Every change is rolled out to the workspace's running tickets before the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.segments.schemas import ManagerIn, ManagerList, SegmentCreate, SegmentOut, SegmentPatch
from api.configuration.service import in_store, roll_out
from api.deps import ServicesDep
from store import configuration as store

router = APIRouter(prefix="/api/segments", tags=["segments"])

ManagersBody = Annotated[
    list[ManagerIn] | ManagerList,
    Body(
        description="the new managers: a list, or an object with `managers`",
        openapi_examples={
            "list": {
                "summary": "a list",
                "value": [{"username": "ann"}, {"username": "cy", "available": False}],
            },
            "object": {
                "summary": "an object",
                "value": {"managers": [{"username": "ann", "max_open_tickets": 10}]},
            },
        },
    ),
]


@router.get("", summary="List segments", responses=NOT_FOUND)
async def list_segments(
    services: ServicesDep,
    workspace: Annotated[str | None, Query(description="workspace id; default: all")] = None,
) -> list[SegmentOut]:
    return [SegmentOut.of(s) for s in await in_store(store.list_segments, services.engine, workspace)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a segment with its managers and calendar",
    responses={**CONFLICT, **UNPROCESSABLE},
)
async def create_segment(body: SegmentCreate, services: ServicesDep) -> SegmentOut:
    segment = await in_store(
        store.create_segment,
        services.engine,
        body.workspace_id,
        body.name,
        [m.entry() for m in body.managers],
        body.calendar,
        body.assignment_mode,
    )
    await roll_out(services, segment.workspace_id)
    return SegmentOut.of(segment)


@router.get("/{segment_id}", summary="One segment", responses=NOT_FOUND)
async def get_segment(segment_id: str, services: ServicesDep) -> SegmentOut:
    return SegmentOut.of(await in_store(store.get_segment, services.engine, segment_id))


@router.patch(
    "/{segment_id}",
    summary="Rename a segment, or change its managers, calendar or assignment mode",
    responses={**NOT_FOUND, **CONFLICT, **UNPROCESSABLE},
)
async def update_segment(segment_id: str, body: SegmentPatch, services: ServicesDep) -> SegmentOut:
    changes = body.changes()
    if "managers" in changes:
        changes["managers"] = [m.entry() for m in changes["managers"]]
    segment = await in_store(store.update_segment, services.engine, segment_id, changes)
    await roll_out(services, segment.workspace_id)
    return SegmentOut.of(segment)


@router.put(
    "/{segment_id}/managers",
    summary="Replace a segment's managers",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def replace_managers(segment_id: str, body: ManagersBody, services: ServicesDep) -> SegmentOut:
    managers = body.managers if isinstance(body, ManagerList) else body
    segment = await in_store(
        store.replace_segment_managers, services.engine, segment_id, [m.entry() for m in managers]
    )
    await roll_out(services, segment.workspace_id)
    return SegmentOut.of(segment)


@router.delete(
    "/{segment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a segment that no rule or survey names and no open ticket is in",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_segment(segment_id: str, services: ServicesDep) -> Response:
    workspace_id = await in_store(store.delete_segment, services.engine, segment_id)
    await roll_out(services, workspace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
