"""The raw baseline of bench.intake: a workflow that completes as soon as it
starts. A module of its own so the sandbox re-imports only temporalio for it."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchStartOnly")
class StartOnlyWorkflow:
    @workflow.run
    async def run(self) -> None:
        return None
