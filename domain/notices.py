"""Who hears of a ticket's change (pure: the workflow decides, an activity sends).

- the new owner, of an assignment someone else made;
- the assignee, of an escalation (by hand or by rule) that gives them the ticket;
- the customer, when the ticket is resolved: a message with a link to confirm
  (closes the ticket) and one to say it is not solved (reopens it as open).
  The change's comment is the team's internal record: the customer's notice
  does not carry it (what a customer reads is a reply, written as one).

Customer links are signed with HMAC-SHA256 over the ticket, the action and an
expiry, so they cannot be forged or stretched; the caller passes the time in,
which keeps this module free of any clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel

from domain.ticket import EventKind, NoticeKind, TicketEvent, TicketNotice, TicketState, TicketStatus

SEND_TICKET_NOTICE_ACTIVITY = "send_ticket_notice"
__all__ = ["NoticeKind", "TicketNotice", "notices_for", "notices_of"]


def notices_of(before: TicketState, after: TicketState, events: list[TicketEvent]) -> list[TicketNotice]:
    """What one decision tells whom: each reply of the team's, mailed to the
    customer with its text, and what its change tells (notices_for, with the
    comment of its first line that carries one)."""
    notices = [
        TicketNotice(
            kind=NoticeKind.REPLY, ticket_id=after.id, reference=after.reference, version=event.seq,
            to=after.customer_email, customer_email=after.customer_email, customer_name=after.customer_name,
            segment=after.segment, actor=event.actor, body=event.comment,
            customer_locale=after.customer_locale, workspace_id=after.workspace_id,
        )
        for event in events if event.kind is EventKind.REPLIED
    ]
    said = next((event for event in events if event.comment and event.kind is not EventKind.REPLIED), None)
    if said is not None:
        notices += notices_for(before, after, said.actor, said.comment)
    return notices


def auto_reply_notice(state: TicketState, subject: str | None) -> TicketNotice:
    """The automatic reply to a new ticket's customer, with its reference."""
    return TicketNotice(
        kind=NoticeKind.AUTO_REPLY, ticket_id=state.id, reference=state.reference, version=state.version,
        to=state.customer_email, customer_email=state.customer_email, customer_name=state.customer_name,
        segment=state.segment, actor="system:intake", subject=subject, source=state.source.value,
        customer_locale=state.customer_locale, workspace_id=state.workspace_id,
        key=f"{NoticeKind.AUTO_REPLY.value}.{state.id}",
    )


def notices_for(before: TicketState, after: TicketState, actor: str, comment: str) -> list[TicketNotice]:
    """What one change tells whom."""
    common = dict(
        ticket_id=after.id, reference=after.reference, version=after.version,
        customer_email=after.customer_email, customer_name=after.customer_name,
        customer_comment=after.customer_comment, segment=after.segment, actor=actor, comment=comment,
        closes_at=after.auto_close_at, customer_locale=after.customer_locale, workspace_id=after.workspace_id,
    )
    notices = []
    escalated = after.status is TicketStatus.ESCALATED and before.status is not TicketStatus.ESCALATED
    if escalated and after.owner:
        notices.append(TicketNotice(kind=NoticeKind.ESCALATED, to=after.owner, **common))
    elif after.owner and after.owner != before.owner and after.owner != actor:
        notices.append(TicketNotice(kind=NoticeKind.ASSIGNED, to=after.owner, **common))
    if after.status is TicketStatus.RESOLVED and before.status is not TicketStatus.RESOLVED:
        notices.append(TicketNotice(kind=NoticeKind.RESOLVED, to=after.customer_email, **{**common, "comment": ""}))
    return notices


# --- the customer's links ------------------------------------------------------------------


class CustomerAction(StrEnum):
    CONFIRM = "confirm"  # solved: close the ticket
    NOT_SOLVED = "not-solved"  # reopen it as open


class InvalidLink(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def sign_customer_link(secret: str, ticket_id: str, action: CustomerAction, expires_at: datetime) -> str:
    payload = _b64(f"{ticket_id}|{action.value}|{int(expires_at.timestamp())}".encode())
    return f"{payload}.{_signature(secret, payload)}"


class CustomerLink(BaseModel):
    ticket_id: str
    action: CustomerAction
    expires_at: datetime


def verify_customer_link(secret: str, token: str, now: datetime) -> CustomerLink:
    """The link's ticket and action; InvalidLink when it was forged, mangled or has expired."""
    payload, _, signature = token.partition(".")
    if not payload or not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidLink("this link is not valid")
    try:
        ticket_id, action, expires = _unb64(payload).decode().split("|")
        link = CustomerLink(
            ticket_id=ticket_id, action=CustomerAction(action), expires_at=datetime.fromtimestamp(int(expires), UTC)
        )
    except (ValueError, UnicodeDecodeError) as mangled:
        raise InvalidLink("this link is not valid") from mangled
    if link.expires_at <= now:
        raise InvalidLink("this link has expired")
    return link
