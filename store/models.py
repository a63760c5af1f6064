"""The read model's schema: configuration tables and the ticket projection.

Tickets and their events are a projection of the ticket workflows (the source
of truth); everything else is configuration that lives only here. Classes that
mirror a domain model carry a `Row` suffix (`TicketRow` for `TicketState`) so
the two are never confused.

Every table works on SQLite and PostgreSQL alike: times are stored in UTC
(`UTCDateTime`), documents as JSON (JSONB on PostgreSQL), enums as their string
values in plain VARCHAR columns.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from domain.access import Role as UserRole  # admin, manager, agent: see domain/access.py
from domain.ticket import EscalatedBy, EventKind, Priority, Source, TicketStatus


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC and always read back aware.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones and returns naive
    values, so they are written as naive UTC (which also keeps its text
    comparison chronological) and read back with UTC attached.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            # The domain's times are aware; a naive one (a date typed into a
            # filter, say) is taken to be UTC rather than refused.
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL can be indexed and compared; plain JSON (text) on SQLite.
JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def enum_values(enum_type: type[Enum]) -> sa.Enum:
    """An enum column that stores the member's value ("critical", not
    "CRITICAL") in a VARCHAR, with no database enum type or CHECK constraint:
    a value added to the domain must not need a migration before a ticket can
    be projected with it. SQLAlchemy still refuses unknown values on write."""
    return sa.Enum(
        enum_type,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    # Named constraints: Alembic can only drop or alter what it can name, and
    # SQLite batch migrations need the names to recreate tables.
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
        list[str]: JSONDocument,
    }


# --- configuration --------------------------------------------------------------


class SurveyAdapter(StrEnum):
    """Which payload format (and signature scheme) a survey's webhook speaks."""

    CXLOOP = "cxloop"
    TYPEFORM = "typeform"


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str]
    # Counts the configuration changes its tickets depend on (segments,
    # managers, calendars, escalation rules): each one that is rolled out
    # bumps it, in its own transaction. A ticket's copy of the policy carries
    # the revision it was read at, and its projection compares the two, so a
    # ticket that a roll-out missed is corrected all the same.
    config_revision: Mapped[int] = mapped_column(default=0, server_default="0")
    # What its customers are written in when their source says no language
    # (domain.ticket.CUSTOMER_LOCALES), and the time zone of the dates in
    # their mails (migration 0013).
    # Defaults of the database's only: an INSERT that names neither (a
    # migration test's older schema) works before 0013 too.
    default_locale: Mapped[str] = mapped_column(server_default="en")
    time_zone: Mapped[str] = mapped_column(server_default="UTC")
    # The mail identity customers see; None: the settings' mail_from. Reply-To
    # is the inbound address that feeds POST /api/intake/email.
    mail_sender_name: Mapped[str | None]
    mail_sender_address: Mapped[str | None]
    mail_reply_to: Mapped[str | None]
    mail_signature: Mapped[str | None] = mapped_column(sa.Text)
    # Resolving a ticket needs one of the workspace's resolution reasons.
    resolution_reason_required: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class Segment(Base):
    """A group of customers (a region, a plan, a channel) with its managers and,
    optionally, the business calendar escalation rules count time in."""

    __tablename__ = "segments"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"))
    # Tickets refer to a segment by this name.
    name: Mapped[str]
    # Business calendar; all None: time counts around the clock.
    time_zone: Mapped[str | None]  # IANA name, e.g. "Europe/Paris"
    # domain.calendar.BusinessCalendar as JSON: {"0": [["09:00:00", "17:30:00"]], ...}, 0 = Monday.
    working_hours: Mapped[dict[str, Any] | None]
    # ["2025-12-25", ...]: whole days off, in the segment's time zone.
    holidays: Mapped[list[str] | None]
    # How intake picks a new ticket's owner (domain.assignment.AssignmentMode).
    assignment_mode: Mapped[str] = mapped_column(
        sa.String(32), default="single_manager", server_default="single_manager"
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    # Tickets name their owner by username.
    username: Mapped[str] = mapped_column(unique=True)
    email: Mapped[str]
    display_name: Mapped[str | None]
    role: Mapped[UserRole] = mapped_column(enum_values(UserRole))
    # None: the user cannot log in to the dashboard (API tokens only).
    password_hash: Mapped[str | None]
    locale: Mapped[str] = mapped_column(default="en", server_default="en")
    time_zone: Mapped[str] = mapped_column(default="UTC", server_default="UTC")
    # Set: deactivated (migration 0010). The user signs in no more, their
    # tokens are refused, and they manage no segment; tickets and the log
    # keep naming them.
    deactivated_at: Mapped[datetime | None]


class SegmentManager(Base):
    """A user who may own the segment's tickets."""

    __tablename__ = "segment_managers"

    segment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # False: on leave; not picked when tickets are assigned automatically.
    available: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # None: no limit on how many open tickets automatic assignment gives them.
    max_open_tickets: Mapped[int | None]


class ApiToken(Base):
    """A bearer token for API clients. Only a hash is kept: a leaked database
    does not leak working tokens."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(unique=True)
    # What the token is for ("CRM sync"), so its owner knows which to revoke.
    name: Mapped[str] = mapped_column(default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class UserSession(Base):
    """A dashboard sign-in. The browser holds a random token in an HttpOnly
    cookie; only its hash is kept, with the CSRF token that the session's
    pages must send back with every change. Signing out deletes the row, so a
    copied cookie stops working at once."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"), index=True)
    name: Mapped[str]
    # Signs the platform's webhook deliveries (HMAC-SHA256).
    webhook_secret: Mapped[str]
    adapter: Mapped[SurveyAdapter] = mapped_column(
        enum_values(SurveyAdapter), default=SurveyAdapter.CXLOOP, server_default=SurveyAdapter.CXLOOP.value
    )
    # The platform's question ids -> cxloop's fields (score, customer_email, ...).
    field_mapping: Mapped[dict[str, Any] | None]
    # The segment of a response that names none.
    default_segment: Mapped[str | None]


