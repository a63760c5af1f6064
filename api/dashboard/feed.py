"""The feed: tickets' latest log lines, newest first, and the live stream of
new ones (server-sent events).

The stream polls the read model's `ticket_events` table, about once a second,
for the lines of the workspace's tickets that match the view's filters. A log
line's `at` is the time of the change in its workflow; the projection that
writes it may land a moment later, and projections of different tickets are
not ordered, so each poll looks a little behind the newest line seen
(OVERLAP) and skips the lines it already sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from domain.ticket import Priority, TicketEvent, TicketStatus
from store.db import reading
from store.tickets import EVENT_COLUMNS, TicketFilters, filter_conditions, ticket_events, tickets

POLL_SECONDS = 1.0
OVERLAP = timedelta(seconds=10)
# An EventSource reconnects by itself (with Last-Event-ID); ending each stream
# after a while keeps a forgotten tab from holding a connection for ever.
STREAM_SECONDS = 300
KEEPALIVE_SECONDS = 15
LATEST = 50
BATCH = 200

TICKET_COLUMNS = [
    tickets.c.reference,
    tickets.c.customer_email,
    tickets.c.status,
    tickets.c.priority,
    tickets.c.segment,
    tickets.c.owner,
]


@dataclass(frozen=True)
class FeedItem:
    ticket_id: str
    reference: str
    customer_email: str
    status: TicketStatus
    priority: Priority
    segment: str
    owner: str | None
    event: TicketEvent

    @property
    def key(self) -> str:
        return f"{self.ticket_id}:{self.event.seq}"


def _select(filters: TicketFilters):
    return (
        select(ticket_events.c.ticket_id, *EVENT_COLUMNS, *TICKET_COLUMNS)
        .join(tickets, tickets.c.id == ticket_events.c.ticket_id)
        .where(*filter_conditions(filters))
    )


def _items(engine: Engine, stmt) -> list[FeedItem]:
    with reading(engine) as connection:
        rows = connection.execute(stmt).mappings().all()
    return [
        FeedItem(
            ticket_id=row["ticket_id"],
            reference=row["reference"],
            customer_email=row["customer_email"],
            status=row["status"],
            priority=row["priority"],
            segment=row["segment"],
            owner=row["owner"],
            event=TicketEvent.model_validate({c.name: row[c.name] for c in EVENT_COLUMNS}),
        )
        for row in rows
    ]


def latest(engine: Engine, filters: TicketFilters, limit: int = LATEST) -> list[FeedItem]:
    """The newest log lines of the matching tickets, newest first."""
    c = ticket_events.c
    return _items(engine, _select(filters).order_by(c.at.desc(), c.ticket_id, c.seq.desc()).limit(limit))


def since(engine: Engine, filters: TicketFilters, moment: datetime, limit: int = BATCH) -> list[FeedItem]:
    """Log lines at or after `moment`, oldest first."""
    c = ticket_events.c
    return _items(
        engine, _select(filters).where(c.at >= moment).order_by(c.at, c.ticket_id, c.seq).limit(limit)
    )


class Watermark:
    """What a stream has sent: the newest time seen and the keys near it."""

    def __init__(self, start: datetime) -> None:
        self.newest = start
        self._sent: dict[str, datetime] = {}

    @property
    def poll_from(self) -> datetime:
        return self.newest - OVERLAP

    def take(self, items: list[FeedItem]) -> list[FeedItem]:
        fresh = [item for item in items if item.key not in self._sent]
        for item in fresh:
            self._sent[item.key] = item.event.at
            self.newest = max(self.newest, item.event.at)
        horizon = self.poll_from
        # Keys older than any future poll cannot come back: forget them.
        self._sent = {key: at for key, at in self._sent.items() if at >= horizon}
        return fresh
