"""Projection of ticket workflows into the read model.

The ticket workflow calls `project_ticket` after every change (as a local
activity from update handlers, so the caller reads its own write). The read
model is a projection: a write carries the ticket's version, and the store
ignores one older than what it holds, so a retried or late activity never rolls
a ticket back.
"""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from domain.ticket import PROJECT_TICKET_ACTIVITY, TicketProjection


class ProjectionStore(Protocol):
    def apply(self, projection: TicketProjection) -> bool:
        """Write the projection; False when a newer version was already there."""
        ...


class ProjectionActivities:
    def __init__(self, store: ProjectionStore | None) -> None:
        self._store = store

    @activity.defn(name=PROJECT_TICKET_ACTIVITY)
    def project_ticket(self, projection: TicketProjection) -> None:
        state = projection.state
        if self._store is None:
            # No read model configured: the workflow stays the only record.
            activity.logger.info(
                "ticket %s v%d %s (no read model configured)", state.id, state.version, state.status.value
            )
            return
        applied = self._store.apply(projection)
        if not applied:
            activity.logger.info("ticket %s v%d already superseded in the read model", state.id, state.version)
