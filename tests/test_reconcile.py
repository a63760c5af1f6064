"""reconcile.py on the shared dev server, a real worker projecting into a
fresh read model, on SQLite and on PostgreSQL: tickets are created and
changed, the read model is damaged in every way it can go wrong, and reconcile
reports each damage, repairs it from the workflows, and then finds nothing.
The command line runs too, as a subprocess against the dev server and a
SQLite file."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.commands import Command, NewTicket, TicketChange, decide_create
from domain.ticket import Priority, Source, TicketProjection, TicketState, TicketStatus, workflow_id_for
from reconcile import ReconcileResult, TicketFix, compare, listed_ticket_ids, reconcile
from store.db import make_engine, migrate, write_transaction
from store.models import PRIORITY_RANK
from store.tickets import TicketStore, purged_tickets, ticket_events, tickets
from tests.api_fixtures import eventually
from tests.conftest import TicketEnv, default_policy
from worker import build_worker
from workflows.ticket import TicketWorkflow

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ReadModelWorker:
    """A cxloop worker on the dev server whose tickets project into `store`,
    and one workspace of tickets to work with."""

    tickets: TicketEnv
    store: TicketStore
    workspace: str

    @property
    def client(self) -> Client:
        return self.tickets.client

    @property
    def engine(self) -> Engine:
        return self.store.engine

    async def start_ticket(self, **fields: Any) -> TicketState:
        """A new ticket of the workspace, once the read model holds it."""
        handle = await self.tickets.start_ticket(workspace_id=self.workspace, **fields)
        return await handle.execute_update(TicketWorkflow.sync)

    def handle(self, ticket: TicketState) -> WorkflowHandle:
        # No run id: the latest run, also after the ticket continued as new.
        return self.client.get_workflow_handle_for(TicketWorkflow.run, workflow_id_for(ticket.id))

    async def change(self, ticket: TicketState, **fields: Any) -> TicketState:
        """A change, answered once the read model holds it."""
        command = TicketChange(comment="Called the customer back", actor="ann", **fields)
        return await self.handle(ticket).execute_update(TicketWorkflow.change, command)

    async def reconcile(self, **options: Any) -> tuple[ReconcileResult, set[str]]:
        lines: list[str] = []
        result = await reconcile(self.client, self.engine, workspace_id=self.workspace, report=lines.append, **options)
        assert len(lines) == len(set(lines)), lines
        return result, set(lines)

    async def wait_until_listed(self, *tickets_: TicketState) -> None:
        """Visibility on the dev server lags the workflows a little."""
        wanted = {ticket.id for ticket in tickets_}

        async def listed() -> bool:
            return await listed_ticket_ids(self.client, self.workspace) == wanted

        await eventually(listed, f"visibility lists tickets {wanted}")

    async def wait_until_runs_listed(self, ticket: TicketState, runs: int) -> None:
        query = f"WorkflowId = '{workflow_id_for(ticket.id)}'"

        async def listed() -> bool:
            return len([run async for run in self.client.list_workflows(query)]) >= runs

        await eventually(listed, f"visibility lists {runs} runs of ticket {ticket.id}")


@pytest.fixture
async def read_model(dev_server: WorkflowEnvironment, database_url: str) -> AsyncIterator[ReadModelWorker]:
    migrate(database_url)
    engine = make_engine(database_url)
    task_queue = f"cxloop-reconcile-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        dev_server.client, task_queue, engine=engine,
        activity_executor=ThreadPoolExecutor(max_workers=4),
        workflow_failure_exception_types=[Exception],
    )
    try:
        async with worker:
            tickets_ = TicketEnv("dev", dev_server, task_queue, unit=timedelta(seconds=1))
            yield ReadModelWorker(tickets_, TicketStore(engine), f"ws-{uuid.uuid4().hex[:8]}")
    finally:
        engine.dispose()


# --- damaging the read model, as a restored backup, a hand edit or a lost workflow task would ---


def damage(engine: Engine, *statements: Any) -> None:
    with write_transaction(engine) as connection:
        for statement in statements:
            connection.execute(statement)


def delete_row(ticket: TicketState) -> list[Any]:
    return [
        delete(ticket_events).where(ticket_events.c.ticket_id == ticket.id),
        delete(tickets).where(tickets.c.id == ticket.id),
    ]


def set_row(ticket: TicketState, **values: Any) -> Any:
    return update(tickets).where(tickets.c.id == ticket.id).values(**values)


def read_model_snapshot(engine: Engine, workspace: str) -> dict[str, list[tuple]]:
    """Every row the workspace's tickets have in the read model."""
    ids = select(tickets.c.id).where(tickets.c.workspace_id == workspace)
    with engine.connect() as connection:
        return {
            "tickets": list(connection.execute(select(tickets).where(tickets.c.workspace_id == workspace)
                                               .order_by(tickets.c.id))),
            "ticket_events": list(connection.execute(select(ticket_events).where(ticket_events.c.ticket_id.in_(ids))
                                                     .order_by(ticket_events.c.ticket_id, ticket_events.c.seq))),
            "purged_tickets": list(connection.execute(select(purged_tickets).order_by(purged_tickets.c.ticket_id))),
        }


