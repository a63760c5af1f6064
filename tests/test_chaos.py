"""Proof that nothing is lost (issue 8): cxloop's parts are killed and
restarted under load, and afterwards every ticket exists once, every due timer
fired once, and reconcile finds nothing to repair.

Each test lays cxloop out as `make run` does, every part a process of its own
on 127.0.0.1 with ports from the OS: the Temporal dev server started with
run.py's own command (its SQLite file, WAL pragmas, search attributes), the
worker (`python worker.py`) and the API (uvicorn), configured through CXLOOP_*
variables. So a SIGKILL is a real one: no `finally` of the victim runs. Every
wait is bounded in time, every process is killed when the test ends.

    .venv/bin/python -m pytest tests/test_chaos.py -m chaos -q -s   (-s prints the figures)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from temporalio.client import Client

from api.intake.adapters import sign_cxloop
from domain.commands import NewTicket, SnoozeCommand
from domain.contracts import TicketWorkflowInput
from domain.escalation import EscalationRule
from domain.ticket import EventKind, Source, TicketPolicy, TicketStatus, workflow_id_for
from reconcile import reconcile
from run import dev_server_command
from settings import Settings
from store import accounts
from store.db import make_engine, migrate
from store.models import TicketEventRow, TicketRow, User, UserRole
from tests.api_fixtures import free_port
from tests.db_fixtures import _postgres_database
from workflows.client import connect
from workflows.intake import response_key
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = "chaos"
# The one segment of the tickets that escalation rules watch; its only manager
# owns each new ticket, which starts the escalation clock.
WATCHED_SEGMENT, WATCHED_MANAGER = "retail", "ann"
# Snoozed tickets live in a segment no rule watches: a ticket that wakes up
# starts its escalation clock afresh, which must not blur what is counted.
QUIET_SEGMENT, QUIET_MANAGER = "support", "dee"
# How long a dev server, worker or API may take to come up on a loaded machine.
START_SECONDS = 60

Observed = TypeVar("Observed")
Item = TypeVar("Item")


# --- the parts, each a process of its own ------------------------------------------


class PartProcess:
    """One part of cxloop run as a subprocess, the way `make run` runs it; its
    output goes to a log file that a failing assertion quotes."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert not self.running, f"{self.name} is already running"
        self._log = self._log or self.log_path.open("ab")
        self._log.write(f"--- start {self.starts + 1} at {datetime.now(UTC).isoformat()}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C meant for pytest is not delivered to it
        )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye to the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def close(self) -> None:
        self.kill()
        if self._log is not None:
            self._log.close()

    def log_tail(self, lines: int = 25) -> str:
        if not self.log_path.exists():
            return f"({self.name}: no output)"
        tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last lines of {self.name}'s output:\n" + "\n".join(tail)


