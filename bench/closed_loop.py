"""What one closed loop costs in Temporal Cloud billable actions.

    make bench-closed-loop

On a dev server, with cxloop's worker projecting into a SQLite read model and
its mailer sending to a local SMTP sink: a detractor's ticket is owned,
opened, replied to by mail, gets the customer's answer, is resolved (the
"Is it solved?" mail) and confirmed by the customer (the scenario
tests/record_histories.py records as `closed_loop`). Its history's billable
actions (bench/billing.py) are printed by kind, beside the same steps on a
raw workflow that does nothing (one start, one bare update per step), and
their ratio: what cxloop adds is the projection of each change (one
local-activity task each), the search attributes operators find tickets by,
and the escalation timer; mails add nothing.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import Counter

from sqlalchemy import select
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare_workflow import BareWorkflow
from bench.billing import KINDS, billable_actions, workflow_tasks
from bench.harness import machine_line, ratio, section, stdout_to_stderr, table
from bench.updates import DEV_SERVER_PRAGMAS, TEMPORAL_CLI
from store import outbox
from store.models import OutboxRow
from tests.record_histories import closed_loop, cxloop_worker
from workflows.ticket import SEARCH_ATTRIBUTES

# The closed loop's steps after the start, each an update of the ticket's.
STEPS = 6


def events_of(history: WorkflowHistory) -> list[dict]:
    return json.loads(history.to_json())["events"]


async def raw_floor(env: WorkflowEnvironment) -> WorkflowHistory:
    """The same steps on a workflow that does nothing: a start, six updates."""
    task_queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=task_queue, workflows=[BareWorkflow]):
        handle = await env.client.start_workflow(BareWorkflow.run, id=f"raw-{uuid.uuid4()}", task_queue=task_queue)
        for step in range(STEPS):
            await handle.execute_update(BareWorkflow.set_value, f"step {step}")
        history = await handle.fetch_history()
        await handle.terminate("measured")
    return history


async def sent_mails(engine, seconds: float = 15) -> Counter[str]:
    """The loop's mails by kind, once the mailer has sent them all (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while outbox.pending_count(engine) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    with engine.connect() as connection:
        return Counter(row.kind for row in connection.execute(select(OutboxRow.kind).where(OutboxRow.status == "sent")))


async def main() -> int:
    with stdout_to_stderr():
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(TEMPORAL_CLI), search_attributes=SEARCH_ATTRIBUTES,
            data_converter=pydantic_data_converter, dev_server_extra_args=DEV_SERVER_PRAGMAS,
        )
    async with env:
        async with cxloop_worker(env) as (task_queue, engine):
            [ticket] = await closed_loop(env, task_queue)
            mails = await sent_mails(engine)
        raw = await raw_floor(env)

    ticket_events, raw_events = events_of(ticket), events_of(raw)
    cxloop, floor = billable_actions(ticket_events), billable_actions(raw_events)
    section("One closed loop: billable actions of the ticket's history")
    print(machine_line())
    rows = [[kind, str(cxloop[kind]), str(floor[kind])] for kind in KINDS]
    rows.append(["total", str(sum(cxloop.values())), str(sum(floor.values()))])
    rows.append(["workflow tasks", str(workflow_tasks(ticket_events)), str(workflow_tasks(raw_events))])
    print(table(["action", "cxloop ticket", "raw workflow, same steps"], rows))
    print(f"ratio to raw Temporal: {ratio(sum(cxloop.values()), sum(floor.values()))}")
    print(f"mails sent through the outbox: {dict(mails)}; activities: {cxloop['activity']}")
    unexpected = Counter({kind: n for kind, n in cxloop.items() if kind not in KINDS})
    return 1 if cxloop["activity"] or unexpected else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
