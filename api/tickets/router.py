"""The ticket endpoints of DESIGN.md's HTTP API."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from api.auth.caller import PrincipalDep
from api.configuration.fields import NO_CONTROL_CHARACTERS, DateOrDateTime
from api.dashboard import i18n
from api.deps import ServicesDep
from api.dashboard.i18n import N_
from api.errors import BODY_ERRORS, TranslatedError, error_responses
from api.idempotency import IdempotencyDep
from api.tickets import service
from api.tickets.export import export_filename, write_export
from api.tickets.schemas import (
    CommentCreate,
    EventOut,
    MessageOut,
    ReplyCreate,
    ReplyOut,
    StatusCounts,
    TicketCreate,
    TicketList,
    TicketOut,
    TicketPatch,
)
from domain.commands import Command, ReplyCommand, TicketChange
from domain.ticket import NpsCategory, Priority, TicketState, TicketStatus
from store.tickets import InvalidCursor, TicketFilters, TicketSort

# Every route wants a signed-in caller, and checks its query or path.
router = APIRouter(prefix="/api/tickets", tags=["tickets"], responses=error_responses(401, 422))
# What a change to one ticket may answer: its body refused, the caller not
# allowed, the ticket unknown, the change not allowed from its status, or no
# answer from the ticket's workflow in time.
CHANGE_ERRORS = error_responses(*BODY_ERRORS, 403, 404, 409, 503)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def query_is_utf8(request: Request) -> None:
    """Starlette reads bytes that are not UTF-8 in the query string as U+FFFD;
    refuse them rather than search for that."""
    try:
        parse_qsl(request.url.query, errors="strict")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the query string is not UTF-8") from None


def ticket_filters(
    principal: PrincipalDep,
    _utf8: Annotated[None, Depends(query_is_utf8)],
    # Text filters have no control characters: nothing stored has them, and a NUL
    # would reach the database (PostgreSQL refuses it; SQLite's search index too).
    workspace: Annotated[str, Query(description="workspace id", pattern=NO_CONTROL_CHARACTERS)] = "default",
    reported_from: Annotated[DateOrDateTime | None, Query(alias="from", description="reported at or after")] = None,
    reported_to: Annotated[DateOrDateTime | None, Query(alias="to", description="reported before")] = None,
    segment: Annotated[str | None, Query(description="current segment", pattern=NO_CONTROL_CHARACTERS)] = None,
    owner: Annotated[str | None, Query(pattern=NO_CONTROL_CHARACTERS)] = None,
    status: Annotated[list[TicketStatus] | None, Query(description="any of these (repeat the parameter)")] = None,
    priority: Annotated[list[Priority] | None, Query(description="any of these (repeat the parameter)")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_CONTROL_CHARACTERS, description="text in email, name, comment, reference"),
    ] = None,
    score_min: Annotated[int | None, Query(ge=0, le=10, description="a score at least this (0-10)")] = None,
    score_max: Annotated[int | None, Query(ge=0, le=10, description="a score at most this (0-10)")] = None,
    nps: Annotated[
        list[NpsCategory] | None,
        Query(description="a score in any of these: detractor (0-6), passive (7-8), promoter (9-10); repeat"),
    ] = None,
) -> TicketFilters:
    """The list filters; without from/to, the last 30 days."""
    if score_min is not None and score_max is not None and score_min > score_max:
        raise TranslatedError(422, N_("score_min ({low}) is above score_max ({high})"),
                              {"low": str(score_min), "high": str(score_max)})
    if reported_from is not None and reported_to is not None and _utc(reported_from) > _utc(reported_to):
        # Each bound is valid, as the schema says; their order is refused in words.
        raise TranslatedError(
            422, N_("the period starts ({start}) after it ends ({end})"),
            {"start": reported_from.isoformat(), "end": reported_to.isoformat()},
        )
    try:
        filters = TicketFilters(
            workspace_id=workspace, reported_from=reported_from, reported_to=reported_to, segment=segment,
            owner=owner, status=status, priority=priority, q=q, score_min=score_min, score_max=score_max, nps=nps,
        )
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False, include_context=False)) from None
    # Narrowed to what the caller may see: the lists never show a ticket
    # outside the caller's reach, nor count it.
    return filters.with_defaults(datetime.now(UTC)).model_copy(update={"reach": principal.reach(workspace)})


def _utc(moment: datetime) -> datetime:
    # A date alone is its midnight, UTC (as TicketFilters reads it).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


FiltersDep = Annotated[TicketFilters, Depends(ticket_filters)]
SortParam = Annotated[TicketSort, Query(description="reported_at, -reported_at, priority or -priority")]


async def existing_ticket(ticket_id: str, services: ServicesDep, principal: PrincipalDep) -> TicketState:
    """The ticket, if it exists and the caller may see it: a ticket outside
    the caller's reach is as unknown as one that does not exist."""
    if not ticket_id.isprintable() or len(ticket_id) > 200:
        # No ticket has such an id; PostgreSQL would refuse a NUL outright.
        raise service.ticket_not_found()
    ticket = await asyncio.to_thread(services.tickets.get, ticket_id)
    if ticket is None or not principal.reaches(ticket):
        raise service.ticket_not_found()
    return ticket


