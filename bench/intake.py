"""Survey intake throughput: signed webhooks until N tickets exist in the read
model, beside the raw Temporal workflow-start rate measured in the same run.

    .venv/bin/python -m bench.intake [--count 2000] [--concurrency 32] [--database sqlite|postgresql]

Everything on 127.0.0.1, laid out as `make run` lays it out: a Temporal dev
server (in memory, WAL pragmas), the cxloop worker (`python worker.py`), the
API (uvicorn) and the mail sink (aiosmtpd: new tickets' owners are told by
mail) each in a process of its own, projecting into a real read model; this
process posts the webhooks over real HTTP with httpx and runs the raw
baseline's worker.

- raw: `start_workflow` of a bare workflow that completes at once, `--count`
  of them with `--concurrency` in flight: the Temporal floor for "a workflow
  per response". The rate is of starts accepted; the report also gives the
  rate at which those workflows had run to completion.
- floor: `--count` bare response workflows (`FloorResponseWorkflow`), each
  starting one bare child workflow that it leaves running, as
  SurveyResponseWorkflow starts a ticket's: the clock stops when every child
  has completed. No HTTP, rules, database or mail: the best rate an intake
  built as shared/DESIGN.md draws it (webhook -> response workflow -> ticket
  workflow) can reach on this server, whatever cxloop's own code does.
- intake: `--count` signed detractor responses posted to
  /api/webhooks/surveys/{id} with `--concurrency` in flight; the clock stops
  when the read model holds `--count` survey tickets. Each response is one
  SurveyResponseWorkflow (keeps the response, evaluates the alert rules, picks
  the owner) and one TicketWorkflow (projected into the read model).

Besides the rates, each phase reports the CPU time per operation of every
process: on a machine shared with other work a rate follows the load, while
CPU per ticket (against CPU per raw start) says what intake itself costs.

Goal: intake tickets/s at least 0.5 of raw starts/s; the report also says
whether the floor is. Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from api.intake.adapters import sign_cxloop
from bench.harness import (
    BenchError,
    Latency,
    ProcessCpu,
    child_pids,
    cxloop_processes,
    goal,
    latency_table,
    load_line,
    machine_line,
    ms,
    read_model_database,
    run_async_bench,
    section,
    shown_url,
    stdout_to_stderr,
    table,
    wait_healthy,
)
from bench.start_only import FloorResponseWorkflow, StartOnlyWorkflow
from bench.updates import DEV_SERVER_PRAGMAS, TEMPORAL_CLI, create_workspace
from store.configuration import create_survey
from store.db import make_engine, migrate
from store.models import TicketRow
from workflows.ticket import SEARCH_ATTRIBUTES

GOAL_RATIO = 0.5
MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "segment": "hidden:segment"}
THIS_PROCESS = "bench (httpx, raw worker)"


async def bounded(name: str, count: int, concurrency: int, one) -> Latency:
    """Run `one(i)` for i in range(count), `concurrency` at a time."""
    numbers = iter(range(count))
    samples: list[float] = []

    async def runner() -> None:
        for number in numbers:
            started = time.perf_counter()
            await one(number)
            samples.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(runner())
    return Latency.of(name, samples, time.perf_counter() - started)


async def wait_completed(temporal, task_queue: str, workflow_type: str, count: int, timeout: float) -> float:
    """Seconds until visibility counts `count` completed workflows of that
    type on that task queue (polled every 0.1 s)."""
    query = (f"TaskQueue = '{task_queue}' AND WorkflowType = '{workflow_type}' "
             "AND ExecutionStatus = 'Completed'")
    started = time.perf_counter()
    deadline = started + timeout
    while (done := (await temporal.count_workflows(query)).count) < count:
        if time.perf_counter() > deadline:
            raise BenchError(f"only {done} of {count} {workflow_type} completed after {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def post_detractor(http: httpx.AsyncClient, survey, response_id: str, number: int) -> None:
    """One signed detractor response to the survey's webhook; anything but 202 is an error."""
    body = json.dumps({
        "response_id": response_id,
        "answers": {"nps": number % 7, "why": "Late delivery", "email": f"c{number}@example.com"},
        "hidden": {"segment": "retail"},
    }).encode()
    timestamp = int(time.time())
    response = await http.post(
        f"/api/webhooks/surveys/{survey.id}", content=body,
        headers={"X-Cxloop-Timestamp": str(timestamp),
                 "X-Cxloop-Signature": sign_cxloop(survey.webhook_secret, timestamp, body),
                 "content-type": "application/json"},
    )
    if response.status_code != 202:
        raise BenchError(f"webhook answered {response.status_code}: {response.text[:200]}")


