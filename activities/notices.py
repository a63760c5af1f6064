"""Telling people about a ticket's change: the mails of domain.notices.

The workflow decides who hears what; this activity finds the user's address,
writes the mail (Jinja2 templates in activities/templates/) and sends it over
SMTP. Temporal retries it while the mail server is away. The customer's mail
carries signed links (domain.notices) to confirm the ticket is solved or to
say it is not; they expire when the ticket would close by itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from temporalio import activity

from activities.mail import TEMPLATES, MailActivities
from domain.notices import (
    SEND_TICKET_NOTICE_ACTIVITY,
    CustomerAction,
    NoticeKind,
    TicketNotice,
    sign_customer_link,
)
from store.intake import user_email

SUBJECTS = {
    NoticeKind.ASSIGNED: "[{reference}] assigned to you",
    NoticeKind.ESCALATED: "[{reference}] escalated to you",
    NoticeKind.RESOLVED: "[{reference}] Is your request solved?",
}


class NoticeActivities:
    # For a resolved ticket without an auto-close time (there is always one today).
    DEFAULT_LINK_LIFETIME = timedelta(days=7)

    def __init__(
        self,
        engine: Engine | None,
        mail: MailActivities | None,
        secret_key: str,
        public_url: str,
    ) -> None:
        self._engine = engine
        self._mail = mail
        self._secret_key = secret_key
        self._public_url = public_url.rstrip("/")

    def customer_link(self, notice: TicketNotice, action: CustomerAction, expires_at: datetime) -> str:
        token = sign_customer_link(self._secret_key, notice.ticket_id, action, expires_at)
        return f"{self._public_url}/customer/tickets/{token}"

    @activity.defn(name=SEND_TICKET_NOTICE_ACTIVITY)
    def send_ticket_notice(self, notice: TicketNotice) -> str:
        """Sends the notice; answers to whom (or why nobody), for the history."""
        if self._mail is None:
            activity.logger.info("no mail server configured: %s notice of %s not sent", notice.kind,
                                 notice.reference, extra={"ticket_id": notice.ticket_id})
            return "not sent: no mail server configured"
        context = notice.model_dump()
        context["ticket_url"] = f"{self._public_url}/dashboard/tickets/{notice.ticket_id}"
        if notice.kind is NoticeKind.RESOLVED:
            address = notice.to
            expires_at = notice.closes_at or datetime.now(UTC) + self.DEFAULT_LINK_LIFETIME
            context["confirm_url"] = self.customer_link(notice, CustomerAction.CONFIRM, expires_at)
            context["not_solved_url"] = self.customer_link(notice, CustomerAction.NOT_SOLVED, expires_at)
            context["closes_on"] = f"{expires_at:%Y-%m-%d %H:%M} UTC"
        else:
            address = user_email(self._engine, notice.to) if self._engine is not None else None
            if not address:
                activity.logger.warning("user %s has no mail address: %s notice of %s not sent", notice.to,
                                        notice.kind, notice.reference, extra={"ticket_id": notice.ticket_id})
                return f"not sent: no address for {notice.to}"
        text = TEMPLATES.get_template(f"ticket_{notice.kind.value}.txt").render(**context)
        subject = SUBJECTS[notice.kind].format(reference=notice.reference)
        self._mail.send(address, subject, text, f"{notice.kind.value}.{notice.ticket_id}.{notice.version}")
        return f"sent to {address}"
