"""Soak: many open tickets whose escalation deadlines come due over a few
minutes, with survey intake running meanwhile. How late does each escalation
fire, how much memory do the worker and the server take, and what intake rate
holds up while the timers fire?

    .venv/bin/python -m bench.soak [--count 10000] [--spread 180] [--intake-concurrency 8]

Laid out as `make run` lays it out, on 127.0.0.1: a Temporal dev server (in
memory, WAL pragmas), the cxloop worker (`python worker.py`) and the API
(uvicorn) in processes of their own, a SQLite read model, a local SMTP sink
for the notices. Then:

1. `--count` tickets are started straight on Temporal (an owner, and one
   escalation rule each) so that their deadlines fall evenly over a window of
   `--spread` seconds that opens once every ticket exists. Each start is
   answered once the ticket exists (update-with-start, as the API creates
   tickets): a ticket's escalation clock starts when it is created, so tickets
   queued behind a busy worker would otherwise stretch the window. The report
   gives the window the deadlines really fell over.
2. Through the window, signed detractor webhooks are offered to the API at
   `--intake-rate` per second: the rate at which their tickets reach the read
   model meanwhile is the intake rate sustained.
3. When every escalation has landed in the read model, each one's lateness is
   its `escalated_by_rule` log line's time minus its deadline (the clock start
   of its ticket plus the rule's delay).

Raw baseline measured in the same run: a bare workflow sleeping on a timer of
the same spread, as many as `--count`: how late Temporal itself fires timers
on this machine (the floor for escalations). Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio import workflow
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.harness import (
    BenchError,
    Latency,
    child_pids,
    cxloop_processes,
    free_port,
    latency_table,
    load_line,
    machine_line,
    run_async_bench,
    section,
    stdout_to_stderr,
    table,
    wait_healthy,
)
from bench.intake import MAPPING, bounded, post_detractor
from bench.updates import DEV_SERVER_PRAGMAS, SEGMENTS, TEMPORAL_CLI, create_workspace
from domain.commands import NewTicket
from domain.contracts import TicketWorkflowInput
from domain.escalation import EscalationRule
from domain.ticket import EventKind, Source, TicketPolicy, workflow_id_for
from store.configuration import create_survey
from store.db import make_engine, migrate
from store.models import TicketEventRow, TicketRow
from workflows.ticket import SEARCH_ATTRIBUTES, TicketWorkflow



@workflow.defn(sandboxed=False)
class TimerOnlyWorkflow:
    """The raw baseline: sleep until a deadline, then note how late it woke."""

    @workflow.run
    async def run(self, deadline_epoch: float) -> float:
        await workflow.sleep(max(deadline_epoch - workflow.now().timestamp(), 0.001))
        return workflow.now().timestamp() - deadline_epoch


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """Samples the resident memory of some processes every second; keeps each one's peak."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self.last = dict.fromkeys(pids, 0.0)

    async def watch(self) -> None:
        while True:
            for name, pid in self.pids.items():
                try:
                    self.last[name] = rss_mb(pid)
                except OSError:
                    continue
                self.peak[name] = max(self.peak[name], self.last[name])
            await asyncio.sleep(1)


def lateness_row(name: str, seconds: list[float]) -> Latency:
    return Latency.of(name, seconds)


