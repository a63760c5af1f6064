"""The configuration roll-out: find a workspace's running tickets by
visibility query and send each the workspace's current policy."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from domain.commands import ReplacePolicy
from domain.contracts import ROLL_OUT_POLICY_ACTIVITY
from store.configuration import load_policy

# Signals in flight at once: enough to roll out thousands of tickets in
# seconds without flooding the frontend.
SIGNAL_CONCURRENCY = 32


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
        command = ReplacePolicy(
            escalation_rules=policy.escalation_rules,
            segment_managers=policy.segment_managers,
            segment_calendars=policy.segment_calendars,
        )
        gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
        reached = 0

        async def send(workflow_id: str) -> None:
            nonlocal reached
            async with gate:
                await self._client.get_workflow_handle(workflow_id).signal("replace_policy", command)
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