class Deployment:
    """cxloop on one machine as `make run` lays it out (dev server on a SQLite
    file, worker, API), each part restartable, all on 127.0.0.1 with ports
    from the OS and a task queue of their own. Use it in a `with` block: every
    process is killed when the block ends, whatever happened."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        self.settings = Settings(
            data_dir=data_dir,
            temporal_address=f"127.0.0.1:{free_port()}",
            temporal_ui_port=free_port(),
            task_queue=f"cxloop-chaos-{uuid.uuid4().hex[:8]}",
            database_url=database_url,
            api_port=free_port(),
            # Nobody listens there: no test user has a mail address, so no
            # notice is ever sent, and none may hang on a real server.
            smtp_port=free_port(),
            # Not the default 9464: another worker of the machine (`make run`,
            # a chaos test in another pytest-xdist process) may hold it.
            worker_metrics_address=f"127.0.0.1:{free_port()}",
        )
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            env[f"CXLOOP_{name.upper()}"] = str(value)
        self.server = PartProcess("temporal", dev_server_command(self.settings), env, tmp_path)
        self.worker = PartProcess("worker", [sys.executable, "worker.py"], env, tmp_path)
        self.api = PartProcess(
            "api",
            [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1",
             "--port", str(self.settings.api_port), "--log-level", "warning", "--no-access-log"],
            env, tmp_path,
        )
        self.engine = make_engine(database_url)

    @property
    def parts(self) -> tuple[PartProcess, ...]:
        return (self.api, self.worker, self.server)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for part in self.parts:
            part.close()
        self.engine.dispose()

    def logs(self) -> str:
        return "\n".join(part.log_tail() for part in self.parts if part.starts)

    async def start_server(self) -> Client:
        """Start the dev server (again, on the same SQLite file and port) and
        answer a client once it serves."""
        self.server.start()

        async def client_or_none() -> Client | None:
            if not self.server.running:
                raise AssertionError(f"the dev server exited with {self.server.process.returncode}\n{self.logs()}")
            try:
                client = await connect(self.settings.temporal_address)
                await client.service_client.check_health()
                return client
            except RuntimeError:  # not listening yet
                return None

        return await until("the dev server to serve", client_or_none, bool, START_SECONDS)

    async def start_api(self) -> None:
        self.api.start()

        async def healthy() -> bool:
            if not self.api.running:
                raise AssertionError(f"the API exited with {self.api.process.returncode}\n{self.logs()}")
            try:
                async with httpx.AsyncClient(base_url=self.api_url, timeout=5) as http:
                    return (await http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await until("the API to answer /healthz with 200", healthy, bool, START_SECONDS)

    def query(self, statement: Any) -> list[Any]:
        with Session(self.engine) as session:
            return list(session.execute(statement))


@pytest.fixture
def postgres_read_model() -> Iterator[str]:
    """A fresh, migrated PostgreSQL read model (dropped afterwards): the
    database a deployment with several workers shares."""
    for url in _postgres_database():
        migrate(url)
        yield url


@pytest.fixture
def sqlite_read_model(tmp_path: Path) -> str:
    """The embedded default of `make run`: a SQLite file."""
    url = f"sqlite:///{tmp_path / 'cxloop.db'}"
    migrate(url)
    return url


# --- bounded waiting and bounded concurrency -----------------------------------------


async def until(
    what: str,
    observe: Callable[[], Awaitable[Observed]],
    done: Callable[[Observed], bool],
    timeout: float,
    every: float = 0.25,
) -> Observed:
    """Observe (real time, at most `timeout` seconds) until `done` holds; the
    failure names what was awaited and what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        observed = await observe()
        if done(observed):
            return observed
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}; last seen: {observed!r}")
        await asyncio.sleep(every)


async def each_in_bounded_flight(
    items: Iterable[Item], in_flight: int, action: Callable[[Item], Awaitable[None]]
) -> None:
    """`action(item)` for every item, `in_flight` at a time at most."""
    pending = iter(items)

    async def take_turns() -> None:
        for item in pending:  # the senders share one iterator: each item is taken once
            await action(item)

    async with asyncio.TaskGroup() as senders:
        for _ in range(in_flight):
            senders.create_task(take_turns())


# --- what is checked after the storm -------------------------------------------------


def ticket_rows(deployment: Deployment) -> dict[str, Any]:
    """The read model's tickets of the chaos workspace, by id."""
    rows = deployment.query(select(TicketRow).where(TicketRow.workspace_id == WORKSPACE))
    return {row.id: row for (row,) in rows}


def count_tickets(deployment: Deployment, *where: Any) -> int:
    statement = select(func.count()).select_from(TicketRow).where(TicketRow.workspace_id == WORKSPACE, *where)
    return deployment.query(statement)[0][0]


def log_lines_of_kind(deployment: Deployment, kind: EventKind) -> dict[str, list[tuple]]:
    """Each ticket's log lines of one kind (the read model's copy of the log;
    reconcile proves it equal to the workflow's), oldest first."""
    statement = (
        select(TicketEventRow.ticket_id, TicketEventRow.actor, TicketEventRow.field, TicketEventRow.old,
               TicketEventRow.new, TicketEventRow.at)
        .join(TicketRow, TicketRow.id == TicketEventRow.ticket_id)
        .where(TicketRow.workspace_id == WORKSPACE, TicketEventRow.kind == kind)
        .order_by(TicketEventRow.ticket_id, TicketEventRow.seq)
    )
    lines: dict[str, list[tuple]] = {}
    for ticket_id, actor, field, old, new, at in deployment.query(statement):
        lines.setdefault(ticket_id, []).append((actor, field, old, new, at))
    return lines