class AlertRuleRow(Base):
    """A survey's action-alert rule (domain.alerts.AlertRule), stored whole as
    JSON: criteria and actions evolve without migrations."""

    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    survey_id: Mapped[str] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    # Rules are evaluated in this order.
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    name: Mapped[str]
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    definition: Mapped[dict[str, Any]]


class EscalationRuleRow(Base):
    """Stored form of `domain.escalation.EscalationRule`: escalate a ticket of
    this survey and segment to `assignee` after it waited `after_seconds`."""

    __tablename__ = "escalation_rules"

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"), index=True)
    # None matches every survey / every segment.
    survey_id: Mapped[str | None] = mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    segment: Mapped[str | None]
    after_seconds: Mapped[int]
    # True: only the segment's working hours count towards after_seconds.
    business_hours: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    assignee: Mapped[str]
    enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    name: Mapped[str] = mapped_column(default="", server_default="")


class ResolutionReasonRow(Base):
    """One of a workspace's resolution reasons (the root cause a resolved
    ticket names): a code tickets keep, a label per language ({"en": ...}),
    its place in the list, and whether it is retired (kept for the tickets
    that name it, offered no more)."""

    __tablename__ = "resolution_reasons"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "code"),)

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(64))
    labels: Mapped[dict[str, Any]]
    position: Mapped[int] = mapped_column(default=0)
    retired: Mapped[bool] = mapped_column(default=False)


class ReplyTemplateRow(Base):
    """A workspace's reply template (domain/reply_templates.py): a name and
    one body per language ({"en": ..., "de": ...}), stored as JSON."""

    __tablename__ = "reply_templates"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)

    id: Mapped[str] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(sa.ForeignKey("workspaces.id"), index=True)
    name: Mapped[str]
    bodies: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class SurveyResponse(Base):
    """A survey response as received, every answer kept, whether or not it
    became a ticket."""

    __tablename__ = "survey_responses"
    __table_args__ = (sa.Index("ix_survey_responses_survey_received", "survey_id", "received_at"),)

    id: Mapped[str] = mapped_column(primary_key=True)
    survey_id: Mapped[str] = mapped_column(sa.ForeignKey("surveys.id"))
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    score: Mapped[int | None]
    customer_email: Mapped[str | None]


# --- the ticket projection -------------------------------------------------------

# `priority_rank` orders tickets by urgency; the enum's text would sort them
# alphabetically (critical, high, low, medium).
PRIORITY_RANK: dict[Priority, int] = {
    Priority.LOW: 1,
    Priority.MEDIUM: 2,
    Priority.HIGH: 3,
    Priority.CRITICAL: 4,
}


# What the list's `q` searches, as a case-insensitive substring; the comment,
# where most searches match, first.
TICKET_SEARCHED_COLUMNS = ("customer_comment", "customer_email", "customer_name", "reference", "response_id")