async def run(args: argparse.Namespace) -> None:
    section("Survey intake throughput")
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="cxloop-bench-intake-") as tmp, read_model_database(
        args.database, Path(tmp)
    ) as database_url:
        migrate(database_url)
        engine = make_engine(database_url)
        known_children = set(child_pids())
        with stdout_to_stderr():
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(TEMPORAL_CLI), search_attributes=SEARCH_ATTRIBUTES,
                data_converter=pydantic_data_converter, dev_server_extra_args=DEV_SERVER_PRAGMAS,
            )
        async with env:
            temporal = env.client
            dev_server = next(pid for pid in child_pids() if pid not in known_children)
            task_queue = f"cxloop-bench-{uuid.uuid4().hex[:8]}"
            raw_queue = f"bench-start-{uuid.uuid4().hex[:8]}"
            workspace_id = create_workspace(engine)
            survey = create_survey(engine, workspace_id, "Bench NPS", field_mapping=MAPPING, default_segment="retail")
            raw_worker = Worker(temporal, task_queue=raw_queue, workflows=[StartOnlyWorkflow])
            # The floor runs as cxloop's worker does, without the sandbox.
            floor_queue = f"bench-floor-{uuid.uuid4().hex[:8]}"
            floor_worker = Worker(temporal, task_queue=floor_queue,
                                  workflows=[FloorResponseWorkflow, StartOnlyWorkflow],
                                  workflow_runner=UnsandboxedWorkflowRunner())
            limits = httpx.Limits(max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4)
            # As `make run` starts it: every mail lands in a Maildir.
            with cxloop_processes(database_url, temporal.service_client.config.target_host, task_queue,
                                  Path(tmp) / "mail") as cxloop:
                cpu = ProcessCpu({"dev server": dev_server, **cxloop.pids}, THIS_PROCESS)
                async with raw_worker, floor_worker, httpx.AsyncClient(
                    base_url=cxloop.api_url, limits=limits, timeout=60
                ) as http:
                    await wait_healthy(http)
                    run_id = uuid.uuid4().hex[:8]

                    async def start_raw(number: int) -> None:
                        await temporal.start_workflow(
                            StartOnlyWorkflow.run, id=f"bench-start-{run_id}-{number}", task_queue=raw_queue
                        )

                    async def start_floor(number: int) -> None:
                        await temporal.start_workflow(
                            FloorResponseWorkflow.run, f"bench-floor-ticket-{run_id}-{number}",
                            id=f"bench-floor-response-{run_id}-{number}", task_queue=floor_queue,
                        )

                    async def post(number: int) -> None:
                        await post_detractor(http, survey, f"{run_id}-{number}", number)

                    def tickets_in_read_model() -> int:
                        with Session(engine) as session:
                            return session.scalar(
                                select(func.count()).select_from(TicketRow).where(TicketRow.workspace_id == workspace_id)
                            )

                    # Warm-up: sandbox imports, connection pools, statements.
                    await bounded("warm-up", 50, 8, start_raw)
                    await bounded("warm-up", 50, 8, lambda n: start_floor(args.count + n))
                    await bounded("warm-up", 50, 8, lambda n: post(args.count + n))
                    deadline = time.monotonic() + 60
                    while await asyncio.to_thread(tickets_in_read_model) < 50:
                        if time.monotonic() > deadline:
                            raise BenchError("warm-up tickets did not reach the read model")
                        await asyncio.sleep(0.2)

                    before_raw = cpu.read()
                    raw = await bounded(f"raw start_workflow, {args.concurrency} in flight", args.count,
                                        args.concurrency, lambda n: start_raw(1000 + n))
                    raw_cpu = ProcessCpu.per_operation(before_raw, cpu.read(), args.count)
                    raw_completed = raw.wall + await wait_completed(
                        temporal, raw_queue, "BenchStartOnly", args.count + 50, args.timeout)
                    before_floor = cpu.read()
                    started = time.perf_counter()
                    await bounded("floor", args.count, args.concurrency, start_floor)
                    floor_done = time.perf_counter() - started + await wait_completed(
                        temporal, floor_queue, "BenchStartOnly", args.count + 50, args.timeout)
                    floor_cpu = ProcessCpu.per_operation(before_floor, cpu.read(), args.count)
                    before_intake = cpu.read()
                    started = time.perf_counter()
                    posted = await bounded(f"POST webhook (202), {args.concurrency} in flight", args.count,
                                           args.concurrency, post)
                    posting_done = time.perf_counter() - started
                    deadline = time.monotonic() + args.timeout
                    while (have := await asyncio.to_thread(tickets_in_read_model)) < args.count + 50:
                        if time.monotonic() > deadline:
                            raise BenchError(f"only {have - 50} of {args.count} tickets after {args.timeout:.0f} s")
                        await asyncio.sleep(0.1)
                    all_done = time.perf_counter() - started
                    intake_cpu = ProcessCpu.per_operation(before_intake, cpu.read(), args.count)

        engine.dispose()
        raw_rate = raw.throughput
        intake_rate = args.count / all_done
        floor_rate = args.count / floor_done
        print(f"read model: {shown_url(database_url)}; {load_line()}")
        print(latency_table([raw, posted]))
        print(table(
            ["figure", "value"],
            [
                ["raw workflow starts/s", f"{raw_rate:,.0f}"],
                ["  the same workflows run to completion/s", f"{args.count / raw_completed:,.0f}"],
                ["floor: response workflow + child completed/s", f"{floor_rate:,.0f}"],
                ["webhooks accepted/s (202)", f"{args.count / posting_done:,.0f}"],
                [f"tickets in the read model/s ({args.count} end to end)", f"{intake_rate:,.0f}"],
                ["ratio intake / raw", f"{intake_rate / raw_rate:.2f} (goal >= {GOAL_RATIO}): "
                                       f"{goal(intake_rate / raw_rate >= GOAL_RATIO)}"],
                ["ratio floor / raw", f"{floor_rate / raw_rate:.2f}: "
                                      + ("within reach" if floor_rate / raw_rate >= GOAL_RATIO
                                         else "the floor is already below the goal")],
            ],
            right=[False, True],
        ))
        print()
        print(table(
            ["CPU per operation (ms)", "raw start", "floor pair", "intake ticket"],
            [[name, ms(raw_cpu[name]), ms(floor_cpu[name]), ms(intake_cpu[name])] for name in intake_cpu]
            + [["all processes", ms(sum(raw_cpu.values())), ms(sum(floor_cpu.values())),
                ms(sum(intake_cpu.values()))]],
            right=[False, True, True, True],
        ))
        print(
            "\nThe raw and floor phases' workers run in this process; other processes still idle then (polling)\n"
            "show what they use doing nothing. Intake: from the first webhook until the read model\n"
            f"holds every ticket. At that CPU per ticket, {os.cpu_count()} idle cores would take "
            f"{os.cpu_count() / sum(intake_cpu.values()):,.0f} tickets/s\n"
            f"(and {os.cpu_count() / sum(raw_cpu.values()):,.0f} raw starts/s)."
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="responses, and raw starts (2000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite", help="the read model")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the tickets (600)")
    args = parser.parse_args(argv)
    if min(args.count, args.concurrency) < 1:
        parser.error("--count and --concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_async_bench("bench.intake", lambda: run(args), args.timeout + 300)


if __name__ == "__main__":
    sys.exit(main())
