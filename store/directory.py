"""Who the names in a ticket's log are: the configuration's names for the
actors and owners that the log records by id (domain/wording.py renders
them), and what a user's mail is written in."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.ticket import DEFAULT_CUSTOMER_LOCALE, TicketEvent
from domain.wording import ALERT_RULE_ACTOR, ESCALATION_RULE_ACTOR
from store.models import AlertRuleRow, EscalationRuleRow, User, Workspace


def names_for(engine: Engine, keys: Iterable[str | None]) -> dict[str, str]:
    """A name for each actor or owner of `keys` that the configuration
    knows: `rule:<id>` an escalation rule's name, `alert-rule:<id>` an alert
    rule's, a username the user's display name. Unknown keys are left out
    (a rule since removed, a customer's address)."""
    keys = {key for key in keys if key}
    escalation_rules = {k.removeprefix(ESCALATION_RULE_ACTOR) for k in keys if k.startswith(ESCALATION_RULE_ACTOR)}
    alert_rules = {k.removeprefix(ALERT_RULE_ACTOR) for k in keys if k.startswith(ALERT_RULE_ACTOR)}
    usernames = keys - {f"{ESCALATION_RULE_ACTOR}{i}" for i in escalation_rules} - {
        f"{ALERT_RULE_ACTOR}{i}" for i in alert_rules}
    names: dict[str, str] = {}
    with Session(engine) as session:
        if escalation_rules:
            for rule_id, name in session.execute(
                select(EscalationRuleRow.id, EscalationRuleRow.name).where(EscalationRuleRow.id.in_(escalation_rules))
            ):
                # A rule without a name goes by its id, as its label does.
                names[f"{ESCALATION_RULE_ACTOR}{rule_id}"] = name or rule_id
        if alert_rules:
            for rule_id, name in session.execute(
                select(AlertRuleRow.id, AlertRuleRow.name).where(AlertRuleRow.id.in_(alert_rules))
            ):
                names[f"{ALERT_RULE_ACTOR}{rule_id}"] = name or rule_id
        if usernames:
            for username, display_name in session.execute(
                select(User.username, User.display_name).where(User.username.in_(usernames))
            ):
                if display_name:
                    names[username] = display_name
    return names


@dataclass(frozen=True)
class Recipient:
    email: str
    locale: str
    time_zone: str


def recipient(engine: Engine, username: str) -> Recipient | None:
    """Where a user's mail goes and the language and time zone it is written in."""
    with Session(engine) as session:
        row = session.execute(
            select(User.email, User.locale, User.time_zone).where(User.username == username)
        ).first()
    return Recipient(row.email, row.locale, row.time_zone) if row and row.email else None


def names_for_log(engine: Engine, events: Iterable[TicketEvent]) -> dict[str, str]:
    """The names a log's lines need: their actors, and the owners they name."""
    keys: set[str | None] = set()
    for event in events:
        keys.add(event.actor)
        if event.field == "owner":
            keys.update((event.old, event.new))
    return names_for(engine, keys)


def locale_of_address(engine: Engine, email: str) -> str | None:
    """The language of the users with this mail address, when they agree on
    one (an address is not unique among users; none: not a user's)."""
    with Session(engine) as session:
        locales = set(session.scalars(select(User.locale).where(User.email == email)))
    return locales.pop() if len(locales) == 1 else None


@dataclass(frozen=True)
class MailIdentity:
    """Who a workspace's customer mails come from, and how they are written:
    None for what the workspace did not configure (the settings' sender)."""

    sender_name: str | None = None
    sender_address: str | None = None
    reply_to: str | None = None
    signature: str | None = None
    default_locale: str = DEFAULT_CUSTOMER_LOCALE
    time_zone: str = "UTC"


def mail_identity(engine: Engine, workspace_id: str | None) -> MailIdentity:
    """The workspace's mail identity; the defaults for none (a mail recorded
    before workspaces had one) or a workspace since removed."""
    if workspace_id is None:
        return MailIdentity()
    with Session(engine) as session:
        workspace = session.get(Workspace, workspace_id)
        if workspace is None:
            return MailIdentity()
        return MailIdentity(
            sender_name=workspace.mail_sender_name,
            sender_address=workspace.mail_sender_address,
            reply_to=workspace.mail_reply_to,
            signature=workspace.mail_signature,
            default_locale=workspace.default_locale or DEFAULT_CUSTOMER_LOCALE,
            time_zone=workspace.time_zone or "UTC",
        )
