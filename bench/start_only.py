"""The raw baselines of bench.intake. A module of its own so the sandbox
re-imports only temporalio for them.

- StartOnlyWorkflow: completes as soon as it starts.
- FloorResponseWorkflow: starts one StartOnlyWorkflow as a child it leaves
  running, then completes: what shared/DESIGN.md's intake flow does for each
  response (a response workflow that starts the ticket's workflow), with no
  rules, no database and no HTTP. Its rate, children completed per second, is
  the best any intake built that way can reach on the same server.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchStartOnly")
class StartOnlyWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(name="BenchFloorResponse")
class FloorResponseWorkflow:
    @workflow.run
    async def run(self, ticket_workflow_id: str) -> None:
        await workflow.start_child_workflow(
            StartOnlyWorkflow.run,
            id=ticket_workflow_id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