class TicketRow(Base):
    """A ticket as its workflow last projected it: every `TicketState` field
    plus `priority_rank`.

    No foreign keys to the configuration tables: the workflow is the source of
    truth, and a projection must never be refused because a segment, user or
    survey was renamed or removed in the meantime.
    """

    __tablename__ = "tickets"
    # Each list filter is an equality on the workspace and, usually, one more
    # column, within a reported_at range, in the list's order (reported_at or
    # priority, ties broken by id). Each index is that: the equalities, then
    # (reported_at, id), so a filtered page is read in order and stops after
    # 50 rows; and the status, so counts by status read the index alone.
    # The text search (`q`) has a trigram index on PostgreSQL, declared here
    # for PostgreSQL only; on SQLite it is an FTS5 table that migration 0004
    # creates and that the ORM does not model.
    __table_args__ = (
        sa.Index("ix_tickets_workspace_status", "workspace_id", "status", "reported_at", "id"),
        sa.Index("ix_tickets_workspace_segment", "workspace_id", "segment", "reported_at", "id", "status"),
        sa.Index("ix_tickets_workspace_owner", "workspace_id", "owner", "reported_at", "id", "status"),
        sa.Index("ix_tickets_workspace_reported", "workspace_id", "reported_at", "id", "status"),
        sa.Index("ix_tickets_workspace_priority", "workspace_id", "priority_rank", "reported_at", "id", "status"),
        sa.Index(
            "ix_tickets_search",
            *TICKET_SEARCHED_COLUMNS,
            postgresql_using="gin",
            postgresql_ops=dict.fromkeys(TICKET_SEARCHED_COLUMNS, "gin_trgm_ops"),
        ).ddl_if(dialect="postgresql"),
    )

    # Immutable after creation.
    id: Mapped[str] = mapped_column(primary_key=True)
    # Not unique: the short reference is a hash of the id and may collide.
    # Indexed: a customer's mail quotes it, and its reply must find the ticket.
    reference: Mapped[str] = mapped_column(index=True)
    source: Mapped[Source] = mapped_column(enum_values(Source))
    workspace_id: Mapped[str]
    survey_id: Mapped[str | None]
    response_id: Mapped[str | None]
    customer_email: Mapped[str]
    customer_name: Mapped[str | None]
    origin_segment: Mapped[str]
    reported_at: Mapped[datetime]
    # The survey response's submission (migration 0009); reported_at is when
    # the ticket was made.
    submitted_at: Mapped[datetime | None]
    # The customer's language (migration 0013; backfilled with the workspace's default).
    customer_locale: Mapped[str | None]
    customer_comment: Mapped[str | None] = mapped_column(sa.Text)
    score: Mapped[int | None]
    created_at: Mapped[datetime]

    # Editable.
    segment: Mapped[str]
    owner: Mapped[str | None]
    priority: Mapped[Priority] = mapped_column(enum_values(Priority))
    priority_rank: Mapped[int] = mapped_column(sa.SmallInteger)
    status: Mapped[TicketStatus] = mapped_column(enum_values(TicketStatus))

    # Lifecycle bookkeeping.
    version: Mapped[int]
    updated_at: Mapped[datetime]
    status_before_delete: Mapped[TicketStatus | None] = mapped_column(enum_values(TicketStatus))
    escalated_by: Mapped[EscalatedBy | None] = mapped_column(enum_values(EscalatedBy))
    snooze_until: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    resolution_reason: Mapped[str | None] = mapped_column(sa.String(64))
    recovery_score: Mapped[int | None]
    recovery_scored_at: Mapped[datetime | None]
    escalation_clock_started_at: Mapped[datetime]
    fired_rule_ids: Mapped[list[str]]
    # Always false here: a purged ticket's row is deleted (see PurgedTicketRow).
    purged: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    escalation_due_at: Mapped[datetime | None]
    escalation_rule_id: Mapped[str | None]
    wake_at: Mapped[datetime | None]
    auto_close_at: Mapped[datetime | None]
    # When the workflow task that decided this state ran: a projection decided
    # later replaces this row whatever its version (store/tickets.py). Not a
    # TicketState field: it describes the projection, not the ticket. Always
    # written; nullable only because SQLite cannot add a NOT NULL column that
    # migration 0008 fills afterwards without rebuilding the table.
    decided_at: Mapped[datetime | None]
    # When the projection that wrote this row ran (the worker's clock): of two
    # projections decided at the same time, the later-run one wins (0014).
    projected_at: Mapped[datetime | None]


