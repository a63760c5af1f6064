"""Persistence: SQLAlchemy schema, engine and queries for the read model."""

from store.db import make_engine, migrate
from store.tickets import InvalidCursor, TicketFilters, TicketPage, TicketSort, TicketStore

__all__ = [
    "InvalidCursor",
    "TicketFilters",
    "TicketPage",
    "TicketSort",
    "TicketStore",
    "make_engine",
    "migrate",
]
