"""/api/surveys: list, create, read (with the webhook secret), change, a new
webhook secret, a signed test response, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.service import in_store, roll_out
from api.configuration.surveys.schemas import (
    SurveyCreate,
    SurveyOut,
    SurveyPatch,
    SurveyTest,
    SurveyTestResult,
    SurveyWithSecret,
)
from api.configuration.surveys.sample_response import deliver_test_response
from api.dashboard import i18n
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


@router.post(
    "/{survey_id}/webhook-secret",
    summary="Replace a survey's webhook secret",
    description="Deliveries signed with the old secret are refused from now on: give the platform the new one.",
    responses=NOT_FOUND,
)
async def rotate_webhook_secret(survey_id: str, services: ServicesDep) -> SurveyWithSecret:
    return SurveyWithSecret.model_validate(
        await in_store(store.rotate_webhook_secret, services.engine, survey_id)
    )


@router.post(
    "/{survey_id}/test-response",
    summary="Deliver a signed test response to the survey's webhook",
    description="A typical response in the survey's payload format, its fields placed where the field "
    "mapping looks for them, signed with the survey's secret and delivered to "
    "POST /api/webhooks/surveys/{survey_id} through this API. The answer says what the webhook answered "
    "(its refusal, in the reader's language) and, once the worker has run the alert rules, their verdict "
    "and the ticket made.",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def send_test_response(
    survey_id: str, request: Request, services: ServicesDep, body: Annotated[SurveyTest | None, Body()] = None
) -> SurveyTestResult:
    survey = await in_store(store.get_survey, services.engine, survey_id)
    result = await deliver_test_response(
        request.app, services, survey, (body or SurveyTest()).score, i18n.locale_of(request)
    )
    return SurveyTestResult.model_validate(result)


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