async def workflow_runs(client: Client, workflow_type: str = "TicketWorkflow") -> Counter[str]:
    """How many runs visibility knows of each workflow id of a type (the
    deployment's server holds this test's workflows only)."""
    return Counter([execution.id async for execution in client.list_workflows(f"WorkflowType = '{workflow_type}'")])


async def assert_reconcile_finds_nothing(client: Client, deployment: Deployment, tickets: int) -> None:
    """reconcile (a dry run) asks every ticket workflow for its state and log
    and compares them with the read model: after the storm, the read model
    must hold exactly what Temporal recorded, field by field and line by line."""
    lines: list[str] = []
    result = await reconcile(client, deployment.engine, workspace_id=WORKSPACE, dry_run=True, report=lines.append)
    assert (result.checked, result.fixes, result.orphans, result.unreadable, result.changed_meanwhile) == (
        tickets, [], [], {}, []), "\n".join([*lines, result.summary()])


async def late_tickets(
    client: Client, deployment: Deployment, ticket_ids: Iterable[str], settled: Callable[[Any], bool]
) -> str:
    """What a failed wait shows: how many tickets have no row or a row not yet
    `settled`, and for the first few, what their workflow itself says."""
    rows = await asyncio.to_thread(ticket_rows, deployment)
    late = [ticket_id for ticket_id in ticket_ids if ticket_id not in rows or not settled(rows[ticket_id])]
    lines = [f"{len(late)} tickets late; the first of them:"]
    for ticket_id in late[:5]:
        row = rows.get(ticket_id)
        held = f"row v{row.version} {row.status.value} owner {row.owner}" if row else "no row"
        handle = client.get_workflow_handle_for(TicketWorkflow.run, workflow_id_for(ticket_id))
        try:
            truth = await handle.query(TicketWorkflow.query_state, rpc_timeout=timedelta(seconds=5))
            execution = (await handle.describe(rpc_timeout=timedelta(seconds=5))).raw_description
            said = (f"workflow v{truth.version} {truth.status.value} owner {truth.owner}, next due "
                    f"{truth.next_due_at()}, history length {execution.workflow_execution_info.history_length}, "
                    f"workflow task pending: {execution.HasField('pending_workflow_task')}")
        except Exception as error:  # the diagnosis must not hide the failure it explains
            said = f"workflow did not answer: {error!r}"
        lines.append(f"  {ticket_id}: {held}; {said}")
    return "\n".join(lines)


def figures(test: str, **measured: float | int | str) -> None:
    """One line of what a test measured (shown with -s)."""
    shown = ", ".join(f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}"
                      for name, value in measured.items())
    print(f"\n[chaos] {test}: {shown}", flush=True)


# --- 1. the worker killed while tickets are created and escalations pending ------------

CREATED_TICKETS = 500
CREATORS_IN_FLIGHT = 4
# Tickets are started at about 50 a second, faster than one worker creates
# them on this machine: the starts are still going on when the worker is
# killed, and it dies with a backlog of workflow tasks in its hands.
PAUSE_AFTER_START = CREATORS_IN_FLIGHT / 50
# The worker is killed once at least this many tickets are in the read model,
# one escalation fired, and this many more tickets are started than projected.
KILL_AFTER_PROJECTED = 50
KILL_WITH_BACKLOG = 50
ESCALATE_AFTER = timedelta(seconds=4)
ESCALATION_RULE = EscalationRule(id="waited-too-long", name="Waited too long", after=ESCALATE_AFTER, assignee="lead")


def new_ticket(ticket_id: str, segment: str, manager: str, number: int) -> NewTicket:
    """A ticket that `manager` opens for a customer in `segment`, which they
    manage, so that it is theirs (and no assignment notice is due)."""
    return NewTicket(
        id=ticket_id, source=Source.API, workspace_id=WORKSPACE, customer_email=f"customer-{number}@example.com",
        segment=segment, comment="Customer called about a late delivery", actor=manager,
    )


