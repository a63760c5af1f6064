"""The ticket endpoints' dealings with Temporal: starting a ticket workflow and
sending it commands, with the workflow's refusals turned into HTTP answers.

A refusal, and every error here that a manager meets, is a `TranslatedError`:
answered in the reader's language (api/errors.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from collections.abc import Iterable
from typing import Any

from fastapi import HTTPException, status
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.dashboard.i18n import N_
from api.deps import Services
from api.errors import TranslatedError, retry_later
from api.tickets.schemas import TicketCreate
from domain.access import Principal
from domain.commands import NewTicket, Refused, decide_create
from domain.segments import match_segment
from domain.ticket import Source, TicketState, TicketStatus, workflow_id_for
from store.configuration import load_policy
from store.configuration.common import NotFound
from store.configuration.reply_templates import get_reply_template
from store.conversation import Message, thread
from store.intake import default_locale
from workflows.ticket import TicketWorkflow, TicketWorkflowInput

# How long a client waits for a ticket's answer before it is told to retry.
UPDATE_TIMEOUT_SECONDS = 30

HTTP_STATUS_OF_REFUSAL = {
    Refused.TRANSITION_NOT_ALLOWED: status.HTTP_409_CONFLICT,
    Refused.INVALID_COMMAND: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


async def create_ticket(
    services: Services, body: TicketCreate, principal: Principal, ticket_id: str | None = None
) -> TicketState:
    """Start a manual ticket's workflow and answer once the read model holds it.
    `ticket_id` names the ticket (a new one without it): a request retried
    with the same id meets the ticket its first attempt started (the
    workflow's id is the ticket's) instead of opening another."""
    policy = await asyncio.to_thread(load_policy, services.engine, body.workspace_id)
    # "retail" names the segment "Retail": people type names as they say them.
    segment = match_segment(body.segment, policy.segment_managers)
    if segment is None:
        raise TranslatedError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            N_("unknown segment '{segment}' in workspace '{workspace}'"),
            {"segment": body.segment, "workspace": body.workspace_id},
        )
    if not principal.may_open_ticket_in(body.workspace_id, segment):
        raise _not_your_segment(principal, body.workspace_id, segment, policy.segment_managers)
    owner = body.owner
    if principal.owns_the_tickets_they_open:
        if owner not in (None, principal.username):
            raise TranslatedError(
                status.HTTP_403_FORBIDDEN,
                N_("As an agent, you own the tickets you open: leave the owner out, or name yourself."),
            )
        owner = principal.username
    new = NewTicket(
        id=ticket_id or str(uuid.uuid4()),
        source=Source.MANUAL,
        workspace_id=body.workspace_id,
        customer_email=str(body.customer_email),
        customer_name=body.customer_name,
        segment=segment,
        reported_at=body.reported_at,
        customer_locale=body.customer_locale
        or await asyncio.to_thread(default_locale, services.engine, body.workspace_id),
        customer_comment=body.customer_comment,
        priority=body.priority,
        status=body.status,
        owner=owner,
        comment=body.comment,
        actor=principal.username,
    )
    try:
        # The workflow decides the same way; refusing here keeps a bad request
        # from starting a workflow that would only fail.
        decide_create(new, policy, datetime.now(UTC))
    except Refused as refused:
        raise _refusal(refused.code, *refused.details) from None
    start = WithStartWorkflowOperation(
        TicketWorkflow.run,
        TicketWorkflowInput(new=new, policy=policy),
        id=workflow_id_for(new.id),
        task_queue=services.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await _answer(
        services.temporal.execute_update_with_start_workflow(TicketWorkflow.sync, start_workflow_operation=start)
    )


def _not_your_segment(
    principal: Principal, workspace_id: str, segment: str, segments: Iterable[str]
) -> TranslatedError:
    """403 for a ticket opened outside the caller's segments, naming the ones
    they may open tickets in (domain/access.py decides which)."""
    yours = principal.segments_to_open_tickets_in(workspace_id, sorted(segments))
    if not yours:
        return TranslatedError(
            status.HTTP_403_FORBIDDEN,
            N_("You work in no segment of workspace '{workspace}', so you cannot open tickets there."),
            {"workspace": workspace_id},
        )
    return TranslatedError(
        status.HTTP_403_FORBIDDEN,
        N_("You can open tickets only in the segments you work in ({segments}), not in '{segment}'."),
        {"segment": segment, "segments": ", ".join(yours)},
    )


# An update whose speculative workflow task lost a race with a signal (a
# configuration roll-out, say) is refused by the server before anything was
# applied: sending it again is safe.
RETRIED_UPDATE_FAILURES = (RPCStatusCode.FAILED_PRECONDITION, RPCStatusCode.ABORTED)
# More updates of one ticket in flight than Temporal admits at once (10 per
# workflow by default; the SDK has already retried with backoff): the client
# is told to retry shortly, like any other moment of contention.
BUSY_TICKET_FAILURES = (*RETRIED_UPDATE_FAILURES, RPCStatusCode.RESOURCE_EXHAUSTED)
UPDATE_ATTEMPTS = 3


async def send_command(
    services: Services, ticket: TicketState, update: str, command: Any, update_id: str | None = None
) -> TicketState:
    """Send one of the ticket's updates; answered after the read model holds it.
    Sent twice with the same `update_id`, it is applied once (Temporal
    answers the second with the first's outcome)."""
    handle = services.temporal.get_workflow_handle(workflow_id_for(ticket.id))
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        try:
            return await _answer(handle.execute_update(update, command, id=update_id, result_type=TicketState))
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                if ticket.status is TicketStatus.CLOSED:
                    closed = N_("the ticket is closed; nothing can change")
                    raise _refusal(Refused.TRANSITION_NOT_ALLOWED, closed) from None
                raise ticket_not_found() from None
            if error.status in RETRIED_UPDATE_FAILURES and attempt < UPDATE_ATTEMPTS:
                await asyncio.sleep(0.05 * attempt)
                continue
            if error.status in BUSY_TICKET_FAILURES:
                raise retry_later(N_("the ticket is busy; retry the request")) from None
            raise
    raise AssertionError("unreachable")


async def _answer(pending) -> TicketState:
    try:
        return await asyncio.wait_for(pending, timeout=UPDATE_TIMEOUT_SECONDS)
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError) and cause.type in HTTP_STATUS_OF_REFUSAL:
            match cause.details:
                case (str() as message, dict() as params):
                    raise _refusal(cause.type, message, params) from None
            # From a worker older than refusals' messages: its English reason.
            raise HTTPException(HTTP_STATUS_OF_REFUSAL[cause.type], cause.message) from None
        # The payload did not even decode into the command (a wrong type).
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(cause or failed)) from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise retry_later(N_("the ticket did not answer in time; retry the request")) from None


