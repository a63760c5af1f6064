"""Outgoing mail: the automatic reply with a ticket's reference, and
notifications. Rendered with Jinja2 templates (activities/templates/) and sent
over SMTP; retried by Temporal when the mail server is away.

Mails speak the reader's language through the dashboard's Babel catalogs
(`{% trans %}` in the templates; `python -m api.dashboard.catalogs` extracts
them too). The worker hands them in (`wording`: api.dashboard.i18n), so that
activities/ depends on nothing of api/; without them mails are English.

A mail to a customer is text and HTML (multipart/alternative) and carries no
machine id: its Message-ID is a digest of what names the mail, not the
ticket's id, and its words say only what the customer may read.
"""

from __future__ import annotations

import gettext
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine
from temporalio import activity

from domain.commands import N_
from domain.contracts import SEND_AUTO_REPLY_ACTIVITY, SEND_NOTIFICATION_ACTIVITY, AutoReply, SurveyNotification
from store.directory import MailIdentity, locale_of_address, mail_identity
from store.outbox import message_id_for

ENGLISH = "en"


class Wording(Protocol):
    """The catalogs' side of api.dashboard.i18n that mails use."""

    def translations(self, locale: str) -> gettext.NullTranslations: ...

    def say(self, locale: str, phrase: Any, time_zone: str = "UTC") -> str: ...

# Each render runs in the activity's own thread: the language it speaks is
# that thread's, never another mail's.
_speaking: ContextVar[gettext.NullTranslations] = ContextVar("mail_translations")


def _gettext(message: str) -> str:
    return _speaking.get(gettext.NullTranslations()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _speaking.get(gettext.NullTranslations()).ngettext(singular, plural, n)


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    # Text mails as written; the HTML part escapes what it shows.
    autoescape=select_autoescape(("html",), default_for_string=False, default=False),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.install_gettext_callables(_gettext, _ngettext, newstyle=True)


def message_id(seed: str) -> str:
    """The same Message-ID on every attempt lets a mail server or client drop
    the duplicate when a mail is sent twice; a digest, so that no id of ours
    travels in a header. An outbox mail's seed is its key, so its header is
    the one the outbox keeps for threading."""
    return message_id_for(seed)


class MailActivities:
    def __init__(
        self, smtp_host: str, smtp_port: int, sender: str, wording: Wording | None = None,
        engine: Engine | None = None,
    ) -> None:
        self._smtp_host = smtp_host
        self._smtp_port = smtp_port
        self._sender = sender
        self.wording = wording
        # The read model, where a notification's recipient may be a user
        # with a language of their own.
        self.engine = engine

    @contextmanager
    def speaking(self, locale: str) -> Iterator[None]:
        """Render in this language (English without the catalogs)."""
        token = _speaking.set(self.wording.translations(locale) if self.wording else gettext.NullTranslations())
        try:
            yield
        finally:
            _speaking.reset(token)

    def render(self, template: str, locale: str, context: Mapping[str, Any]) -> str:
        with self.speaking(locale):
            return TEMPLATES.get_template(template).render(**context)

    def translate(self, message: str, locale: str, **params: Any) -> str:
        """One message of the catalogs (a subject), filled in."""
        with self.speaking(locale):
            return _gettext(message).format(**params)

    def say(self, phrase: Any, locale: str, time_zone: str = "UTC") -> str:
        """A domain.wording phrase in the language (English: its str())."""
        return self.wording.say(locale, phrase, time_zone) if self.wording else str(phrase)

    def identity(self, workspace_id: str | None) -> MailIdentity:
        """The workspace's mail identity (the defaults without a read model)."""
        return mail_identity(self.engine, workspace_id) if self.engine is not None else MailIdentity()

    def sender(self, identity: MailIdentity) -> str:
        """The workspace's From; what it left out is the settings' mail_from's."""
        default_name, default_address = parseaddr(self._sender)
        if identity.sender_name is None and identity.sender_address is None:
            return self._sender
        return formataddr((identity.sender_name or default_name, identity.sender_address or default_address))

    def send(self, to: str, subject: str, text: str, message_id_seed: str, html: str | None = None,
             identity: MailIdentity | None = None) -> None:
        message = EmailMessage()
        message["From"] = self.sender(identity) if identity is not None else self._sender
        if identity is not None and identity.reply_to:
            # The inbound address that feeds POST /api/intake/email: a customer's answer becomes mail to cxloop.
            message["Reply-To"] = Address(addr_spec=identity.reply_to)
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = message_id(message_id_seed)
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        with smtplib.SMTP(self._smtp_host, self._smtp_port, timeout=10) as smtp:
            smtp.send_message(message)

    def send_to_customer(self, to: str, subject: str, template: str, locale: str,
                         context: Mapping[str, Any], message_id_seed: str,
                         identity: MailIdentity | None = None) -> None:
        """A mail to a customer: the template's .txt and .html, in their
        language, from the workspace's sender and with its signature."""
        identity = identity or MailIdentity()
        context = {**context, "signature": identity.signature, "locale": locale}
        with self.speaking(locale):
            text = TEMPLATES.get_template(f"{template}.txt").render(**context)
            html = TEMPLATES.get_template(f"{template}.html").render(**context)
        self.send(to, subject, text, message_id_seed, html=html, identity=identity)

    @activity.defn(name=SEND_AUTO_REPLY_ACTIVITY)
    def send_auto_reply(self, reply: AutoReply, message_id_seed: str | None = None) -> None:
        """The automatic reply: an activity of intake histories from before
        the outbox; the mailer's for every ticket since (its outbox key as
        the seed)."""
        identity = self.identity(reply.workspace_id)
        # The ticket's customer_locale; a reply recorded before it: English.
        locale = reply.locale or ENGLISH
        subject = f"[{reply.reference}] " + (
            f"Re: {reply.subject}" if reply.subject else self.translate(N_("We received your request"), locale)
        )
        self.send_to_customer(reply.to, subject, "auto_reply", locale, reply.model_dump(),
                              message_id_seed or f"auto-reply.{reply.reference}", identity)

    @activity.defn(name=SEND_NOTIFICATION_ACTIVITY)
    def send_notification(self, notice: SurveyNotification) -> None:
        # A user's address: their language; any other address: the source language.
        locale = (locale_of_address(self.engine, notice.to) if self.engine is not None else None) or ENGLISH
        subject = f"[cxloop] {notice.rule_name}: " + self.translate(
            N_("response {response}"), locale, response=notice.response_id)
        text = self.render("notification.txt", locale, notice.model_dump())
        self.send(notice.to, subject, text, f"notice.{notice.survey_id}.{notice.response_id}.{notice.to}")