async def test_worker_killed_while_tickets_are_created_loses_nothing_and_escalates_once(
    tmp_path: Path, postgres_read_model: str
) -> None:
    """SIGKILL the worker while 500 tickets are being started and projected,
    with the first ones' 4 s escalations pending or firing; it stays down
    longer than the escalation delay. Restarted: each ticket has one workflow
    run and one row, each escalated exactly once, and reconcile finds nothing."""
    began = time.monotonic()
    policy = TicketPolicy(
        segment_managers={WATCHED_SEGMENT: [WATCHED_MANAGER]}, escalation_rules=[ESCALATION_RULE]
    )
    ticket_ids = [str(uuid.uuid4()) for _ in range(CREATED_TICKETS)]
    started: list[str] = []
    with Deployment(tmp_path, postgres_read_model) as deployment:
        client = await deployment.start_server()
        deployment.worker.start()

        async def create(ticket_id: str) -> None:
            new = new_ticket(ticket_id, WATCHED_SEGMENT, WATCHED_MANAGER, len(started))
            await client.start_workflow(
                TicketWorkflow.run,
                TicketWorkflowInput(new=new, policy=policy),
                id=workflow_id_for(ticket_id),
                task_queue=deployment.settings.task_queue,
            )
            started.append(ticket_id)
            await asyncio.sleep(PAUSE_AFTER_START)

        def started_projected_escalated() -> tuple[int, int, int]:
            return (len(started), count_tickets(deployment),
                    count_tickets(deployment, TicketRow.status == TicketStatus.ESCALATED))

        creating = asyncio.create_task(each_in_bounded_flight(ticket_ids, CREATORS_IN_FLIGHT, create))
        try:
            # Killed once the first escalations fire: tickets are being started and
            # created, and the escalations of the projected ones are pending.
            await until(
                "the worker to project tickets and fire their first escalations, with a backlog",
                lambda: asyncio.to_thread(started_projected_escalated),
                lambda seen: (seen[1] >= KILL_AFTER_PROJECTED and seen[2] >= 1
                              and seen[0] - seen[1] >= min(KILL_WITH_BACKLOG, CREATED_TICKETS - seen[1])),
                START_SECONDS, every=0.1,
            )
            deployment.worker.kill()
            started_at_kill, projected_at_kill, escalated_at_kill = await asyncio.to_thread(
                started_projected_escalated)
            # Down for longer than the escalation delay: escalations come due with
            # no worker to fire them, while the starts go on.
            await asyncio.sleep(ESCALATE_AFTER.total_seconds() + 1)
            deployment.worker.start()
            await creating
        finally:
            creating.cancel()
        all_started_s = time.monotonic() - began
        try:
            await until(
                f"all {CREATED_TICKETS} tickets escalated in the read model",
                lambda: asyncio.to_thread(count_tickets, deployment, TicketRow.status == TicketStatus.ESCALATED),
                # About 35 s on an idle 2-core machine; the bound leaves room for a loaded one.
                lambda n: n == CREATED_TICKETS, 120,
            )
        except AssertionError as late:
            why = await late_tickets(client, deployment, ticket_ids, lambda row: row.status is TicketStatus.ESCALATED)
            raise AssertionError(f"{late}\n{why}\n{deployment.logs()}") from None
        all_escalated_s = time.monotonic() - began

        # Every ticket exists once: one row per ticket (and no other row) ...
        rows = ticket_rows(deployment)
        assert sorted(rows) == sorted(ticket_ids)
        assert {(r.status, r.owner, tuple(r.fired_rule_ids)) for r in rows.values()} == {
            (TicketStatus.ESCALATED, "lead", (ESCALATION_RULE.id,))}
        # ... and one workflow run per id.
        runs = await until(
            "visibility to list every ticket workflow",
            lambda: workflow_runs(client), lambda found: len(found) == CREATED_TICKETS, 30,
        )
        assert set(runs) == {workflow_id_for(t) for t in ticket_ids} and set(runs.values()) == {1}

        # Every due escalation fired exactly once: one firing, at one instant,
        # writes one escalated_by_rule line per field it changes: the status
        # (new -> escalated) and the owner (ann -> lead).
        escalations = log_lines_of_kind(deployment, EventKind.ESCALATED_BY_RULE)
        assert sorted(escalations) == sorted(ticket_ids)
        rule_actor = f"rule:{ESCALATION_RULE.id}"
        for ticket_id, lines in escalations.items():
            assert [line[:4] for line in lines] == [
                (rule_actor, "status", "new", "escalated"), (rule_actor, "owner", WATCHED_MANAGER, "lead")
            ], (ticket_id, lines)
            assert lines[0][4] == lines[1][4], (ticket_id, lines)
            # ... and not before it was due.
            assert lines[0][4] >= rows[ticket_id].escalation_clock_started_at + ESCALATE_AFTER, (ticket_id, lines)

        figures(
            "worker SIGKILL", tickets=CREATED_TICKETS, started_at_kill=started_at_kill,
            projected_at_kill=projected_at_kill, escalated_at_kill=escalated_at_kill,
            all_started_s=all_started_s, all_escalated_s=all_escalated_s, checked_s=time.monotonic() - began,
        )
        await assert_reconcile_finds_nothing(client, deployment, CREATED_TICKETS)


