"""The outbox's queries (the table: store/models.py OutboxRow).

Queueing runs inside the projection's transaction (store/tickets.py calls
`queue` with its connection); the mailer (activities/mailer.py) claims due
mails, sends them outside any transaction, and records how it went. Claims
take a lease by moving `next_attempt_at` ahead: on PostgreSQL any number of
mailers claim at once (`FOR UPDATE SKIP LOCKED`), on SQLite the write lock
lets one claim at a time. A mail is marked sent only after the mail server
accepted it, so a mailer that dies in between leaves it to be sent again
once the lease runs out (at least once; its Message-ID lets a mail client
drop the duplicate).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from domain.ticket import TicketNotice
from store.db import dialect_insert, write_transaction
from store.models import OutboxRow

outbox = OutboxRow.__table__

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"


def message_id_for(key: str, domain: str = "cxloop.localhost") -> str:
    """A mail's Message-ID: a digest of its outbox key (no id of ours travels
    in a header), the same on every attempt."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def queue(
    connection: Connection, ticket_id: str, notices: Sequence[TicketNotice], carried_seqs: Sequence[int],
    version: int, now: datetime, settle: timedelta,
) -> int:
    """Queue the winning projection's mails, and drop the queued (not yet
    sent) mails that the committed history does not have: those of the log
    lines this projection carries under other keys, and those of lines beyond
    its version. Answers how many were dropped.

    A mail is due `settle` after it is queued: long enough for the committed
    attempt of a task that the server discarded (which runs within moments)
    to correct what the discarded one queued."""
    carried = set(carried_seqs) | {notice.version for notice in notices}
    keys = [notice.key for notice in notices if notice.key]
    dropped = connection.execute(
        delete(outbox).where(
            outbox.c.ticket_id == ticket_id,
            outbox.c.status == QUEUED,
            (outbox.c.seq > version) | and_(outbox.c.seq.in_(carried), outbox.c.key.not_in(keys)),
        )
    ).rowcount
    rows = [
        {
            "key": notice.key, "ticket_id": ticket_id, "seq": notice.version, "kind": notice.kind.value,
            "recipient": notice.to, "to_customer": notice.kind.to_customer,
            "notice": notice.model_dump(mode="json"), "message_id": message_id_for(notice.key),
            "status": QUEUED, "attempts": 0, "created_at": now, "next_attempt_at": now + settle,
        }
        for notice in notices if notice.key
    ]
    if rows:
        stmt = dialect_insert(connection.dialect.name, outbox)
        # The same mail from another attempt of its task: it keeps its state
        # (a mail sent is never sent again) and takes the committed line.
        connection.execute(
            stmt.on_conflict_do_update(
                index_elements=[outbox.c.key],
                set_={"seq": stmt.excluded.seq},
            ),
            rows,
        )
    return dropped


@dataclass(frozen=True)
class Claimed:
    key: str
    ticket_id: str
    notice: TicketNotice
    message_id: str
    attempts: int
    created_at: datetime


def claim(engine: Engine, now: datetime, lease: timedelta, limit: int = 10) -> list[Claimed]:
    """Take up to `limit` due mails for `lease`: no other mailer takes them
    meanwhile."""
    with write_transaction(engine) as connection:
        due = (
            select(outbox.c.key, outbox.c.ticket_id, outbox.c.notice, outbox.c.message_id, outbox.c.attempts,
                   outbox.c.created_at)
            .where(outbox.c.status == QUEUED, outbox.c.next_attempt_at <= now)
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = connection.execute(due).all()
        if not rows:
            return []
        connection.execute(
            update(outbox)
            .where(outbox.c.key.in_([row.key for row in rows]))
            .values(next_attempt_at=now + lease, attempts=outbox.c.attempts + 1)
        )
    return [
        Claimed(row.key, row.ticket_id, TicketNotice.model_validate(row.notice), row.message_id, row.attempts + 1,
                row.created_at)
        for row in rows
    ]


def mark_sent(engine: Engine, key: str, at: datetime) -> None:
    with write_transaction(engine) as connection:
        connection.execute(update(outbox).where(outbox.c.key == key).values(status=SENT, sent_at=at, error=None))


def retry_later(engine: Engine, key: str, error: str, at: datetime) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(outbox).where(outbox.c.key == key, outbox.c.status == QUEUED).values(next_attempt_at=at, error=error)
        )


def mark_failed(engine: Engine, key: str, error: str) -> None:
    with write_transaction(engine) as connection:
        connection.execute(update(outbox).where(outbox.c.key == key).values(status=FAILED, error=error))


def queue_one(engine: Engine, notice: TicketNotice, now: datetime) -> None:
    """A mail the mailer itself decides (the owner told of a failed one): due
    at once, queued once."""
    with write_transaction(engine) as connection:
        stmt = dialect_insert(connection.dialect.name, outbox).values(
            key=notice.key, ticket_id=notice.ticket_id, seq=notice.version, kind=notice.kind.value,
            recipient=notice.to, to_customer=notice.kind.to_customer, notice=notice.model_dump(mode="json"),
            message_id=message_id_for(notice.key), status=QUEUED, attempts=0, created_at=now, next_attempt_at=now,
        )
        connection.execute(stmt.on_conflict_do_nothing(index_elements=[outbox.c.key]))


@dataclass(frozen=True)
class Delivery:
    """What became of one mail, for the ticket's thread and page."""

    key: str
    seq: int
    kind: str
    recipient: str
    to_customer: bool
    message_id: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    error: str | None


def deliveries(engine: Engine, ticket_id: str) -> list[Delivery]:
    """Every mail of a ticket, in the order its changes were made."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(outbox.c.key, outbox.c.seq, outbox.c.kind, outbox.c.recipient, outbox.c.to_customer,
                   outbox.c.message_id, outbox.c.status, outbox.c.attempts, outbox.c.created_at, outbox.c.sent_at,
                   outbox.c.error)
            .where(outbox.c.ticket_id == ticket_id)
            .order_by(outbox.c.seq, outbox.c.created_at)
        ).all()
    return [Delivery(*row) for row in rows]


def pending_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(outbox).where(outbox.c.status == QUEUED)) or 0


def ticket_of_message(engine: Engine, message_id: str) -> str | None:
    """The ticket whose mail carried this Message-ID (a customer's answer
    names it in In-Reply-To or References)."""
    with engine.connect() as connection:
        return connection.scalar(select(outbox.c.ticket_id).where(outbox.c.message_id == message_id).limit(1))
