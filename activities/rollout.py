"""The configuration roll-out: find a workspace's running tickets by
visibility query, and its open tickets in the read model, and send each the
workspace's current policy.

Visibility alone would miss a ticket whose first projection landed before the
change but whose search attributes were not visible yet when the roll-out
asked (they are upserted when that workflow task completes, after the
projection, and visibility lags behind): the projection compared revisions
before the change, so nothing else would reach it until its next change. The
read model holds every such ticket, since its projection committed before the
check that came before the change. And visibility finds what the read model
may lack (a projection behind while the database was down).

The same command also goes to a single ticket from its projection
(activities/projection.py) when the ticket's copy of the policy is older than
the workspace's revision: one that started after a roll-out looked for it."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.commands import ReplacePolicy
from domain.contracts import ROLL_OUT_POLICY_ACTIVITY
from domain.ticket import TicketPolicy, workflow_id_for
from store.configuration import load_policy
from store.tickets import TicketStore

# Signals in flight at once: enough to roll out thousands of tickets in
# seconds without flooding the frontend.
SIGNAL_CONCURRENCY = 32
# TicketWorkflow's signal that takes a new policy.
REPLACE_POLICY_SIGNAL = "replace_policy"


def replace_policy_command(policy: TicketPolicy) -> ReplacePolicy:
    """What a ticket is sent to take its workspace's current policy, with the
    revision it was read at (the ticket's projection compares that revision
    with the workspace's)."""
    return ReplacePolicy(
        escalation_rules=policy.escalation_rules,
        segment_managers=policy.segment_managers,
        segment_calendars=policy.segment_calendars,
        revision=policy.revision,
        resolution_reasons=policy.resolution_reasons,
        resolution_reason_required=policy.resolution_reason_required,
    )


def running_tickets_query(workspace_id: str) -> str:
    return (
        "WorkflowType = 'TicketWorkflow' AND ExecutionStatus = 'Running' "
        f"AND TicketWorkspace = '{workspace_id.replace(chr(39), '')}'"
    )


class RolloutActivities:
    def __init__(self, client: Client, engine: Engine) -> None:
        self._client = client
        self._engine = engine

    @activity.defn(name=ROLL_OUT_POLICY_ACTIVITY)
    async def roll_out_policy(self, workspace_id: str) -> int:
        policy = await asyncio.to_thread(load_policy, self._engine, workspace_id)
        command = replace_policy_command(policy)
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
        reached = 0

        async def send(workflow_id: str) -> None:
            nonlocal reached
            async with gate:
                try:
                    await self._client.get_workflow_handle(workflow_id).signal(REPLACE_POLICY_SIGNAL, command)
                except RPCError as error:
                    if error.status is not RPCStatusCode.NOT_FOUND:
                        raise
                    # Closed since it was listed: it takes no policy any more.
                    return
                reached += 1
                activity.heartbeat(reached)

        pending: set[asyncio.Task] = set()

        async def add(workflow_id: str) -> None:
            nonlocal pending
            pending.add(asyncio.create_task(send(workflow_id)))
            if len(pending) >= 4 * SIGNAL_CONCURRENCY:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()

        listed: set[str] = set()
        async for execution in self._client.list_workflows(running_tickets_query(workspace_id)):
            listed.add(execution.id)
            await add(execution.id)
        projected = await asyncio.to_thread(TicketStore(self._engine).ticket_ids, workspace_id, open_only=True)
        for ticket_id in projected:
            if workflow_id_for(ticket_id) not in listed:
                await add(workflow_id_for(ticket_id))
        for task in asyncio.as_completed(pending):
            await task
        activity.logger.info("configuration of workspace %s sent to %d tickets", workspace_id, reached)
        return reached