async def run(args: argparse.Namespace) -> None:
    section("cxloop soak: escalation timers under load")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="cxloop-bench-soak-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'read-model.db'}"
        migrate(database_url)
        engine = make_engine(database_url)
        sink = Controller(Sink(), hostname="127.0.0.1", port=free_port())
        sink.start()
        with stdout_to_stderr():
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(TEMPORAL_CLI), search_attributes=SEARCH_ATTRIBUTES,
                data_converter=pydantic_data_converter, dev_server_extra_args=DEV_SERVER_PRAGMAS,
            )
        server_pid = next(pid for pid in child_pids() if Path(f"/proc/{pid}/comm").read_text().strip() == "temporal")
        async with env:
            temporal = env.client
            task_queue = f"cxloop-soak-{uuid.uuid4().hex[:8]}"
            workspace_id = create_workspace(engine)
            survey = create_survey(engine, workspace_id, "Soak NPS", field_mapping=MAPPING, default_segment="retail")
            managers = {segment: [f"{name}@{workspace_id}" for name in names] for segment, names in SEGMENTS.items()}
            owner = managers["retail"][0]
            try:
                with cxloop_processes(
                    database_url, temporal.service_client.config.target_host, task_queue, sink.port
                ) as processes:
                    memory = PeakMemory({"dev server": server_pid, **processes.pids})
                    watcher = asyncio.create_task(memory.watch())
                    raw_queue = f"soak-timer-{uuid.uuid4().hex[:8]}"
                    try:
                        async with Worker(temporal, task_queue=raw_queue, workflows=[TimerOnlyWorkflow]), httpx.AsyncClient(
                            base_url=processes.api_url, timeout=60
                        ) as http:
                            await wait_healthy(http)
                            run_id = uuid.uuid4().hex[:8]
                            # 1. the tickets; their deadlines spread over a window that
                            # opens after creation (estimated from the first tickets).
                            delays: dict[str, float] = {}
                            window_opens = time.time() + args.lead

                            async def start_ticket(number: int) -> None:
                                ticket_id = f"soak-{run_id}-{number}"
                                deadline = window_opens + args.spread * number / args.count
                                after = max(deadline - time.time(), 1.0)
                                delays[ticket_id] = after
                                policy = TicketPolicy(
                                    segment_managers=managers,
                                    escalation_rules=[EscalationRule(
                                        id="soak", name="soak", after=timedelta(seconds=after), assignee=managers["b2b"][0]
                                    )],
                                )
                                new = NewTicket(id=ticket_id, source=Source.MANUAL, workspace_id=workspace_id,
                                                customer_email=f"soak{number}@example.com", segment="retail",
                                                owner=owner, comment="soak")
                                # Answered once the ticket exists (the read model holds it),
                                # as the API creates tickets: its escalation clock starts
                                # then, so a backlog of unstarted tickets cannot stretch the
                                # deadlines' window beyond --spread.
                                await temporal.execute_update_with_start_workflow(
                                    TicketWorkflow.sync,
                                    start_workflow_operation=WithStartWorkflowOperation(
                                        TicketWorkflow.run, TicketWorkflowInput(new=new, policy=policy),
                                        id=workflow_id_for(ticket_id), task_queue=task_queue,
                                        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                                    ),
                                )

                            created = await bounded(f"start ticket, {args.create_concurrency} in flight", args.count,
                                                    args.create_concurrency, start_ticket)
                            if time.time() > window_opens:
                                print(f"note: creating the tickets took {created.wall:.0f} s, longer than --lead "
                                      f"{args.lead:.0f} s: the first deadlines were already due", file=sys.stderr)

                            raw_handles = []
                            raw_opens = 0.0

                            async def start_timer(number: int) -> None:
                                deadline = raw_opens + args.spread * number / args.raw_count
                                raw_handles.append(await temporal.start_workflow(
                                    TimerOnlyWorkflow.run, deadline, id=f"soak-timer-{run_id}-{number}", task_queue=raw_queue
                                ))

                            # 2. intake through the window.
                            posted = 0

                            async def post(number: int) -> None:
                                nonlocal posted
                                await post_detractor(http, survey, f"{run_id}-{number}", number)
                                posted += 1

                            window_closes = max(window_opens, time.time()) + args.spread
                            intake_started = time.perf_counter()
                            numbers = iter(range(10**9))

                            # Offered at a steady rate (not as fast as the API takes
                            # them: a backlog of intake would only delay the timers).
                            pace = args.intake_concurrency / args.intake_rate

                            async def intake_runner() -> None:
                                for number in numbers:
                                    if time.time() >= window_closes:
                                        return
                                    started = time.monotonic()
                                    await post(number)
                                    await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))

                            async with asyncio.TaskGroup() as group:
                                for _ in range(args.intake_concurrency):
                                    group.create_task(intake_runner())
                            intake_seconds = time.perf_counter() - intake_started
                            # The accepted webhooks' tickets that reached the read model while the timers fired.
                            survey_tickets = await asyncio.to_thread(count_survey_tickets, engine, workspace_id)
                            intake_end_to_end = time.perf_counter() - intake_started

                            # 3. every escalation in the read model.
                            await wait_for(lambda: escalations(engine, workspace_id), args.count, args.timeout, "escalations")
                            lateness, deadline_window = await asyncio.to_thread(
                                escalation_lateness, engine, workspace_id, delays
                            )
                            peak = dict(memory.peak)
                            # The raw baseline: as many bare timers, their deadlines over
                            # the same spread, opening once they are all started.
                            # (bare starts need no worker: about 100/s even on a busy machine.)
                            raw_opens = time.time() + max(10.0, args.raw_count / 100)
                            timer_started = await bounded("start timer workflow", args.raw_count, args.create_concurrency,
                                                          start_timer)
                            if time.time() > raw_opens:
                                print("note: starting the raw timers outlasted their lead; the first were due", file=sys.stderr)
                            raw_lateness = [await handle.result() for handle in raw_handles]
                    finally:
                        watcher.cancel()
            finally:
                sink.stop()
        engine.dispose()

    print(f"{load_line()}")
    print(latency_table([created, timer_started]))
    print()
    print(f"lateness of each escalation after its deadline ({len(lateness)} escalations, "
          f"deadlines over {deadline_window:.0f} s) beside raw Temporal timers ({len(raw_lateness)}, same spread):")
    print(latency_table([lateness_row("escalation fired late by", sorted(lateness)),
                         lateness_row("raw workflow timer late by", sorted(raw_lateness))]))
    print()
    p50 = Latency.of("escalations", lateness).p50
    raw_p50 = Latency.of("raw timers", raw_lateness).p50
    print(table(
        ["figure", "value"],
        [
            ["open tickets with a pending escalation", f"{args.count:,}"],
            ["escalations fired (exactly once each)", f"{len(lateness):,}"],
            ["escalation lateness p50 / raw timer p50", f"{p50 * 1000:,.0f} ms / {raw_p50 * 1000:,.0f} ms"],
            ["peak RSS: worker / dev server / API",
             f"{peak['worker']:,.0f} / {peak['dev server']:,.0f} / {peak['API']:,.0f} MB"],
            [f"intake while the timers fired ({args.intake_rate:g}/s offered)",
             f"{posted / intake_seconds:,.1f} webhooks/s accepted (202); {survey_tickets / intake_end_to_end:,.1f} "
             f"tickets/s reached the read model ({survey_tickets:,} of {posted:,} in {intake_end_to_end:,.0f} s)"],
        ],
        right=[False, True],
    ))


