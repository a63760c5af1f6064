"""/api/reply-templates: list, create, read, replace, change, delete. Admins
write; everyone signed in reads (agents pick a template in the editor).
Included by api/app.py on its own: the configuration router admits admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from api.auth.caller import admin, current_principal
from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.reply_templates.schemas import (
    ReplyTemplateCreate,
    ReplyTemplateOut,
    ReplyTemplatePatch,
    ReplyTemplateReplace,
)
from api.configuration.service import in_store
from api.deps import ServicesDep
from api.errors import error_responses
from store.configuration import reply_templates as store

# Every route wants a signed-in caller; the writes, an admin (403 for others).
router = APIRouter(
    prefix="/api/reply-templates", tags=["reply templates"], dependencies=[Depends(current_principal)],
    responses=error_responses(401),
)
ADMIN_ONLY = [Depends(admin)]
NOT_ADMIN = error_responses(403)


@router.get("", summary="List reply templates", responses=NOT_FOUND)
async def list_templates(
    services: ServicesDep,
    workspace: Annotated[str | None, Query(description="workspace id; default: all")] = None,
) -> list[ReplyTemplateOut]:
    templates = await in_store(store.list_reply_templates, services.engine, workspace)
    return [ReplyTemplateOut.of(t) for t in templates]


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a reply template",
    dependencies=ADMIN_ONLY, responses={**NOT_ADMIN, **UNPROCESSABLE, **CONFLICT},
)
async def create_template(body: ReplyTemplateCreate, services: ServicesDep) -> ReplyTemplateOut:
    return ReplyTemplateOut.of(
        await in_store(store.create_reply_template, services.engine, body.workspace_id, body.fields())
    )


@router.get("/{template_id}", summary="One reply template", responses=NOT_FOUND)
async def get_template(template_id: str, services: ServicesDep) -> ReplyTemplateOut:
    return ReplyTemplateOut.of(await in_store(store.get_reply_template, services.engine, template_id))


@router.put(
    "/{template_id}", summary="Replace a reply template's name and bodies",
    dependencies=ADMIN_ONLY,
    responses={**NOT_ADMIN, **NOT_FOUND, **UNPROCESSABLE, **CONFLICT},
)
async def replace_template(template_id: str, body: ReplyTemplateReplace, services: ServicesDep) -> ReplyTemplateOut:
    return ReplyTemplateOut.of(
        await in_store(store.update_reply_template, services.engine, template_id, body.changes())
    )


@router.patch(
    "/{template_id}", summary="Change a reply template (bodies: all of them at once)",
    dependencies=ADMIN_ONLY,
    responses={**NOT_ADMIN, **NOT_FOUND, **UNPROCESSABLE, **CONFLICT},
)
async def update_template(template_id: str, body: ReplyTemplatePatch, services: ServicesDep) -> ReplyTemplateOut:
    return ReplyTemplateOut.of(
        await in_store(store.update_reply_template, services.engine, template_id, body.changes())
    )


@router.delete(
    "/{template_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a reply template",
    dependencies=ADMIN_ONLY, responses={**NOT_ADMIN, **NOT_FOUND},
)
async def delete_template(template_id: str, services: ServicesDep) -> Response:
    await in_store(store.delete_reply_template, services.engine, template_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
