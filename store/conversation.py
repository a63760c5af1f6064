"""A ticket's conversation with its customer, from the read model.

The thread is what the customer and the team said to each other, oldest
first: the customer's original feedback (the survey comment, the form's or
the mail's text), each reply of the team's (a `replied` log line, its mail's
delivery from the outbox) and each mail of the customer's (a
`customer_replied` line). Internal comments and the change log are not in it:
they stay in the ticket's log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Engine, and_, func, select

from domain.ticket import EventKind, NoticeKind, TicketEvent, TicketState
from store import outbox
from store.db import reading
from store.models import TicketEventRow

ticket_events = TicketEventRow.__table__

IN, OUT = "in", "out"
Delivery = Literal["queued", "sent", "failed", "received"]


class Message(BaseModel):
    """One message of the conversation with the customer (the API answers it as it is)."""

    seq: int = Field(description="the ticket's log line it is; 0 for the original feedback")
    direction: Literal["in", "out"]
    kind: Literal["feedback", "reply", "customer_mail"]
    author: str
    at: datetime
    locale: str | None
    body: str
    delivery: Delivery
    error: str | None = Field(default=None, description="why the mail failed, or was not sent yet")
    message_id: str | None = Field(default=None, description="the outgoing mail's Message-ID")


def thread(engine: Engine, ticket: TicketState, log: list[TicketEvent]) -> list[Message]:
    """The ticket's conversation; `log` is the ticket's log as the read model holds it."""
    replies = {
        delivery.seq: delivery
        for delivery in outbox.deliveries(engine, ticket.id) if delivery.kind == NoticeKind.REPLY.value
    }
    messages = []
    if ticket.customer_comment:
        messages.append(Message(
            seq=0, direction=IN, kind="feedback", author=ticket.customer_email,
            at=ticket.submitted_at or ticket.created_at, locale=ticket.customer_locale, body=ticket.customer_comment,
            delivery="received",
        ))
    for event in log:
        if event.kind is EventKind.CUSTOMER_REPLIED:
            messages.append(Message(
                seq=event.seq, direction=IN, kind="customer_mail", author=event.actor, at=event.at,
                locale=ticket.customer_locale, body=event.comment, delivery="received",
            ))
        elif event.kind is EventKind.REPLIED:
            mail = replies.get(event.seq)
            messages.append(Message(
                seq=event.seq, direction=OUT, kind="reply", author=event.actor, at=event.at,
                locale=ticket.customer_locale, body=event.comment,
                # A reply is queued in its projection's transaction: none without its mail.
                delivery=mail.status if mail else "queued",  # type: ignore[arg-type]
                error=mail.error if mail and mail.status != outbox.SENT else None,
                message_id=mail.message_id if mail else None,
            ))
    return messages


class LastWord(BaseModel):
    """Who spoke last in a ticket's conversation: the customer (`in`) or the team (`out`), and when."""

    direction: Literal["in", "out"]
    at: datetime


def who_spoke_last(engine: Engine, ticket_ids: list[str]) -> dict[str, LastWord]:
    """For each ticket of a page (list, kanban), its conversation's newest
    message, if any after the original feedback."""
    if not ticket_ids:
        return {}
    kinds = {EventKind.REPLIED: OUT, EventKind.CUSTOMER_REPLIED: IN}
    newest = (
        select(ticket_events.c.ticket_id, func.max(ticket_events.c.seq).label("seq"))
        .where(ticket_events.c.ticket_id.in_(ticket_ids), ticket_events.c.kind.in_(list(kinds)))
        .group_by(ticket_events.c.ticket_id)
        .subquery()
    )
    query = select(ticket_events.c.ticket_id, ticket_events.c.kind, ticket_events.c.at).join(
        newest, and_(ticket_events.c.ticket_id == newest.c.ticket_id, ticket_events.c.seq == newest.c.seq)
    )
    with reading(engine) as connection:
        return {
            row.ticket_id: LastWord(direction=kinds[row.kind], at=row.at)  # type: ignore[arg-type]
            for row in connection.execute(query)
        }