async def wait_for(count, wanted: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while (have := await asyncio.to_thread(count)) < wanted:
        if time.monotonic() > deadline:
            raise BenchError(f"only {have} of {wanted} {what} after {timeout:.0f} s")
        await asyncio.sleep(1)


def count_survey_tickets(engine, workspace_id: str) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(TicketRow).where(
            TicketRow.workspace_id == workspace_id, TicketRow.source == Source.SURVEY))


def escalations(engine, workspace_id: str) -> int:
    with Session(engine) as session:
        return session.scalar(
            select(func.count(TicketEventRow.ticket_id.distinct())).select_from(TicketEventRow)
            .join(TicketRow, TicketRow.id == TicketEventRow.ticket_id)
            .where(TicketRow.workspace_id == workspace_id, TicketRow.source == Source.MANUAL,
                   TicketEventRow.kind == EventKind.ESCALATED_BY_RULE)
        )


def escalation_lateness(engine, workspace_id: str, delays: dict[str, float]) -> tuple[list[float], float]:
    """Seconds from each deadline to its escalation, and the seconds from the
    first deadline to the last; refuses a ticket escalated twice (one
    escalation logs a line per field it changed, all at one time)."""
    with Session(engine) as session:
        rows = session.execute(
            select(TicketRow.id, TicketRow.created_at, TicketEventRow.at)
            .join(TicketEventRow, TicketRow.id == TicketEventRow.ticket_id)
            .where(TicketRow.workspace_id == workspace_id, TicketRow.source == Source.MANUAL,
                   TicketEventRow.kind == EventKind.ESCALATED_BY_RULE)
            .distinct()
        ).all()
    seen: set[str] = set()
    lateness = []
    deadlines = []
    for ticket_id, created_at, fired_at in rows:
        if ticket_id in seen:
            raise BenchError(f"ticket {ticket_id} escalated twice")
        seen.add(ticket_id)
        # The escalation clock starts when the ticket is created (it has an owner from the start).
        deadline = created_at.timestamp() + delays[ticket_id]
        deadlines.append(deadline)
        lateness.append(fired_at.timestamp() - deadline)
    return lateness, max(deadlines) - min(deadlines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="open tickets with an escalation (10000)")
    parser.add_argument("--spread", type=float, default=180, help="seconds the deadlines spread over (180)")
    parser.add_argument("--lead", type=float, default=None,
                        help="seconds from the start to the first deadline (default: count/20, at least 30)")
    parser.add_argument("--create-concurrency", type=int, default=32, help="starts in flight (32)")
    parser.add_argument("--intake-concurrency", type=int, default=8, help="webhooks in flight (8)")
    parser.add_argument("--intake-rate", type=float, default=5, help="webhooks offered per second (5)")
    parser.add_argument("--raw-count", type=int, default=None, help="raw timer workflows (default: --count)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the escalations (900)")
    args = parser.parse_args(argv)
    if min(args.count, args.spread, args.create_concurrency, args.intake_concurrency, args.intake_rate) <= 0:
        parser.error("--count, --spread and the concurrencies must be positive")
    args.lead = args.lead if args.lead is not None else max(30.0, args.count / 20)
    args.raw_count = args.raw_count or args.count
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budget = args.lead + 2 * args.spread + args.timeout + args.count / 10 + 300
    return run_async_bench("bench.soak", lambda: run(args), budget)


if __name__ == "__main__":
    sys.exit(main())
