"""Record the ticket workflow histories that tests/test_replay.py replays.

    make record-histories

Run it when a change to workflow code is meant to change its commands: first
guard the change with `workflow.patched(...)`, keep the histories already
committed (they prove old runs still replay), and add new ones recorded with
the new code under a new name. Each scenario runs on the time-skipping server
so its timers fire without waiting.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.commands import Command, CustomerReply, NewTicket, ReplacePolicy, SnoozeCommand, TicketChange
from domain.escalation import EscalationRule
from domain.ticket import Source, TicketPolicy, workflow_id_for
from worker import build_worker
from workflows.ticket import TicketWorkflow, TicketWorkflowInput

HISTORIES = Path(__file__).parent / "histories"
MANAGERS = {"retail": ["ann"], "b2b": ["bob", "cy"]}


async def full_lifecycle(env: WorkflowEnvironment, task_queue: str) -> list[WorkflowHistory]:
    """Created from a survey; edited, commented, snoozed and woken, escalated by
    rule after a rule change, resolved, reopened by the customer, resolved and
    auto-closed; with a rejected signal on the way."""
    client = env.client
    ticket_id = str(uuid.uuid4())
    policy = TicketPolicy(
        segment_managers=MANAGERS,
        escalation_rules=[EscalationRule(id="slow", name="4h", after=timedelta(hours=4), assignee="lead")],
        verification_window=timedelta(days=2),
    )
    new = NewTicket(
        id=ticket_id, source=Source.SURVEY, survey_id="nps-q4", response_id="resp-42",
        customer_email="pat@example.com", customer_name="Pat", segment="retail",
        customer_comment="Delivery was late", score=3, comment="Detractor: score 3",
    )
    handle = await client.start_workflow(
        TicketWorkflow.run, TicketWorkflowInput(new=new, policy=policy),
        id=workflow_id_for(ticket_id), task_queue=task_queue,
    )
    await handle.execute_update(TicketWorkflow.change, TicketChange(status="open", priority="high", comment="Looking", actor="ann"))
    await handle.execute_update(TicketWorkflow.comment, Command(comment="Called, no answer", actor="ann"))
    await handle.signal("change", {"status": "closed", "comment": "skip"})
    until = await env.get_current_time() + timedelta(hours=2)
    await handle.execute_update(TicketWorkflow.snooze, SnoozeCommand(until=until, comment="Call back later", actor="ann"))
    await env.sleep(timedelta(hours=3))
    await handle.execute_update(
        TicketWorkflow.replace_policy,
        ReplacePolicy(escalation_rules=[EscalationRule(id="slow", name="90m", after=timedelta(minutes=90), assignee="lead")]),
    )
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status="resolved", comment="Refund sent", actor="lead"))
    await handle.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="Refund not received"))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status="resolved", comment="Refund resent", actor="lead"))
    await handle.result()
    return [await handle.fetch_history()]


async def continued_as_new(env: WorkflowEnvironment, task_queue: str) -> list[WorkflowHistory]:
    """A busy ticket that continues as new after 5 changes: both runs."""
    client = env.client
    ticket_id = str(uuid.uuid4())
    new = NewTicket(id=ticket_id, source=Source.MANUAL, customer_email="sam@example.com", segment="b2b",
                    owner="bob", comment="Phoned in")
    handle = await client.start_workflow(
        TicketWorkflow.run,
        TicketWorkflowInput(new=new, policy=TicketPolicy(segment_managers=MANAGERS), max_changes_per_run=5),
        id=workflow_id_for(ticket_id), task_queue=task_queue,
    )
    first_run = (await handle.describe()).run_id
    for i in range(7):
        await handle.execute_update(TicketWorkflow.comment, Command(comment=f"note {i}", actor="bob"))
    await handle.execute_update(TicketWorkflow.delete, Command(comment="duplicate", actor="bob"))
    await handle.execute_update(TicketWorkflow.purge, Command(comment="purge", actor="bob"))
    await handle.result()
    first = client.get_workflow_handle(handle.id, run_id=first_run)
    return [await first.fetch_history(), await handle.fetch_history()]


SCENARIOS = {"full_lifecycle": full_lifecycle, "continued_as_new": continued_as_new}


async def record_all(env: WorkflowEnvironment) -> dict[str, list[WorkflowHistory]]:
    task_queue = f"record-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, task_queue, activity_executor=ThreadPoolExecutor(4)):
        return {name: await scenario(env, task_queue) for name, scenario in SCENARIOS.items()}


async def main(version: str) -> None:
    from tests.conftest import TEST_SERVER, register_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(TEST_SERVER)
    ) as env:
        await register_search_attributes(env.client)
        recorded = await record_all(env)
    HISTORIES.mkdir(exist_ok=True)
    for name, histories in recorded.items():
        for run, history in enumerate(histories, start=1):
            path = HISTORIES / f"ticket_{version}_{name}_run{run}.json"
            path.write_text(history.to_json())
            print(f"recorded {path} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "v1"))
