"""The raw Temporal baselines of bench.updates, one workflow with two updates:

- set_value: sets a field and returns it, nothing else (no validator, no
  activity, no search attributes). What a PATCH costs beyond this is
  cxloop's own.
- set_value_floor: the same, plus, with no domain logic, no database and no
  HTTP, what shared/DESIGN.md asks of every ticket change: it upserts the
  search attribute that changed, and/or awaits a local activity (which does
  nothing) before it answers. Its p95 against set_value's is the best ratio
  any PATCH built that way can reach on the same server.

Kept in a module of its own so that the workflow sandbox, which re-imports a
workflow's module for every run, imports only temporalio for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

# Registered on the bench's dev server with the tickets' attributes.
FLOOR_PRIORITY = SearchAttributeKey.for_keyword("TicketPriority")


@dataclass
class FloorChange:
    value: str
    upsert: bool
    local_activity: bool


@activity.defn(name="bench_floor_projection")
async def floor_projection(value: str) -> str:
    """Stands for the projection's write, at no cost."""
    return value


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

    @workflow.update(name="set_value_floor")
    async def set_value_floor(self, change: FloorChange) -> str:
        self._value = change.value
        if change.upsert:
            workflow.upsert_search_attributes([FLOOR_PRIORITY.value_set(change.value)])
        if change.local_activity:
            return await workflow.execute_local_activity(
                floor_projection, change.value, start_to_close_timeout=timedelta(seconds=10)
            )
        return self._value
