"""Telling people about a ticket's change: the mails of domain.notices.

The workflow decides who hears what; this activity finds the user's address
and language, writes the mail (Jinja2 templates in activities/templates/, in
the reader's language) and sends it over SMTP. Temporal retries it while the
mail server is away.

The customer's mail carries signed links (domain.notices) to confirm the
ticket is solved or to say it is not; they expire when the ticket would close
by itself. It never carries the change's comment (the team's internal record:
a notice recorded before domain.notices left it out still has one, which the
customer's templates do not know) nor any id of ours. The users' mails name
who acted by name (a rule's, a user's), not by the log's id, and word the
system's comments in the user's language (domain/wording.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy import Engine
from temporalio import activity

from activities.mail import ENGLISH, MailActivities
from domain.commands import N_
from domain.contracts import AutoReply
from domain.notices import (
    SEND_TICKET_NOTICE_ACTIVITY,
    CustomerAction,
    NoticeKind,
    TicketNotice,
    sign_customer_link,
)
from domain.ticket import EventKind, TicketEvent
from domain.wording import ESCALATION_RULE_ACTOR, actor_phrase, comment_phrase, is_machine_actor
from store.directory import names_for, recipient

SUBJECTS = {
    NoticeKind.ASSIGNED: N_("[{reference}] assigned to you"),
    NoticeKind.ESCALATED: N_("[{reference}] escalated to you"),
    NoticeKind.RESOLVED: N_("[{reference}] Is your request solved?"),
    NoticeKind.REPLY: N_("[{reference}] Our answer to your request"),
    NoticeKind.DELIVERY_FAILED: N_("[{reference}] A mail to the customer was not delivered"),
}


class Undeliverable(Exception):
    """The mail cannot go, and trying again will not help (the mail server
    refused the address, a user has no address): the reason, for the ticket."""


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
        """Sends the notice; answers to whom (or why nobody), for the history.
        Runs only for tickets whose histories predate the outbox: the mailer
        (activities/mailer.py) sends every notice since."""
        if self._mail is None:
            activity.logger.info("no mail server configured: %s notice of %s not sent", notice.kind,
                                 notice.reference, extra={"ticket_id": notice.ticket_id})
            return "not sent: no mail server configured"
        try:
            return self.deliver(notice)
        except Undeliverable as refused:
            activity.logger.warning("%s notice of %s not sent: %s", notice.kind, notice.reference, refused,
                                    extra={"ticket_id": notice.ticket_id})
            return f"not sent: {refused}"

    def deliver(self, notice: TicketNotice) -> str:
        """Write and send one notice; answers to whom. Undeliverable when it
        cannot go; the mail server's other errors (smtplib's, OSError) when it
        may go later."""
        if self._mail is None:
            raise Undeliverable("no mail server configured")
        if notice.kind is NoticeKind.REPLY:
            return self._reply_to_customer(notice)
        if notice.kind is NoticeKind.AUTO_REPLY:
            reply = AutoReply(
                to=notice.to, customer_name=notice.customer_name, reference=notice.reference,
                source=notice.source or "form", subject=notice.subject, locale=notice.customer_locale,
                workspace_id=notice.workspace_id,
            )
            self._mail.send_auto_reply(reply, self._seed(notice))
            return f"sent to {notice.to}"
        if notice.kind.to_customer:
            return self._tell_customer(notice)
        return self._tell_user(notice)

    def _seed(self, notice: TicketNotice) -> str:
        # The outbox's key names the mail (its Message-ID, store/outbox.py);
        # a notice sent by an activity, its kind and version.
        return notice.key or f"{notice.kind.value}.{notice.ticket_id}.{notice.version}"

    def _reply_to_customer(self, notice: TicketNotice) -> str:
        identity = self._mail.identity(notice.workspace_id)
        locale = notice.customer_locale or identity.default_locale or ENGLISH
        # The reply's text as the agent wrote it: nothing else of the ticket.
        context = {"body": notice.body, "reference": notice.reference}
        subject = self._mail.translate(SUBJECTS[notice.kind], locale, reference=notice.reference)
        self._mail.send_to_customer(notice.to, subject, "ticket_reply", locale, context, self._seed(notice), identity)
        return f"sent to {notice.to}"

    def _tell_customer(self, notice: TicketNotice) -> str:
        identity = self._mail.identity(notice.workspace_id)
        # The ticket's customer_locale; a ticket older than it: the workspace's default.
        locale = notice.customer_locale or identity.default_locale or ENGLISH
        expires_at = notice.closes_at or datetime.now(UTC) + self.DEFAULT_LINK_LIFETIME
        # Only what the customer may read: no comment, no id but the reference.
        context = {
            "reference": notice.reference,
            "customer_name": notice.customer_name,
            "confirm_url": self.customer_link(notice, CustomerAction.CONFIRM, expires_at),
            "not_solved_url": self.customer_link(notice, CustomerAction.NOT_SOLVED, expires_at),
            # In the workspace's time zone, named (its IANA name), as the customer reads it.
            "closes_on": format_datetime(expires_at, "medium", tzinfo=ZoneInfo(identity.time_zone), locale=locale)
            + " " + identity.time_zone.replace("_", " "),
        }
        subject = self._mail.translate(SUBJECTS[notice.kind], locale, reference=notice.reference)
        self._mail.send_to_customer(notice.to, subject, f"ticket_{notice.kind.value}", locale, context,
                                    self._seed(notice), identity)
        return f"sent to {notice.to}"

    def _tell_user(self, notice: TicketNotice) -> str:
        user = recipient(self._engine, notice.to) if self._engine is not None else None
        if user is None:
            raise Undeliverable(f"no address for {notice.to}")
        names = names_for(self._engine, [notice.actor]) if self._engine is not None else {}
        # The notice's line of the log, as the ticket's log page words it: a
        # ticket's first version is its creation (intake's or an alert rule's
        # comment is the system's), a rule's escalation the rule's.
        if notice.version == 1:
            kind = EventKind.CREATED
        elif notice.actor.startswith(ESCALATION_RULE_ACTOR):
            kind = EventKind.ESCALATED_BY_RULE
        else:
            kind = EventKind.CHANGED
        line = TicketEvent(
            seq=notice.version, at=datetime.now(UTC), actor=notice.actor, comment=notice.comment, kind=kind
        )
        context = {
            **notice.model_dump(),
            "actor": self._mail.say(actor_phrase(notice.actor, names), user.locale, user.time_zone),
            # A rule or timer escalating: the comment says which.
            "by_system": is_machine_actor(notice.actor),
            "comment": self._mail.say(comment_phrase(line, names), user.locale, user.time_zone),
            "ticket_url": f"{self._public_url}/dashboard/tickets/{notice.ticket_id}",
        }
        text = self._mail.render(f"ticket_{notice.kind.value}.txt", user.locale, context)
        subject = self._mail.translate(SUBJECTS[notice.kind], user.locale, reference=notice.reference)
        self._mail.send(user.email, subject, text, self._seed(notice))
        return f"sent to {user.email}"