# --- 2. the dev server stopped and restarted on its SQLite file ------------------------

ESCALATING_TICKETS = 60
SNOOZED_TICKETS = 40
# Two tiers on the watched segment: the first comes due while the server is
# down, the second after it is back.
TEAM_LEAD_RULE = EscalationRule(
    id="tier-1", name="Team lead", segment=WATCHED_SEGMENT, after=timedelta(seconds=12), assignee="lead"
)
DIRECTOR_RULE = EscalationRule(
    id="tier-2", name="Director", segment=WATCHED_SEGMENT, after=timedelta(seconds=30), assignee="director"
)
# Snoozes, from when they are sent: half wake while the server is down, half after.
WAKE_WHILE_DOWN = timedelta(seconds=10)
WAKE_AFTER_RESTART = timedelta(seconds=35)


async def test_dev_server_restarted_on_its_file_keeps_tickets_and_fires_pending_timers(
    tmp_path: Path, sqlite_read_model: str
) -> None:
    """SIGKILL the dev server (run.py's command: SQLite file, WAL) while 100
    tickets wait on escalation and snooze timers, keep it down until the first
    escalations and wake-ups are due, restart it on the same file: every
    ticket is still there, the worker reconnects by itself, every pending
    timer fires once (those due while it was down, at the restart), and
    reconcile finds nothing."""
    began = time.monotonic()
    policy = TicketPolicy(
        segment_managers={WATCHED_SEGMENT: [WATCHED_MANAGER], QUIET_SEGMENT: [QUIET_MANAGER]},
        escalation_rules=[TEAM_LEAD_RULE, DIRECTOR_RULE],
    )
    escalating = [str(uuid.uuid4()) for _ in range(ESCALATING_TICKETS)]
    snoozed = [str(uuid.uuid4()) for _ in range(SNOOZED_TICKETS)]
    with Deployment(tmp_path, sqlite_read_model) as deployment:
        client = await deployment.start_server()
        deployment.worker.start()
        segment_of = {**dict.fromkeys(escalating, WATCHED_SEGMENT), **dict.fromkeys(snoozed, QUIET_SEGMENT)}
        manager_of = {WATCHED_SEGMENT: WATCHED_MANAGER, QUIET_SEGMENT: QUIET_MANAGER}

        async def create(number_and_id: tuple[int, str]) -> None:
            number, ticket_id = number_and_id
            segment = segment_of[ticket_id]
            await client.start_workflow(
                TicketWorkflow.run,
                TicketWorkflowInput(new=new_ticket(ticket_id, segment, manager_of[segment], number), policy=policy),
                id=workflow_id_for(ticket_id),
                task_queue=deployment.settings.task_queue,
            )

        await each_in_bounded_flight(enumerate(escalating + snoozed), CREATORS_IN_FLIGHT * 2, create)
        await until(
            "every ticket in the read model", lambda: asyncio.to_thread(count_tickets, deployment),
            lambda n: n == ESCALATING_TICKETS + SNOOZED_TICKETS, START_SECONDS,
        )
        snoozed_at = datetime.now(UTC)
        wake_at = {
            ticket_id: snoozed_at + (WAKE_WHILE_DOWN if number % 2 == 0 else WAKE_AFTER_RESTART)
            for number, ticket_id in enumerate(snoozed)
        }

        async def snooze(ticket_id: str) -> None:
            handle = client.get_workflow_handle_for(TicketWorkflow.run, workflow_id_for(ticket_id))
            command = SnoozeCommand(until=wake_at[ticket_id], comment="Customer is travelling", actor=QUIET_MANAGER)
            await handle.execute_update(TicketWorkflow.snooze, command)

        await each_in_bounded_flight(snoozed, CREATORS_IN_FLIGHT * 2, snooze)

        deployment.server.kill()
        stopped_at = datetime.now(UTC)
        rows_at_stop = await asyncio.to_thread(ticket_rows, deployment)
        assert all(rows_at_stop[t].status is TicketStatus.POSTPONED for t in snoozed), (
            "a snooze ended before the server stopped: the setup was too slow to prove anything")
        tier_one_due = {t: rows_at_stop[t].escalation_clock_started_at + TEAM_LEAD_RULE.after for t in escalating}
        pending_at_stop = {t for t, due in tier_one_due.items() if due > stopped_at}
        assert pending_at_stop, "every first-tier escalation was due before the stop: the setup was too slow"
        # Down until the first tier and the early snoozes are all due.
        due_while_down = max([*tier_one_due.values(), snoozed_at + WAKE_WHILE_DOWN])
        await asyncio.sleep(max(0.0, (due_while_down - datetime.now(UTC)).total_seconds()) + 1)
        client = await deployment.start_server()
        restarted_at = datetime.now(UTC)
        down_s = (restarted_at - stopped_at).total_seconds()

        def all_timers_fired() -> tuple[int, int]:
            rows = ticket_rows(deployment)
            return (sum(rows[t].owner == DIRECTOR_RULE.assignee for t in escalating),
                    sum(rows[t].status is TicketStatus.OPEN for t in snoozed))

        try:
            await until(
                "every escalation tier and every wake-up after the restart",
                lambda: asyncio.to_thread(all_timers_fired), lambda seen: seen == (ESCALATING_TICKETS, SNOOZED_TICKETS),
                60,
            )
        except AssertionError as late:
            why = await late_tickets(
                client, deployment, escalating + snoozed,
                lambda row: row.owner == DIRECTOR_RULE.assignee or row.status is TicketStatus.OPEN,
            )
            raise AssertionError(f"{late}\n{why}\n{deployment.logs()}") from None
        # The worker lived through the outage: it reconnected by itself.
        assert deployment.worker.running and deployment.worker.starts == 1, deployment.logs()

        # No ticket lost: every row, every workflow, one run each, still running.
        rows = ticket_rows(deployment)
        assert sorted(rows) == sorted(escalating + snoozed)
        runs = await until(
            "visibility to list every ticket workflow", lambda: workflow_runs(client),
            lambda found: len(found) == len(rows), 30,
        )
        assert set(runs) == {workflow_id_for(t) for t in rows} and set(runs.values()) == {1}

        # Each escalation tier fired once, never early, and those due while the
        # server was down fired once it was back.
        escalations = log_lines_of_kind(deployment, EventKind.ESCALATED_BY_RULE)
        assert sorted(escalations) == sorted(escalating)
        lead, director = (f"rule:{rule.id}" for rule in (TEAM_LEAD_RULE, DIRECTOR_RULE))
        for ticket_id, lines in escalations.items():
            assert [line[:4] for line in lines] == [
                (lead, "status", "new", "escalated"), (lead, "owner", WATCHED_MANAGER, TEAM_LEAD_RULE.assignee),
                (director, "owner", TEAM_LEAD_RULE.assignee, DIRECTOR_RULE.assignee),
            ], (ticket_id, lines)
            first_tier_at, director_at = lines[0][4], lines[2][4]
            assert first_tier_at >= tier_one_due[ticket_id], (ticket_id, lines)
            assert director_at >= rows[ticket_id].created_at + DIRECTOR_RULE.after, (ticket_id, lines)
            if ticket_id in pending_at_stop:
                assert first_tier_at >= restarted_at, (ticket_id, lines)
        # Each snooze woke once, at or after its time.
        wake_ups = log_lines_of_kind(deployment, EventKind.WOKE_UP)
        assert sorted(wake_ups) == sorted(snoozed)
        for ticket_id, lines in wake_ups.items():
            assert [line[:4] for line in lines] == [("system:snooze", "status", "postponed", "open")], lines
            assert lines[0][4] >= max(wake_at[ticket_id], restarted_at), (ticket_id, lines)

        figures(
            "dev server SIGKILL", tickets=len(rows), tier_one_pending_at_stop=len(pending_at_stop),
            down_s=down_s, checked_s=time.monotonic() - began,
        )
        await assert_reconcile_finds_nothing(client, deployment, len(rows))