class TicketEventRow(Base):
    """One line of a ticket's log. (ticket_id, seq) is the line's identity, so
    a projection delivered twice stores it once."""

    __tablename__ = "ticket_events"
    # The dashboard's feed reads the newest lines, and polls for lines newer
    # than the last it sent.
    __table_args__ = (sa.Index("ix_ticket_events_at", "at"),)

    ticket_id: Mapped[str] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str]
    kind: Mapped[EventKind] = mapped_column(enum_values(EventKind))
    field: Mapped[str | None]
    old: Mapped[str | None] = mapped_column(sa.Text)
    new: Mapped[str | None] = mapped_column(sa.Text)
    comment: Mapped[str] = mapped_column(sa.Text)


class PurgedTicketRow(Base):
    """The id of a purged ticket, and nothing about its customer: a projection
    of it that arrives late (a retry, a slow activity) must not bring back the
    ticket that the purge removed."""

    __tablename__ = "purged_tickets"

    ticket_id: Mapped[str] = mapped_column(primary_key=True)
    version: Mapped[int]
    purged_at: Mapped[datetime]


# --- rate limits -------------------------------------------------------------------


class RateLimitHitRow(Base):
    """Requests that a rate limit let through, counted by every API replica
    alike (store/rate_limits.py). `key` is limits' key for one limit and one
    client ("LIMITER/login-user/ann/10/1/minute", escaped by
    store/rate_limits.py so that any can be stored); a row holds the hits of one
    instant and counts until it leaves the limit's moving window at
    `expires_at`, after which it is swept.

    Times are seconds since the epoch (UTC) as floats, as the `limits`
    library counts them, rather than UTCDateTime: every use is arithmetic on
    its own timestamps."""

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(primary_key=True)
    expires_at: Mapped[float] = mapped_column(sa.Double, primary_key=True, index=True)
    hits: Mapped[int]


# --- idempotency keys ----------------------------------------------------------------


class IdempotencyKeyRow(Base):
    """A request sent with an `Idempotency-Key` header, remembered for a day
    (store/idempotency.py): a retry of it is answered what it was answered
    first, and does nothing again. Keys are the caller's own: two users'
    keys never meet.

    `request_hash` is a SHA-256 of the method, path and body, so that the
    same key sent with another request is refused. `request_id` names the
    work the request does outside the database (the ticket it opens, the
    ticket update it sends): a retry after a crash repeats that work with the
    same id, which Temporal applies once. `status_code` and `response` stay
    NULL until the first request has its answer; meanwhile `claimed_until`
    says how long that request holds the key (after which a retry takes it
    over)."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    request_id: Mapped[str] = mapped_column(sa.String(36))
    status_code: Mapped[int | None]
    # The answer's JSON as it was sent, to the byte (JSONB would reorder its keys).
    response: Mapped[str | None] = mapped_column(sa.Text)
    # The sweep deletes every row older than a day, whoever's.
    created_at: Mapped[datetime] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]


# --- the outbox -------------------------------------------------------------------------


class OutboxRow(Base):
    """A mail about a ticket, to send (store/outbox.py; the mailer in
    activities/mailer.py sends it). Written in the transaction of the
    projection whose change it tells, so a mail is queued exactly when its
    change lands in the read model, and it costs the ticket's workflow no
    activity of its own.

    `key` names the mail the same way on every attempt of the workflow task
    that decided it (domain.ticket.TicketNotice.key): a retried projection
    queues it once. `seq` is the log line it belongs to: a projection that
    corrects that line (the committed attempt of a task whose earlier attempt
    was discarded) drops the queued mails the line no longer has. `notice` is
    the TicketNotice as JSON, rendered when sent (in the reader's language of
    that moment). `status`: queued, sent or failed; a queued mail is due at
    `next_attempt_at`, which a mailer moves ahead while it sends (its lease),
    so a mailer that dies mid-send leaves it to another after the lease."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    ticket_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(32))
    # The address, or for users' notices the username (looked up when sent).
    recipient: Mapped[str] = mapped_column(sa.String(320))
    to_customer: Mapped[bool]
    notice: Mapped[dict[str, Any]]
    # The mail's Message-ID header, by which a customer's answer threads back.
    message_id: Mapped[str] = mapped_column(sa.String(255), index=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # Why the last attempt failed (the mail server's answer).
    error: Mapped[str | None] = mapped_column(sa.Text)
