"""/customer/tickets/{token}: the links of the mail a customer gets when their
ticket is resolved (activities/notices.py). The link itself is the
credential: signed, for one ticket and one action, expiring when the ticket
would close by itself.

Opening the link (GET) only shows a page with a button: mail scanners and
link previews open links, and must not close anyone's ticket. The button
(POST) acts: "solved" closes the ticket, "not solved" reopens it as open.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse

from api.dashboard.i18n import N_
from api.dashboard.pages import Reader, render
from api.deps import Services, ServicesDep
from api.errors import TranslatedError
from api.limits import rate_limit_per_client
from api.tickets.service import send_command
from domain.commands import Command, CustomerConfirm
from domain.notices import CustomerAction, CustomerLink, InvalidLink, verify_customer_link
from domain.ticket import TicketState, TicketStatus

router = APIRouter(include_in_schema=False)

link_rate_limit = rate_limit_per_client(
    "customer_link_rate_limit", "customer-link", N_("too many requests; try again later")
)

DEFAULT_MESSAGES = {
    CustomerAction.CONFIRM: "The customer confirmed that it is solved.",
    CustomerAction.NOT_SOLVED: "The customer says it is not solved.",
}


async def _open(services: Services, token: str) -> tuple[CustomerLink, TicketState]:
    """The link's action and ticket. A link that is not valid (for whatever
    reason: the customer reads the page's own words for it) is a 404."""
    try:
        link = verify_customer_link(services.settings.secret_key, token, datetime.now(UTC))
    except InvalidLink:
        raise _invalid_link() from None
    ticket = await asyncio.to_thread(services.tickets.get, link.ticket_id)
    if ticket is None:
        raise _invalid_link()
    return link, ticket


def _invalid_link() -> TranslatedError:
    return TranslatedError(404, N_("this link is not valid"))


def _page(request: Request, status_code: int = 200, **context) -> HTMLResponse:
    reader = Reader.of(request)
    ticket: TicketState | None = context.get("ticket")
    if ticket is not None and ticket.customer_locale:
        # The language the ticket's mails are written in, whatever the browser says.
        reader = replace(reader, locale=ticket.customer_locale)
    return render(request, reader, "customer.html", status_code=status_code, view="customer", **context)


async def _over_limit(request: Request, services: Services) -> HTMLResponse | None:
    """The customer's page saying to wait (429, with Retry-After) once the
    client's address spent its rate; None while it has not. A customer opens
    these links in a browser: they read a page, not the API's JSON."""
    try:
        await link_rate_limit(request, services)
    except TranslatedError as refused:
        busy = _page(request, refused.status_code, outcome="busy")
        busy.headers.update(refused.headers or {})
        return busy
    return None


@router.get("/customer/tickets/{token}", response_class=HTMLResponse)
async def customer_link_page(token: str, request: Request, services: ServicesDep) -> HTMLResponse:
    if busy := await _over_limit(request, services):
        return busy
    try:
        link, ticket = await _open(services, token)
    except HTTPException:
        return _page(request, 404, outcome="invalid")
    if ticket.status is not TicketStatus.RESOLVED:
        return _page(request, 409, outcome="already", ticket=ticket)
    return _page(request, link=link, ticket=ticket, token=token, outcome=None)


@router.post("/customer/tickets/{token}", response_class=HTMLResponse)
async def customer_link_act(
    token: str,
    request: Request,
    services: ServicesDep,
    message: Annotated[str, Form(max_length=5000)] = "",
    recovery_score: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    if busy := await _over_limit(request, services):
        return busy
    try:
        link, ticket = await _open(services, token)
    except HTTPException:
        return _page(request, 404, outcome="invalid")
    comment = message.strip() or DEFAULT_MESSAGES[link.action]
    actor = ticket.customer_email
    if link.action is CustomerAction.CONFIRM:
        score = recovery_score.strip()
        if score and not (score.isdigit() and 0 <= int(score) <= 10):
            return _page(request, 422, link=link, ticket=ticket, token=token, outcome=None, score_refused=True)
        update, command = "confirm", CustomerConfirm(
            comment=comment, actor=actor, recovery_score=int(score) if score else None
        )
    else:
        update, command = "reopen", Command(comment=comment, actor=actor)
    try:
        # One outcome per link and ticket version: a double click is one change.
        await send_command(services, ticket, update, command, update_id=f"customer-{link.action}-{ticket.version}")
    except HTTPException as refused:
        if refused.status_code in (404, 409, 422):
            return _page(request, 409, outcome="already", ticket=ticket)
        raise
    return _page(request, outcome=link.action.value, ticket=ticket)