# --- 3. the API killed and restarted during a burst of webhooks ------------------------

WEBHOOK_RESPONSES = 160
WEBHOOKS_IN_FLIGHT = 16
# The API is killed once this many deliveries have been accepted.
KILL_API_AFTER_ACCEPTED = 50
# Responses keep arriving, about 8 a second, whether or not the API is up, so
# that the burst outlasts the API's restart (5-12 s on a loaded machine).
PAUSE_AFTER_DELIVERY = WEBHOOKS_IN_FLIGHT / 8
# How often a delivery that failed is retried afterwards, at most.
RETRIES = 5
SURVEY_MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "segment": "hidden:segment"}


def signed_delivery(secret: str, response_id: str, number: int) -> tuple[bytes, dict[str, str]]:
    """A detractor's response as the survey platform posts it, signed now."""
    body = json.dumps({
        "response_id": response_id,
        "submitted_at": datetime.now(UTC).isoformat(),
        "answers": {"nps": number % 7, "why": "The parcel arrived broken", "email": f"respondent-{number}@example.com"},
        "hidden": {"segment": WATCHED_SEGMENT},
    }).encode()
    timestamp = int(time.time())
    return body, {"X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body),
                  "content-type": "application/json"}


def admin_token(engine: Engine) -> str:
    """A bearer token of a new admin, made straight in the read model (as
    tests/api_fixtures.py does): the API has no admin before one exists."""
    with Session(engine) as session, session.begin():
        admin = User(username=f"chaos-admin-{uuid.uuid4().hex[:6]}", email="admin@example.com", role=UserRole.ADMIN)
        session.add(admin)
        session.flush()
        admin_id = admin.id
    return accounts.create_token(engine, admin_id, "chaos test")[1]