TicketDep = Annotated[TicketState, Depends(existing_ticket)]


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Open a ticket by hand",
    # 409: a request with the same Idempotency-Key is still being answered.
    responses=error_responses(*BODY_ERRORS, 403, 409, 503),
)
async def create_ticket(
    body: TicketCreate, services: ServicesDep, principal: PrincipalDep, idempotency: IdempotencyDep
) -> TicketOut:
    async def create(ticket_id: str | None) -> TicketOut:
        # A retry of one key opens the ticket its first attempt opened.
        return TicketOut.of(await service.create_ticket(services, body, principal, ticket_id))

    return await idempotency.once(status.HTTP_201_CREATED, create)


@router.get("", summary="List tickets")
async def list_tickets(
    services: ServicesDep,
    filters: FiltersDep,
    sort: SortParam = "-reported_at",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TicketList:
    try:
        page = await asyncio.to_thread(services.tickets.list, filters, sort, cursor, limit)
    except InvalidCursor as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid cursor: {error}") from None
    return TicketList(items=[TicketOut.of(t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/counts", summary="Count tickets by status")
async def count_tickets(services: ServicesDep, filters: FiltersDep) -> StatusCounts:
    return StatusCounts.model_validate(await asyncio.to_thread(services.tickets.counts, filters))


@router.get(
    "/export.xlsx",
    summary="Download the listed tickets as an Excel sheet",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}, "description": "the tickets, one row each"}},
)
async def export_tickets(
    request: Request, services: ServicesDep, filters: FiltersDep, sort: SortParam = "-reported_at"
) -> FileResponse:
    # In the reader's language, negotiated as the API's errors are.
    locale = i18n.locale_of(request)
    path = await asyncio.to_thread(write_export, services.tickets, filters, sort, locale)
    return FileResponse(
        path, media_type=XLSX, filename=export_filename(datetime.now(UTC)),
        headers={"Content-Language": locale, "Vary": "Accept-Language, Cookie"},
        background=BackgroundTask(os.unlink, path),
    )


@router.get("/{ticket_id}", summary="One ticket", responses=error_responses(404))
async def get_ticket(ticket: TicketDep) -> TicketOut:
    return TicketOut.of(ticket)


@router.patch(
    "/{ticket_id}", summary="Change status, priority, segment or owner, with a comment", responses=CHANGE_ERRORS
)
async def change_ticket(
    ticket: TicketDep, body: TicketPatch, services: ServicesDep, principal: PrincipalDep
) -> TicketOut:
    fields = body.model_dump(exclude_unset=True)
    if "actor" in fields:
        # The log names whoever signed the request; a body cannot claim to be someone else.
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "actor is the signed-in user and cannot be set")
    unassign = "owner" in fields and fields["owner"] is None
    change = TicketChange(**{k: v for k, v in fields.items() if v is not None}, unassign=unassign, actor=principal.username)
    return TicketOut.of(await service.send_command(services, ticket, "change", change))


@router.post(
    "/{ticket_id}/comments", status_code=status.HTTP_201_CREATED, summary="Comment without a change",
    responses=CHANGE_ERRORS,
)
async def comment_ticket(
    ticket: TicketDep, body: CommentCreate, services: ServicesDep, principal: PrincipalDep,
    idempotency: IdempotencyDep,
) -> TicketOut:
    comment = Command(comment=body.comment, actor=principal.username)

    async def send(update_id: str | None) -> TicketOut:
        # A retry of one key sends the same update, which Temporal applies once.
        return TicketOut.of(await service.send_command(services, ticket, "comment", comment, update_id))

    return await idempotency.once(status.HTTP_201_CREATED, send)


@router.post(
    "/{ticket_id}/replies", status_code=status.HTTP_201_CREATED, summary="Reply to the customer by mail",
    responses=CHANGE_ERRORS,
)
async def reply_to_customer(
    ticket: TicketDep, body: ReplyCreate, services: ServicesDep, principal: PrincipalDep,
    idempotency: IdempotencyDep,
) -> ReplyOut:
    """The reply is mailed to the customer, in their language, from the
    workspace's sender (the outbox's mailer sends it: `delivery` says how it
    went) and logged as a public message; `comment` stays internal. The
    ticket becomes `status` (answered by default). 409 for a closed, spam,
    deleted or purged ticket."""
    if body.template_id is not None:
        await asyncio.to_thread(service.check_reply_template, services, ticket, body.template_id)
    command = ReplyCommand(
        body=body.body, status=body.status, template_id=body.template_id, comment=body.comment or "",
        resolution_reason=body.resolution_reason, actor=principal.username,
    )

    async def send(update_id: str | None) -> ReplyOut:
        state = await service.send_command(services, ticket, "reply", command, update_id)
        message = await asyncio.to_thread(service.reply_message, services, state)
        return ReplyOut(message=message, ticket=TicketOut.of(state))

    return await idempotency.once(status.HTTP_201_CREATED, send)


@router.get(
    "/{ticket_id}/messages", summary="The conversation with the customer, oldest first",
    responses=error_responses(404),
)
async def ticket_messages(ticket: TicketDep, services: ServicesDep) -> list[MessageOut]:
    """The customer's original feedback, every reply (with its mail's
    delivery: queued, sent or failed with the reason) and every mail of the
    customer's. Internal comments and the change log are in /events."""
    return await asyncio.to_thread(service.conversation_of, services, ticket)


@router.get("/{ticket_id}/events", summary="The ticket's log, oldest first", responses=error_responses(404))
async def ticket_events(ticket: TicketDep, services: ServicesDep) -> list[EventOut]:
    events = await asyncio.to_thread(services.tickets.events, ticket.id)
    return [EventOut.model_validate(e.model_dump()) for e in events]