async def assert_read_model_matches_workflows(read_model: ReadModelWorker, *tickets_: TicketState) -> None:
    for ticket in tickets_:
        handle = read_model.handle(ticket)
        truth = await handle.query(TicketWorkflow.query_state)
        if truth.purged:
            assert read_model.store.get(ticket.id) is None
            assert read_model.store.events(ticket.id) == []
            continue
        assert read_model.store.get(ticket.id) == truth
        assert read_model.store.events(ticket.id) == await handle.query(TicketWorkflow.query_log)


# --- the tests ---------------------------------------------------------------------


async def test_reconcile_reports_and_repairs_every_kind_of_damage(read_model: ReadModelWorker) -> None:
    rm = read_model
    # Tickets created and changed, running and closed, one continued as new.
    untouched = await rm.start_ticket()
    await rm.change(untouched, priority=Priority.HIGH)

    row_deleted = await rm.start_ticket()
    row_deleted = await rm.change(row_deleted, status=TicketStatus.OPEN)

    rolled_back = await rm.start_ticket(segment="b2b", owner="bob")
    earlier = await rm.change(rolled_back, status=TicketStatus.OPEN)
    rolled_back = await rm.change(rolled_back, status=TicketStatus.ANSWERED, owner="cy")

    ahead = await rm.start_ticket()
    ahead = await rm.change(ahead, priority=Priority.HIGH)

    log_deleted = await rm.start_ticket()
    await rm.change(log_deleted, status=TicketStatus.OPEN)
    log_deleted = await rm.change(log_deleted, priority=Priority.LOW)

    log_tampered = await rm.start_ticket()
    log_tampered = await rm.change(log_tampered, status=TicketStatus.OPEN)

    closed = await rm.start_ticket()
    resolved = await rm.change(closed, status=TicketStatus.RESOLVED)
    closed = await rm.change(closed, status=TicketStatus.CLOSED)
    await rm.handle(closed).result()  # closed: the workflow has completed

    purged = await rm.start_ticket()
    deleted = await rm.change(purged, status=TicketStatus.DELETED)
    await rm.handle(purged).execute_update(TicketWorkflow.purge, Command(comment="Customer asked", actor="ann"))
    await rm.handle(purged).result()

    continued = await rm.start_ticket(max_changes_per_run=2)
    for priority in (Priority.HIGH, Priority.CRITICAL, Priority.LOW):
        continued = await rm.change(continued, priority=priority)
    # Visibility lists each run: reconcile must check the ticket once, as its latest run holds it.
    await rm.wait_until_runs_listed(continued, runs=2)

    everything = [untouched, row_deleted, rolled_back, ahead, log_deleted, log_tampered, closed, purged, continued]
    await rm.wait_until_listed(*everything)
    # Ticket ids are not guessable here: the orphan's is new.
    orphan = untouched.model_copy(update={"id": str(uuid.uuid4())})

    first_event = rm.store.events(log_tampered.id)[0]
    damage(
        rm.engine,
        *delete_row(row_deleted),
        *delete_row(continued),
        set_row(rolled_back, status=earlier.status, owner=earlier.owner, version=earlier.version),
        set_row(ahead, priority=Priority.LOW, priority_rank=PRIORITY_RANK[Priority.LOW], version=99),
        delete(ticket_events).where(ticket_events.c.ticket_id == log_deleted.id, ticket_events.c.seq > 1),
        insert(ticket_events).values(
            ticket_id=log_tampered.id, **first_event.model_copy(update={"seq": 100}).model_dump()
        ),
        update(ticket_events)
        .where(ticket_events.c.ticket_id == log_tampered.id, ticket_events.c.seq == first_event.seq)
        .values(comment="edited by hand"),
        set_row(closed, status=resolved.status, version=resolved.version),
        # A purged ticket back from an old backup (its tombstone stays).
        insert(tickets).values(**{**deleted.model_dump(), "priority_rank": PRIORITY_RANK[deleted.priority]}),
        insert(tickets).values(**{**orphan.model_dump(), "priority_rank": PRIORITY_RANK[orphan.priority]}),
    )

    found = {
        f"ticket {row_deleted.id}: row missing, would be inserted",
        f"ticket {continued.id}: row missing, would be inserted",
        f"ticket {rolled_back.id}: status open -> answered, owner bob -> cy "
        f"(version {earlier.version} -> {rolled_back.version})",
        f"ticket {ahead.id}: priority low -> high "
        f"(version 99 -> {ahead.version}: the read model was ahead, the workflow wins)",
        f"ticket {log_deleted.id}: 2 log events missing",
        f"ticket {log_tampered.id}: 1 extra log event, 1 log event different",
        f"ticket {closed.id}: status resolved -> closed (version {resolved.version} -> {closed.version})",
        f"ticket {purged.id}: purged in the workflow, row would be deleted",
        f"ticket {orphan.id}: orphan: no workflow {workflow_id_for(orphan.id)}, row kept",
    }

    # A dry run reports every damage and writes nothing.
    before = read_model_snapshot(rm.engine, rm.workspace)
    result, lines = await rm.reconcile(dry_run=True, concurrency=4)
    assert lines == found
    assert result.summary() == "checked 9 tickets: 8 to fix (dry run, nothing written), 1 orphan"
    assert read_model_snapshot(rm.engine, rm.workspace) == before

    # The repair: the same findings, each fixed from its workflow.
    result, lines = await rm.reconcile(concurrency=4)
    assert lines == {
        line.replace("would be inserted", "inserted").replace("would be deleted", "deleted")
        .replace("2 log events missing", "2 log events added")
        .replace("1 extra log event, 1 log event different", "1 extra log event removed, 1 log event rewritten")
        for line in found
    }
    assert result.summary() == "checked 9 tickets: 8 fixed, 1 orphan"
    assert (result.orphans, result.unreadable, result.changed_meanwhile) == ([orphan.id], {}, [])
    await assert_read_model_matches_workflows(rm, *everything)
    # The workflow won over the row that was ahead, and the continued ticket
    # came back as its latest run holds it.
    assert rm.store.get(ahead.id).priority is Priority.HIGH
    assert rm.store.get(continued.id) == continued and continued.priority is Priority.LOW
    assert rm.store.get(orphan.id) == orphan  # reported, not deleted

    # A second run finds nothing to fix.
    result, lines = await rm.reconcile()
    assert lines == {f"ticket {orphan.id}: orphan: no workflow {workflow_id_for(orphan.id)}, row kept"}
    assert result.summary() == "checked 9 tickets: 0 fixed, 1 orphan"
    assert result.fixes == []