async def configure_survey(http: httpx.AsyncClient) -> dict:
    """Workspace, segment and survey through the configuration API."""
    for path, body in (
        ("/api/workspaces", {"id": WORKSPACE, "name": "Chaos"}),
        ("/api/segments", {"workspace_id": WORKSPACE, "name": WATCHED_SEGMENT}),
    ):
        response = await http.post(path, json=body)
        assert response.status_code == 201, response.text
    survey = await http.post("/api/surveys", json={
        "workspace_id": WORKSPACE, "name": "Delivery NPS", "adapter": "cxloop",
        "field_mapping": SURVEY_MAPPING, "default_segment": WATCHED_SEGMENT,
    })
    assert survey.status_code == 201, survey.text
    return survey.json()


async def test_api_killed_during_a_webhook_burst_every_response_makes_one_ticket(
    tmp_path: Path, postgres_read_model: str
) -> None:
    """160 signed survey webhooks, 16 in flight, at a uvicorn API that is
    SIGKILLed after 50 were accepted and restarted: every 202 became a
    ticket; every delivery that got no 202 (refused, reset, 5xx) is retried
    afterwards and then makes exactly one ticket; tickets == responses."""
    began = time.monotonic()
    response_ids = [f"burst-{number:03d}" for number in range(WEBHOOK_RESPONSES)]
    with Deployment(tmp_path, postgres_read_model) as deployment:
        client = await deployment.start_server()
        deployment.worker.start()
        await deployment.start_api()
        headers = {"Authorization": f"Bearer {await asyncio.to_thread(admin_token, deployment.engine)}"}
        limits = httpx.Limits(max_connections=WEBHOOKS_IN_FLIGHT + 4)
        async with httpx.AsyncClient(base_url=deployment.api_url, headers=headers, timeout=30, limits=limits) as http:
            survey = await configure_survey(http)
            url = f"/api/webhooks/surveys/{survey['id']}"
            accepted: dict[str, dict] = {}  # response id -> the 202's body
            failures: dict[str, list[str]] = {}  # response id -> what each failed attempt got
            in_flight: Counter[str] = Counter()

            async def deliver(number_and_id: tuple[int, str]) -> None:
                number, response_id = number_and_id
                body, signed = signed_delivery(survey["webhook_secret"], response_id, number)
                in_flight["deliveries"] += 1
                try:
                    response = await http.post(url, content=body, headers=signed)
                except httpx.TransportError as broken:  # refused while down, cut off when killed
                    failures.setdefault(response_id, []).append(type(broken).__name__)
                    return
                finally:
                    in_flight["deliveries"] -= 1
                if response.status_code == 202:
                    accepted[response_id] = response.json()
                else:
                    assert response.status_code >= 500, response.text  # never a 4xx for a good delivery
                    failures.setdefault(response_id, []).append(str(response.status_code))

            async def arrive(number_and_id: tuple[int, str]) -> None:
                await deliver(number_and_id)
                await asyncio.sleep(PAUSE_AFTER_DELIVERY)

            async def kill_and_restart_api() -> tuple[float, int]:
                # Killed with deliveries in flight: some are cut off mid-way, after or
                # before Temporal heard of them; the platform cannot tell which.
                await until(
                    "deliveries to be accepted, and more in flight",
                    lambda: asyncio.sleep(0, (len(accepted), in_flight["deliveries"])),
                    lambda seen: seen[0] >= KILL_API_AFTER_ACCEPTED and seen[1] >= WEBHOOKS_IN_FLIGHT // 4,
                    60, every=0.005,
                )
                deployment.api.kill()
                killed, accepted_before_kill = time.monotonic(), len(accepted)
                await deployment.start_api()
                return time.monotonic() - killed, accepted_before_kill

            killer = asyncio.create_task(kill_and_restart_api())
            try:
                await each_in_bounded_flight(enumerate(response_ids), WEBHOOKS_IN_FLIGHT, arrive)
                api_down_s, accepted_before_kill = await killer
            finally:
                killer.cancel()
            accepted_in_burst = set(accepted)
            failed_in_burst = set(failures) - accepted_in_burst
            assert deployment.api.starts == 2 and failed_in_burst, (
                "the kill broke no delivery: nothing was proved", failures)

            # What got no 202 is delivered again, as a platform retries.
            for _ in range(RETRIES):
                unanswered = [(response_ids.index(r), r) for r in response_ids if r not in accepted]
                if not unanswered:
                    break
                await each_in_bounded_flight(unanswered, WEBHOOKS_IN_FLIGHT, deliver)
            assert sorted(accepted) == sorted(response_ids), failures

        keys = {response_key(survey["id"], response_id): response_id for response_id in response_ids}
        try:
            await until(
                "a ticket for every response", lambda: asyncio.to_thread(count_tickets, deployment),
                lambda n: n >= len(keys), 75,
            )
        except AssertionError as late:
            why = await late_tickets(client, deployment, keys, lambda row: True)
            raise AssertionError(f"{late}\n{why}\n{deployment.logs()}") from None
        all_tickets_s = time.monotonic() - began
        # Every response made exactly one ticket (a ticket's id derives from its
        # response), and nothing else did: the 202s of the burst and the retries alike.
        assert sorted(ticket_rows(deployment)) == sorted(keys)
        assert all(accepted[r]["response_id"] == key for key, r in keys.items())
        # ... one intake workflow and one ticket workflow per response.
        for workflow_type, id_prefix in (("SurveyResponseWorkflow", "survey-response-"), ("TicketWorkflow", "ticket-")):
            runs = await until(
                f"visibility to list every {workflow_type}", lambda: workflow_runs(client, workflow_type),
                lambda found: len(found) >= len(keys), 30,
            )
            assert runs == Counter({id_prefix + key: 1 for key in keys}), workflow_type
        # A delivery the kill cut off mid-way may have reached Temporal: its
        # retry is then a duplicate, and must be (a second ticket otherwise).
        duplicates = sorted(r for r in failed_in_burst if accepted[r]["duplicate"])
        assert all(not accepted[r]["duplicate"] for r in accepted_in_burst)

        figures(
            "API SIGKILL", responses=len(keys), accepted_before_kill=accepted_before_kill,
            accepted_after_restart=len(accepted_in_burst) - accepted_before_kill,
            failed_in_burst=len(failed_in_burst), retried_as_duplicate=len(duplicates),
            failure_kinds=str(dict(Counter(kind for tries in failures.values() for kind in tries))),
            api_down_s=api_down_s, all_tickets_s=all_tickets_s, checked_s=time.monotonic() - began,
        )
        await assert_reconcile_finds_nothing(client, deployment, len(keys))
