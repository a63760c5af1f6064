"""The raw Temporal baseline of bench.updates: a workflow with one update that
sets a field and returns it, nothing else (no validator, no activity, no
search attributes). What a PATCH costs beyond this is cxloop's own.

Kept in a module of its own so that the workflow sandbox, which re-imports a
workflow's module for every run, imports only temporalio for it.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self._value = ""

    @workflow.run
    async def run(self) -> str:
        # Lives until the dev server goes away with the benchmark.
        await workflow.wait_condition(lambda: False)
        return self._value

    @workflow.update(name="set_value")
    def set_value(self, value: str) -> str:
        self._value = value
        return self._value
