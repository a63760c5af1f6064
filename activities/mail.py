"""Outgoing mail: the automatic reply with a ticket's reference, and
notifications. Rendered with Jinja2 templates (activities/templates/) and sent
over SMTP; retried by Temporal when the mail server is away."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from temporalio import activity

from domain.contracts import SEND_AUTO_REPLY_ACTIVITY, SEND_NOTIFICATION_ACTIVITY, AutoReply, SurveyNotification

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # plain-text mail
)

class MailActivities:
    def __init__(self, smtp_host: str, smtp_port: int, sender: str) -> None:
        self._smtp_host = smtp_host
        self._smtp_port = smtp_port
        self._sender = sender

    def send(self, to: str, subject: str, text: str, message_id_seed: str) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        # The same id on every attempt lets a mail server or client drop the
        # duplicate when a retried activity sends a mail twice.
        message["Message-ID"] = f"<{message_id_seed.replace('@', '.')}@cxloop.localhost>"
        message.set_content(text)
        with smtplib.SMTP(self._smtp_host, self._smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    @activity.defn(name=SEND_AUTO_REPLY_ACTIVITY)
    def send_auto_reply(self, reply: AutoReply) -> None:
        subject = f"[{reply.reference}] " + (f"Re: {reply.subject}" if reply.subject else "We received your request")
        text = TEMPLATES.get_template("auto_reply.txt").render(**reply.model_dump())
        self.send(reply.to, subject, text, f"auto-reply.{reply.reference}")

    @activity.defn(name=SEND_NOTIFICATION_ACTIVITY)
    def send_notification(self, notice: SurveyNotification) -> None:
        subject = f"[cxloop] {notice.rule_name}: response {notice.response_id}"
        text = TEMPLATES.get_template("notification.txt").render(**notice.model_dump())
        self.send(notice.to, subject, text, f"notice.{notice.survey_id}.{notice.response_id}.{notice.to}")
