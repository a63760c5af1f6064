"""Projection of ticket workflows into the read model.

The ticket workflow calls `project_ticket` after every change (as a local
activity from update handlers, so the caller reads its own write). The read
model is a projection: a write carries the ticket's version, and the store
ignores one older than what it holds, so a retried or late activity never rolls
a ticket back.

Every change of every ticket passes through here, so this is also where
cxloop's domain metrics are recorded (tickets created, escalations fired,
projection lag), through the Temporal SDK's metric meter: they are served with
the SDK's own metrics on the worker's Prometheus endpoint (observability.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from temporalio import activity

from domain.ticket import PROJECT_TICKET_ACTIVITY, EventKind, TicketEvent, TicketProjection, TicketState
from store.tickets import Applied

TICKETS_CREATED_METRIC = "cxloop_tickets_created"
ESCALATIONS_FIRED_METRIC = "cxloop_escalations_fired"
PROJECTION_LAG_METRIC = "cxloop_projection_lag_seconds"
# Seconds from a ticket's change to its landing in the read model: a few
# milliseconds when all is well, minutes while the read model is down and the
# workflow retries durably. (The SDK's default buckets are for milliseconds.)
PROJECTION_LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900]
# An escalation rule acts as "rule:<rule id>" (domain/commands.py).
RULE_ACTOR_PREFIX = "rule:"


class ProjectionStore(Protocol):
    def apply(self, projection: TicketProjection) -> Applied:
        """Write the projection; say whether its state landed and which of its
        log lines are new to the read model."""
        ...


class ProjectionActivities:
    def __init__(self, store: ProjectionStore | None) -> None:
        self._store = store

    @activity.defn(name=PROJECT_TICKET_ACTIVITY)
    def project_ticket(self, projection: TicketProjection) -> None:
        state = projection.state
        # Every line about this ticket carries its id, for a log store to find.
        about_ticket = {"ticket_id": state.id}
        if self._store is None:
            # No read model configured: the workflow stays the only record.
            activity.logger.info(
                "ticket %s v%d %s (no read model configured)", state.id, state.version, state.status.value,
                extra=about_ticket,
            )
            return
        applied = self._store.apply(projection)
        if not applied.written:
            # A retry of a projection that already landed, or one overtaken by
            # a later one.
            activity.logger.info(
                "ticket %s v%d already superseded in the read model", state.id, state.version, extra=about_ticket
            )
        # Only log lines new to the read model count: what a retry or a re-run
        # after a worker crash brings again was counted when it first landed.
        record_landed(state, applied.new_events, datetime.now(UTC))


def record_landed(state: TicketState, events: tuple[TicketEvent, ...], landed_at: datetime) -> None:
    """Count what log lines that just reached the read model tell: a new
    ticket, escalations fired by rules, and how long each line took to get
    there."""
    if not events:
        return
    meter = activity.metric_meter()
    about_ticket = {"ticket_id": state.id}
    lag = meter.create_histogram_float(
        PROJECTION_LAG_METRIC, "Seconds from a ticket's change to its landing in the read model", "s"
    )
    fired_by: set[str] = set()
    for event in events:
        # The worker's clock may run a little behind Temporal's: never negative.
        lag.record(max(0.0, (landed_at - event.at).total_seconds()))
        if event.kind is EventKind.CREATED:
            meter.create_counter(TICKETS_CREATED_METRIC, "Tickets created, by source").add(
                1, {"source": state.source.value}
            )
            activity.logger.info("ticket %s created (%s)", state.id, state.source.value, extra=about_ticket)
        elif event.kind is EventKind.ESCALATED_BY_RULE:
            # One firing writes a line per field it changes, all by the same rule.
            fired_by.add(event.actor.removeprefix(RULE_ACTOR_PREFIX))
    for rule_id in sorted(fired_by):
        meter.create_counter(ESCALATIONS_FIRED_METRIC, "Escalations fired by escalation rules, by rule").add(
            1, {"rule": rule_id}
        )
        activity.logger.info("ticket %s escalated by rule %s", state.id, rule_id, extra=about_ticket)
