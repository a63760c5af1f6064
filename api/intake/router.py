"""Intake endpoints: survey webhooks, the public web form, inbound mail, and
the responses they keep."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated

from babel import negotiate_locale
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import ValidationError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.auth.caller import PrincipalDep
from api.dashboard.i18n import N_, parse_accept_language
from api.deps import Services, ServicesDep
from api.errors import BODY_ERRORS, TranslatedError, error_responses
from api.limits import rate_limit_per_client
from api.intake.adapters import ADAPTERS, AS_WORDED, IntakeRefused, verify_cxloop
from api.intake.schemas import FormSubmission, InboundMail, IntakeAccepted, ResponseOut
from api.tickets.service import send_command
from domain.access import Principal
from domain.commands import CustomerReply
from domain.responses import UnusableResponse, map_response
from domain.ticket import CUSTOMER_LOCALES, Source, TicketState, customer_locale, reference_for
from store import outbox
from store.intake import StoredResponse, get_response, get_survey
from workflows.intake import (
    MessageIntake,
    MessageIntakeWorkflow,
    SurveyIntake,
    SurveyResponseWorkflow,
    response_key,
    survey_intake_workflow_id,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["intake"])

form_rate_limit = rate_limit_per_client(
    "form_rate_limit", "intake-form", N_("too many submissions; try again later")
)
# Signed, but still a door anyone can knock on: bounded per client address.
webhook_rate_limit = rate_limit_per_client(
    "webhook_rate_limit", "intake-webhook", N_("too many deliveries; retry later")
)

SIGNED_BODY = {
    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True},
}


async def _start_once(services: Services, workflow, argument, workflow_id: str) -> bool:
    """Start an intake workflow unless this delivery already started it.
    Returns True for a duplicate. Either way Temporal holds it on return."""
    try:
        await services.temporal.start_workflow(
            workflow,
            argument,
            id=workflow_id,
            task_queue=services.settings.task_queue,
            # Refused while running (a concurrent twin's) and once closed (an
            # earlier delivery's): either way the response is already held.
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return True
    return False


@router.post(
    "/api/webhooks/surveys/{survey_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="A survey platform delivers a response (signed)",
    openapi_extra=SIGNED_BODY,
    responses={401: {"description": "missing, wrong or stale signature"}, 404: {"description": "unknown survey"},
               413: {"description": "body over 1 MiB"}, 422: {"description": "not JSON, or a mapped field missing"},
               **error_responses(429, 503)},
)
async def survey_webhook(
    survey_id: str, request: Request, services: ServicesDep, _: Annotated[None, Depends(webhook_rate_limit)]
) -> IntakeAccepted:
    body = await request.body()  # raw: the signature covers these exact bytes
    survey = None
    if survey_id.isprintable() and len(survey_id) <= 200:
        survey = await asyncio.to_thread(get_survey, services.engine, survey_id)
    if survey is None:
        raise TranslatedError(status.HTTP_404_NOT_FOUND, N_("unknown survey"))
    adapter = ADAPTERS[survey.adapter]
    adapter.verify(survey.webhook_secret, request.headers, body, datetime.now(UTC))
    response = adapter.parse(survey.id, body)
    try:
        mapped = map_response(response, survey.field_mapping)
    except UnusableResponse as unusable:
        raise IntakeRefused(422, unusable.message, **unusable.params) from None
    duplicate = await _start_once(
        services,
        SurveyResponseWorkflow.run,
        SurveyIntake(response=response, mapped=mapped, received_at=datetime.now(UTC)),
        survey_intake_workflow_id(survey.id, response.response_id),
    )
    return IntakeAccepted(duplicate=duplicate, response_id=response_key(survey.id, response.response_id))


async def reachable_response(services: Services, principal: Principal, response_id: str) -> StoredResponse | None:
    """The response, if the user may see it: admins any; others those behind
    a ticket they reach (a response that made no ticket is admins' only)."""
    if not response_id.isprintable() or len(response_id) > 200:
        return None
    stored = await asyncio.to_thread(get_response, services.engine, response_id)
    if stored is None or principal.is_admin:
        return stored
    ticket = await asyncio.to_thread(services.tickets.get, stored.ticket_id) if stored.ticket_id else None
    return stored if ticket is not None and principal.reaches(ticket) else None


# Our mails' subjects carry "[CX-XXXXXXXX]"; a reply keeps it.
REFERENCE_IN_SUBJECT = re.compile(r"\bCX-[A-Z2-7]{8}\b")


def _threaded_ticket(services: Services, mail: InboundMail) -> TicketState | None:
    """The ticket a mail answers: the one whose mail its In-Reply-To or
    References name (every mail of ours carries a Message-ID the outbox
    keeps), else the one whose `[CX-…]` reference its subject quotes (the
    sender's own, when several share it)."""
    for message_id in mail.thread_ids():
        ticket_id = outbox.ticket_of_message(services.engine, message_id)
        if ticket_id is not None and (ticket := services.tickets.get(ticket_id)) is not None:
            return ticket
    found = REFERENCE_IN_SUBJECT.search(mail.subject or "")
    if found is None:
        return None
    candidates = services.tickets.by_reference(found.group())
    sender = str(mail.sender).lower()
    return next((t for t in candidates if t.customer_email.lower() == sender), next(iter(candidates), None))


async def _customer_reply(services: Services, mail: InboundMail) -> IntakeAccepted | str | None:
    """A mail of a ticket's customer answering it goes to that ticket (an
    answered or resolved one is open again), not to a new ticket. Answers
    None when the mail answers no ticket, or someone else's (a new ticket of
    theirs, logged), and the closed ticket's reference when it answers one
    that can take no more (a new ticket that names it)."""
    ticket = await asyncio.to_thread(_threaded_ticket, services, mail)
    if ticket is None:
        return None
    if ticket.customer_email.lower() != str(mail.sender).lower():
        log.info("mail %s from %s answers ticket %s, which is not theirs: a new ticket", mail.message_id,
                 mail.sender, ticket.reference, extra={"ticket_id": ticket.id})
        return None
    if ticket.finished:
        return ticket.reference
    reply = CustomerReply(comment=mail.text, actor=str(mail.sender))
    try:
        # The same mail delivered twice is one reply.
        await send_command(services, ticket, "customer_reply", reply, update_id=f"mail-{mail.message_id}")
    except HTTPException as refused:
        if refused.status_code in (404, 409):
            return ticket.reference  # closed meanwhile: the mail starts a new ticket
        raise
    return IntakeAccepted(duplicate=False, ticket_id=ticket.id, reference=ticket.reference)


@router.get(
    "/api/responses/{response_id}", summary="A survey response, every answer",
    responses=error_responses(401, 404, 422),
)
async def read_response(response_id: str, services: ServicesDep, principal: PrincipalDep) -> ResponseOut:
    stored = await reachable_response(services, principal, response_id)
    if stored is None:
        raise TranslatedError(status.HTTP_404_NOT_FOUND, N_("response not found"))
    return ResponseOut(
        id=stored.id, survey_id=stored.survey_id, platform_response_id=stored.response.response_id,
        received_at=stored.received_at, submitted_at=stored.response.submitted_at, score=stored.score,
        customer_email=stored.customer_email, ticket_id=stored.ticket_id,
        answers=[a.model_dump() for a in stored.response.answers], hidden=stored.response.hidden,
    )


@router.post(
    "/api/intake/form",
    status_code=status.HTTP_202_ACCEPTED,
    summary="The public web form: a ticket, and an automatic reply with its reference",
    responses={**error_responses(*BODY_ERRORS, 503), 429: {"description": "too many submissions from this address"}},
)
async def web_form(
    body: FormSubmission, request: Request, services: ServicesDep,
    _: Annotated[None, Depends(form_rate_limit)],
) -> IntakeAccepted:
    ticket_id = str(uuid.uuid4())
    intake = MessageIntake(
        ticket_id=ticket_id, source=Source.FORM, workspace_id=body.workspace_id,
        customer_email=str(body.customer_email), customer_name=body.customer_name, segment=body.segment,
        subject=body.subject, message=body.message, received_at=datetime.now(UTC),
        # The customer's browser says what they read; none of ours: the workspace's default.
        customer_locale=negotiate_locale(
            parse_accept_language(request.headers.get("accept-language")), CUSTOMER_LOCALES, sep="-"
        ),
    )
    await _start_once(services, MessageIntakeWorkflow.run, intake, f"message-intake-{ticket_id}")
    return IntakeAccepted(duplicate=False, ticket_id=ticket_id, reference=reference_for(ticket_id))


@router.post(
    "/api/intake/email",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Inbound mail (signed like a survey webhook): a ticket, and an automatic reply",
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": InboundMail.model_json_schema(by_alias=True)}}, "required": True}},
    responses={**error_responses(413, 422, 429, 503), 401: {"description": "missing, wrong or stale signature"}},
)
async def inbound_mail(
    request: Request, services: ServicesDep, _: Annotated[None, Depends(webhook_rate_limit)]
) -> IntakeAccepted:
    body = await request.body()
    verify_cxloop(services.settings.inbound_email_secret, request.headers, body, datetime.now(UTC))
    try:
        mail = InboundMail.model_validate_json(body)
    except ValidationError as error:
        raise IntakeRefused(422, AS_WORDED, problem="; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())) from None
    replied = await _customer_reply(services, mail)
    if isinstance(replied, IntakeAccepted):
        return replied
    # The same mail delivered twice is one ticket.
    ticket_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxloop:email:{mail.message_id}"))
    intake = MessageIntake(
        ticket_id=ticket_id, source=Source.EMAIL, workspace_id=mail.workspace_id,
        customer_email=str(mail.sender), customer_name=mail.from_name, segment=mail.segment,
        subject=mail.subject, message=mail.text, received_at=datetime.now(UTC),
        # The mail's language as the inbound service reports it; none of ours: the workspace's default.
        customer_locale=customer_locale(mail.language or request.headers.get("content-language")),
        follows=replied,
    )
    duplicate = await _start_once(services, MessageIntakeWorkflow.run, intake, f"message-intake-{ticket_id}")
    return IntakeAccepted(duplicate=duplicate, ticket_id=ticket_id, reference=reference_for(ticket_id))
