"""PolicyRolloutWorkflow: brings a workspace's configuration to every running
ticket of that workspace (escalation rules, segment managers, calendars).

One per workspace (id `policy-rollout-<workspace>`), started with a signal:
changes made while a roll-out runs are coalesced into one more pass, so the
last configuration always wins and no change is lost."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.contracts import ROLL_OUT_POLICY_ACTIVITY
CONFIGURATION_CHANGED = "configuration_changed"


def rollout_workflow_id(workspace_id: str) -> str:
    return f"policy-rollout-{workspace_id}"


@workflow.defn
class PolicyRolloutWorkflow:
    @workflow.init
    def __init__(self, workspace_id: str) -> None:
        self._changes_pending = 0
        self._passes = 0

    @workflow.signal(name=CONFIGURATION_CHANGED)
    def configuration_changed(self) -> None:
        self._changes_pending += 1

    @workflow.query(name="passes")
    def passes(self) -> int:
        return self._passes

    @workflow.run
    async def run(self, workspace_id: str) -> int:
        reached = 0
        while self._changes_pending:
            self._changes_pending = 0
            self._passes += 1
            reached = await workflow.execute_activity(
                ROLL_OUT_POLICY_ACTIVITY,
                workspace_id,
                result_type=int,
                start_to_close_timeout=timedelta(hours=1),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
        return reached
