"""/api/surveys: list, create, read (with the webhook secret), change, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.service import in_store, roll_out
from api.configuration.surveys.schemas import SurveyCreate, SurveyOut, SurveyPatch, SurveyWithSecret
from api.deps import ServicesDep
from store import configuration as store

router = APIRouter(prefix="/api/surveys", tags=["surveys"])


@router.get("", summary="List surveys (without their webhook secrets)", responses=NOT_FOUND)
async def list_surveys(
    services: ServicesDep,
    workspace: Annotated[str | None, Query(description="workspace id; default: all")] = None,
) -> list[SurveyOut]:
    return [
        SurveyOut.model_validate(s) for s in await in_store(store.list_surveys, services.engine, workspace)
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a survey and its webhook secret",
    responses=UNPROCESSABLE,
)
async def create_survey(body: SurveyCreate, services: ServicesDep) -> SurveyWithSecret:
    survey = await in_store(
        store.create_survey,
        services.engine,
        body.workspace_id,
        body.name,
        body.adapter,
        body.field_mapping,
        body.default_segment,
    )
    return SurveyWithSecret.model_validate(survey)


@router.get("/{survey_id}", summary="One survey, with its webhook secret", responses=NOT_FOUND)
async def get_survey(survey_id: str, services: ServicesDep) -> SurveyWithSecret:
    return SurveyWithSecret.model_validate(await in_store(store.get_survey, services.engine, survey_id))


@router.patch(
    "/{survey_id}",
    summary="Change a survey's name, adapter, field mapping or default segment",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def update_survey(survey_id: str, body: SurveyPatch, services: ServicesDep) -> SurveyOut:
    return SurveyOut.model_validate(
        await in_store(store.update_survey, services.engine, survey_id, body.changes())
    )


@router.delete(
    "/{survey_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a survey that has received no responses",
    description="Its escalation rules and alert rules (those for this survey alone) go with it, "
    "and the workspace's tickets are told before the answer.",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_survey(survey_id: str, services: ServicesDep) -> Response:
    workspace_id, rules_deleted = await in_store(store.delete_survey, services.engine, survey_id)
    if rules_deleted:
        await roll_out(services, workspace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