def _refusal(code: str, message: str, params: dict[str, str] | None = None) -> TranslatedError:
    """The answer to a command the ticket refuses (`Refused`'s code, message
    and parameters): 409 for a status it cannot take, else 422."""
    return TranslatedError(HTTP_STATUS_OF_REFUSAL[code], message, params)


def ticket_not_found() -> TranslatedError:
    """A ticket unknown, or outside the caller's reach (the router says the same)."""
    return TranslatedError(status.HTTP_404_NOT_FOUND, N_("ticket not found"))


# --- the conversation ---------------------------------------------------------------


def check_reply_template(services: Services, ticket: TicketState, template_id: str) -> None:
    """422 unless the template is one of the ticket's workspace's."""
    try:
        template = get_reply_template(services.engine, template_id)
    except NotFound:
        template = None
    if template is None or template.workspace_id != ticket.workspace_id:
        raise TranslatedError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, N_("unknown reply template '{id}'"), {"id": template_id}
        )


def conversation_of(services: Services, ticket: TicketState) -> list[Message]:
    return thread(services.engine, ticket, services.tickets.events(ticket.id))


def reply_message(services: Services, state: TicketState) -> Message:
    """The reply that made `state` (the update's answer): the newest reply
    line of its version, with its mail's delivery."""
    messages = conversation_of(services, state)
    return next(m for m in reversed(messages) if m.kind == "reply" and m.seq <= state.version)
