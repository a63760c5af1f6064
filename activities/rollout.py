"""The configuration roll-out: find a workspace's running tickets by
visibility query and send each the workspace's current policy.

The same command also goes to a single ticket from its projection
(activities/projection.py) when the ticket's copy of the policy is older than
the workspace's revision: one that started after a roll-out looked for it."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from domain.commands import ReplacePolicy
from domain.contracts import ROLL_OUT_POLICY_ACTIVITY
from domain.ticket import TicketPolicy
from store.configuration import load_policy

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
                await self._client.get_workflow_handle(workflow_id).signal(REPLACE_POLICY_SIGNAL, command)
                reached += 1
                activity.heartbeat(reached)

        pending: set[asyncio.Task] = set()
        async for execution in self._client.list_workflows(running_tickets_query(workspace_id)):
            pending.add(asyncio.create_task(send(execution.id)))
            if len(pending) >= 4 * SIGNAL_CONCURRENCY:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        for task in asyncio.as_completed(pending):
            await task
        activity.logger.info("configuration of workspace %s sent to %d tickets", workspace_id, reached)
        return reached