def test_a_fix_names_the_fields_a_cx_team_reads_and_lists_the_rest() -> None:
    created = decide_create(
        NewTicket(id="t-1", source=Source.MANUAL, customer_email="pat@example.com", segment="retail", comment="x"),
        default_policy(), datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    held = created.state
    snoozed = held.model_copy(update={"updated_at": held.updated_at + timedelta(hours=1), "version": 3,
                                      "snooze_until": held.updated_at + timedelta(days=1)})
    assert describe(compare("t-1", held, created.events, snoozed, created.events)) == (
        "ticket t-1: updated_at, snooze_until changed (version 1 -> 3)"
    )
    escalated = snoozed.model_copy(update={"status": TicketStatus.ESCALATED, "owner": None})
    assert describe(compare("t-1", held, created.events, escalated, created.events)) == (
        "ticket t-1: status new -> escalated, owner ann -> (none), also updated_at, snooze_until (version 1 -> 3)"
    )
    assert compare("t-1", held, created.events, held, created.events) is None


def describe(fix: TicketFix | None) -> str:
    assert fix is not None
    return fix.describe(repaired=True)


async def test_a_repair_never_overwrites_a_projection_that_landed_meanwhile(read_model: ReadModelWorker) -> None:
    older = await read_model.start_ticket()
    newer = await read_model.change(older, status=TicketStatus.OPEN)
    log = await read_model.handle(newer).query(TicketWorkflow.query_log)
    # Reconcile compared against version 1, but version 2 has landed since.
    replaced = read_model.store.replace_from_workflow(
        TicketProjection(state=older, events=log[:1]), expected_version=older.version
    )
    assert replaced is False
    assert read_model.store.get(newer.id) == newer
    assert read_model.store.events(newer.id) == log


async def test_a_ticket_whose_worker_is_down_is_reported_not_checked(
    dev_server: WorkflowEnvironment, read_model: ReadModelWorker
) -> None:
    # A ticket run by a second worker, which then stops: nobody answers its queries.
    task_queue = f"cxloop-reconcile-gone-{uuid.uuid4().hex[:8]}"
    async with build_worker(dev_server.client, task_queue, engine=read_model.engine):
        stopping = TicketEnv("dev", dev_server, task_queue, unit=timedelta(seconds=1))
        unanswered = await ReadModelWorker(stopping, read_model.store, read_model.workspace).start_ticket()
    answered = await read_model.start_ticket()
    await read_model.wait_until_listed(unanswered, answered)

    try:
        result, lines = await read_model.reconcile(query_timeout=timedelta(seconds=1))
    finally:
        # Not left running on the shared server with nobody to run it.
        await read_model.handle(unanswered).terminate("test over")

    assert list(result.unreadable) == [unanswered.id]
    assert lines == {f"ticket {unanswered.id}: not checked: its workflow did not answer "
                     f"({result.unreadable[unanswered.id]})"}
    assert result.summary() == "checked 1 ticket: 0 fixed, 0 orphans, 1 not answering"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_command_line_dry_run_then_repair(
    dev_server: WorkflowEnvironment, read_model: ReadModelWorker, database_url: str
) -> None:
    rm = read_model
    fine = await rm.start_ticket()
    stale = await rm.start_ticket()
    earlier = stale
    stale = await rm.change(stale, status=TicketStatus.OPEN)
    await rm.wait_until_listed(fine, stale)
    orphan = fine.model_copy(update={"id": str(uuid.uuid4())})
    damage(
        rm.engine,
        set_row(stale, status=earlier.status, version=earlier.version),
        insert(tickets).values(**{**orphan.model_dump(), "priority_rank": PRIORITY_RANK[orphan.priority]}),
    )
    env = dict(
        os.environ,
        CXLOOP_TEMPORAL_ADDRESS=dev_server.client.service_client.config.target_host,
        CXLOOP_TEMPORAL_NAMESPACE=dev_server.client.namespace,
        CXLOOP_DATABASE_URL=database_url,
    )

    async def run(*args: str) -> list[str]:
        # Asynchronous, so this event loop's worker answers the command's queries.
        command = await asyncio.create_subprocess_exec(
            sys.executable, "reconcile.py", "--workspace", rm.workspace, *args,
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(command.communicate(), timeout=60)
        assert command.returncode == 0, stderr.decode()
        return stdout.decode().splitlines()

    fix = f"ticket {stale.id}: status new -> open (version {earlier.version} -> {stale.version})"
    orphan_line = f"ticket {orphan.id}: orphan: no workflow {workflow_id_for(orphan.id)}, row kept"

    before = read_model_snapshot(rm.engine, rm.workspace)
    output = await run("--dry-run", "--concurrency", "2")
    assert sorted(output[:-1]) == sorted([fix, orphan_line])
    assert output[-1] == "checked 2 tickets: 1 to fix (dry run, nothing written), 1 orphan"
    assert read_model_snapshot(rm.engine, rm.workspace) == before

    output = await run()
    assert sorted(output[:-1]) == sorted([fix, orphan_line])
    assert output[-1] == "checked 2 tickets: 1 fixed, 1 orphan"
    await assert_read_model_matches_workflows(rm, fine, stale)

    assert await run() == [orphan_line, "checked 2 tickets: 0 fixed, 1 orphan"]
