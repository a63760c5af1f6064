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

It is also where a ticket's copy of its workspace's configuration is checked.
A ticket's policy is read when it is started (the API, or an intake activity)
and from then on changes only when a configuration roll-out signals it; a
roll-out finds tickets by visibility, so a ticket whose policy was read before
a change but which started (or first ran) after the roll-out's query would
keep the old configuration. Each projection carries the revision of the
ticket's policy: when the workspace's is newer, the ticket is sent the current
policy here, by workflow id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from activities.rollout import REPLACE_POLICY_SIGNAL, replace_policy_command
from domain.ticket import (
    PROJECT_TICKET_ACTIVITY,
    EventKind,
    TicketEvent,
    TicketProjection,
    TicketState,
    workflow_id_for,
)
from store.configuration import load_policy, workspace_revision
from store.tickets import Applied

TICKETS_CREATED_METRIC = "cxloop_tickets_created"
ESCALATIONS_FIRED_METRIC = "cxloop_escalations_fired"
PROJECTION_LAG_METRIC = "cxloop_projection_lag_seconds"
# Log lines of the read model that a workflow task which never committed had
# written, corrected by the committed task's projection (store/tickets.py).
# Expected now and then under concurrent updates (the server discards
# speculative update tasks); a steady rise means tasks fail for another reason.
PROJECTION_REPAIRS_METRIC = "cxloop_projection_repairs"
# Seconds from a ticket's change to its landing in the read model: a few
# milliseconds when all is well, minutes while the read model is down and the
# workflow retries durably. (The SDK's default buckets are for milliseconds.)
PROJECTION_LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900]
# An escalation rule acts as "rule:<rule id>" (domain/commands.py).
RULE_ACTOR_PREFIX = "rule:"
# How long a projection waits for the signal that corrects a ticket's policy;
# well inside the local activity's 10 s.
POLICY_SIGNAL_TIMEOUT = timedelta(seconds=5)


class ProjectionStore(Protocol):
    # The read model, which holds the workspaces' configuration too.
    engine: Engine

    def apply(self, projection: TicketProjection) -> Applied:
        """Write the projection; say whether its state landed and which of its
        log lines are new to the read model."""
        ...


class ProjectionActivities:
    def __init__(self, store: ProjectionStore | None, client: Client | None = None) -> None:
        """With a `client` (and a store), a ticket whose policy is older than
        its workspace's configuration is sent the current one. Build it on the
        event loop the client runs on: the projection runs in a worker thread
        and hands the signal to that loop."""
        self._store = store
        self._client = client
        self._loop = asyncio.get_running_loop() if client is not None and store is not None else None

    @activity.defn(name=PROJECT_TICKET_ACTIVITY)
    def project_ticket(self, projection: TicketProjection) -> None:
        # Of two projections decided at the same time (two attempts of one
        # workflow task), the one that started later wins (store/tickets.py).
        started = datetime.now(UTC)
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
        applied = self._store.apply(projection, projected_at=started)
        if not applied.written:
            # Overtaken by a later decision, or a late write of an attempt
            # that ran earlier.
            activity.logger.info(
                "ticket %s v%d already superseded in the read model", state.id, state.version, extra=about_ticket
            )
        # Only log lines new to the read model count: what a retry or a re-run
        # after a worker crash brings again was counted when it first landed.
        record_landed(state, applied.new_events, datetime.now(UTC))
        if applied.repaired:
            record_repaired(state, applied.repaired)
        if self._loop is not None:
            self._correct_policy(self._store.engine, projection)

    def _correct_policy(self, engine: Engine, projection: TicketProjection) -> None:
        """Send the ticket its workspace's current policy if its copy is older.
        By workflow id, which needs no visibility: a ticket is corrected at its
        very first projection."""
        state = projection.state
        # None: a ticket started before revisions existed (roll-outs still
        # reach it); a finished ticket takes no new policy.
        if projection.policy_revision is None or state.finished or not state.workspace_id:
            return
        about_ticket = {"ticket_id": state.id}
        try:
            current = workspace_revision(engine, state.workspace_id)
            if current is None or current <= projection.policy_revision:
                return
            command = replace_policy_command(load_policy(engine, state.workspace_id))
            handle = self._client.get_workflow_handle(workflow_id_for(state.id))
            signal = handle.signal(REPLACE_POLICY_SIGNAL, command, rpc_timeout=POLICY_SIGNAL_TIMEOUT)
            asyncio.run_coroutine_threadsafe(signal, self._loop).result(POLICY_SIGNAL_TIMEOUT.total_seconds())
        except Exception:
            # The projection has landed and must not fail for this: the
            # ticket's next projection finds the old revision and tries again.
            activity.logger.warning(
                "ticket %s holds configuration revision %s; sending it the current one failed",
                state.id, projection.policy_revision, exc_info=True, extra=about_ticket,
            )
            return
        activity.logger.info(
            "ticket %s held configuration revision %s of workspace %s, now %s: sent it the current policy",
            state.id, projection.policy_revision, state.workspace_id, command.revision, extra=about_ticket,
        )


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


def record_repaired(state: TicketState, lines: int) -> None:
    """Count the read model's log lines that this projection corrected."""
    activity.metric_meter().create_counter(
        PROJECTION_REPAIRS_METRIC, "Read-model log lines of uncommitted workflow tasks, corrected"
    ).add(lines)
    activity.logger.info(
        "ticket %s: corrected %d log line(s) written by a workflow task that did not commit",
        state.id, lines, extra={"ticket_id": state.id},
    )
