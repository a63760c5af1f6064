"""Observability: the API's Prometheus metrics, the worker's (Temporal's own
and cxloop's domain metrics on the SDK runtime's endpoint) and JSON log lines.

Everything is real: HTTP through the ASGI app, `python worker.py` and
`uvicorn api.app:app` as processes on the shared dev server, scraped over
HTTP and read as Prometheus parses it (prometheus_client.parser).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.projection import ProjectionActivities
from domain.commands import Command, NewTicket, decide_comment, decide_create, decide_due_timers
from domain.escalation import EscalationRule
from domain.ticket import Source, TicketProjection, TicketStatus
from observability import TicketLogFormatter, worker_runtime
from store.db import migrate
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv
from tests.conftest import TicketEnv, default_policy

REPO = Path(__file__).resolve().parent.parent
TICKET_ROUTE = "/api/tickets/{ticket_id}"


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of the samples called `name` whose labels include `labels`.
    A counter is found by its own name too: the SDK serves counters without
    the `_total` that the parser adds to their samples."""
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if (sample.name == name or (family.type == "counter" and family.name == name))
        and labels.items() <= sample.labels.items()
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> str:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def wait_until(check: Callable[[], object], timeout: float = 30, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            if await check():
                return
        except httpx.TransportError:
            pass  # not listening yet
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        await asyncio.sleep(0.2)


def json_lines(path: Path) -> list[dict]:
    """Every line of a process's log, each of which must be one JSON object."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines, f"{path.name} is empty"
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys(), record
    return records


# --- the API's /metrics ---------------------------------------------------------------


async def test_api_counts_and_times_requests_by_route_template(api: ApiEnv, workspace: str) -> None:
    created = await api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail", "comment": "by phone"})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]
    before = await scrape(api.http)

    assert (await api.http.get(f"/api/tickets/{ticket_id}")).status_code == 200
    assert (await api.http.get(f"/api/tickets/{ticket_id}")).status_code == 200
    assert (await api.http.get("/api/tickets/no-such-ticket")).status_code == 404
    assert (await api.http.get(f"/no/such/page/{ticket_id}")).status_code == 404
    after = await scrape(api.http)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("cxloop_http_requests_total", method="GET", route=TICKET_ROUTE, status="200") == 2
    assert grew("cxloop_http_requests_total", method="GET", route=TICKET_ROUTE, status="404") == 1
    assert grew("cxloop_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert grew("cxloop_http_request_duration_seconds_count", method="GET", route=TICKET_ROUTE) == 3
    assert grew("cxloop_http_request_duration_seconds_sum", method="GET", route=TICKET_ROUTE) > 0
    # Every request answered within the histogram's last finite bucket.
    buckets = {s.labels["le"]: s.value for f in text_string_to_metric_families(after) for s in f.samples
               if s.name == "cxloop_http_request_duration_seconds_bucket" and s.labels["route"] == TICKET_ROUTE}
    assert buckets["60.0"] == buckets["+Inf"] >= 3
    # The route template, never the raw path: no label holds a ticket's id.
    assert ticket_id not in after
    # The ticket's creation is counted under its route too, and so is the scrape.
    assert total(after, "cxloop_http_requests_total", method="POST", route="/api/tickets", status="201") >= 1
    assert total(after, "cxloop_http_requests_total", method="GET", route="/metrics", status="200") >= 1
    # The process collector's figures come along.
    assert total(after, "process_resident_memory_bytes") > 0


async def test_a_body_refused_before_routing_is_counted_as_unmatched(api: ApiEnv) -> None:
    too_large = b"x" * (api.settings.max_body_bytes + 1)
    before = await scrape(api.http)
    refused = await api.http.post("/api/tickets", content=too_large, headers={"content-type": "application/json"})
    assert refused.status_code == 413
    after = await scrape(api.http)
    labels = {"method": "POST", "route": "unmatched", "status": "413"}
    assert total(after, "cxloop_http_requests_total", **labels) - total(before, "cxloop_http_requests_total", **labels) == 1


# --- the worker's endpoint: the SDK's metrics and cxloop's ---------------------------------


@pytest.fixture
def worker_process(
    dev_server: WorkflowEnvironment, smtp_server, tmp_path: Path
) -> Iterator[tuple[str, str, Path]]:
    """`python worker.py` on the shared dev server with a SQLite read model, on
    a task queue of its own, its metrics on a free loopback port. Yields the
    task queue, the metrics address and the file its log goes to."""
    database_url = f"sqlite:///{tmp_path / 'read-model.db'}"
    migrate(database_url)
    task_queue = f"cxloop-observability-{uuid.uuid4().hex[:8]}"
    metrics_address = free_address()
    controller, _ = smtp_server
    environment = {
        **os.environ,
        "CXLOOP_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CXLOOP_TEMPORAL_NAMESPACE": dev_server.client.namespace,
        "CXLOOP_TASK_QUEUE": task_queue,
        "CXLOOP_DATABASE_URL": database_url,
        "CXLOOP_SMTP_HOST": controller.hostname,
        "CXLOOP_SMTP_PORT": str(controller.port),
        "CXLOOP_WORKER_METRICS_ADDRESS": metrics_address,
        "CXLOOP_LOG_FORMAT": "json",
    }
    log_file = tmp_path / "worker.log"
    with log_file.open("w") as log:
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=REPO, env=environment, stdout=log, stderr=log)
    try:
        yield task_queue, metrics_address, log_file
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def test_worker_serves_temporal_and_ticket_metrics_and_logs_json(
    dev_server: WorkflowEnvironment, worker_process: tuple[str, str, Path]
) -> None:
    task_queue, metrics_address, log_file = worker_process
    tickets = TicketEnv(name="observability", env=dev_server, task_queue=task_queue, unit=timedelta(seconds=1))
    fast = EscalationRule(id="unanswered-1s", name="unanswered for a second", after=timedelta(seconds=1),
                          assignee="boss")
    escalating = [
        await tickets.start_ticket(policy=default_policy(escalation_rules=[fast]), segment=segment)
        for segment in ("retail", "support")
    ]
    quiet = await tickets.start_ticket(segment="b2b")
    for handle in escalating:
        await tickets.wait_for(handle, lambda state: state.status is TicketStatus.ESCALATED)

    scraped = ""
    async with httpx.AsyncClient(base_url=f"http://{metrics_address}", timeout=5) as http:
        async def both_escalations_landed() -> bool:
            nonlocal scraped
            scraped = await scrape(http)
            return total(scraped, "cxloop_escalations_fired", rule=fast.id) == 2

        await wait_until(both_escalations_landed, what="two escalations counted")

    mine = {"task_queue": task_queue}
    assert total(scraped, "cxloop_tickets_created", source="manual", **mine) == 3
    assert total(scraped, "cxloop_escalations_fired", **mine) == 2
    # Each log line landed once: the created lines of three tickets and the
    # status and owner lines of two escalations.
    assert total(scraped, "cxloop_projection_lag_seconds_count", **mine) == 3 + 2 * 2
    lag_buckets = samples(scraped, "cxloop_projection_lag_seconds_bucket", le="300", **mine)
    assert lag_buckets == [7], "every line landed within five minutes, in the overridden seconds buckets"
    # Every garbage collection of the worker, by generation, in seconds buckets.
    collections = total(scraped, "cxloop_worker_gc_pause_seconds_count", generation="0")
    assert collections > 0
    assert samples(scraped, "cxloop_worker_gc_pause_seconds_bucket", le="5", generation="0") == [collections]
    # The SDK's own metrics on the same endpoint.
    assert total(scraped, "temporal_workflow_task_execution_latency_count", task_queue=task_queue) > 0
    assert total(scraped, "temporal_request", operation="RespondWorkflowTaskCompleted") > 0

    records = json_lines(log_file)
    assert any("worker polling task queue" in r["message"] and r["logger"] == "cxloop.worker" for r in records)
    assert any(r["message"] == f"worker metrics on http://{metrics_address}/metrics" for r in records)
    about = {r["ticket_id"]: r for r in records if "ticket_id" in r and "created" in r["message"]}
    assert set(about) == {handle.id.removeprefix("ticket-") for handle in [*escalating, quiet]}
    escalated = [r for r in records if "escalated by rule" in r.get("message", "")]
    assert {r["workflow_id"] for r in escalated} == {handle.id for handle in escalating}
    assert all(r["level"] == "INFO" and r["ticket_id"] in r["workflow_id"] for r in escalated)
    # The activity's details ride along as a field, not inside the message.
    assert all("activity_id" not in r["message"] for r in escalated)


def test_a_retried_projection_is_counted_once(ticket_store: TicketStore) -> None:
    """The projection activity counts only log lines new to the read model: a
    retry of one that already landed, or the re-run of a task whose worker
    died after projecting, changes no metric."""
    metrics_address = free_address()
    runtime = worker_runtime(metrics_address)
    environment = ActivityEnvironment()
    environment.metric_meter = runtime.metric_meter
    project = ProjectionActivities(ticket_store).project_ticket
    rule = EscalationRule(id="r-retried", after=timedelta(minutes=5), assignee="boss")
    policy = default_policy(escalation_rules=[rule])
    created_at = datetime.now(UTC) - timedelta(minutes=10)
    new = NewTicket(id=str(uuid.uuid4()), source=Source.EMAIL, customer_email="c@example.com", segment="retail",
                    comment="by mail")
    created = decide_create(new, policy, created_at)
    escalated = decide_due_timers(created.state, policy, created_at + timedelta(minutes=5))
    assert escalated is not None
    # A worker killed after projecting the escalation: the re-run task decides
    # it again a little later, and its projection replaces the first.
    rerun = decide_due_timers(created.state, policy, created_at + timedelta(minutes=5, seconds=1))
    assert rerun is not None and rerun.state.version == escalated.state.version
    for decision in (created, created, escalated, escalated, rerun, created):
        environment.run(project, TicketProjection(state=decision.state, events=decision.events))

    scraped = httpx.get(f"http://{metrics_address}/metrics", timeout=5).text
    assert total(scraped, "cxloop_tickets_created", source="email") == 1
    assert total(scraped, "cxloop_escalations_fired", rule="r-retried") == 1
    # The created line waited ten minutes, the escalation's two five.
    assert total(scraped, "cxloop_projection_lag_seconds_count") == 3
    assert 19 * 60 < total(scraped, "cxloop_projection_lag_seconds_sum") < 21 * 60
    assert ticket_store.get(new.id).status is TicketStatus.ESCALATED


def test_log_lines_of_an_uncommitted_workflow_task_are_counted_when_repaired(ticket_store: TicketStore) -> None:
    """A discarded workflow task projected two comments; the committed task,
    decided later, ran them in the other order: the worker counts the two
    lines it corrected."""
    metrics_address = free_address()
    runtime = worker_runtime(metrics_address)
    environment = ActivityEnvironment()
    environment.metric_meter = runtime.metric_meter
    project = ProjectionActivities(ticket_store).project_ticket
    now = datetime.now(UTC)
    new = NewTicket(id=str(uuid.uuid4()), source=Source.MANUAL, customer_email="c@example.com", segment="retail",
                    comment="by phone")
    created = decide_create(new, default_policy(), now)
    environment.run(project, TicketProjection(state=created.state, events=created.events, decided_at=now))
    for attempt, order in ((1, ("first", "second")), (2, ("second", "first"))):
        state = created.state
        at = now + timedelta(seconds=attempt)
        for text in order:
            decision = decide_comment(state, Command(comment=text), at)
            environment.run(project, TicketProjection(state=decision.state, events=decision.events, decided_at=at))
            state = decision.state

    scraped = httpx.get(f"http://{metrics_address}/metrics", timeout=5).text
    assert total(scraped, "cxloop_projection_repairs") == 2
    assert [event.comment for event in ticket_store.events(new.id)] == ["by phone", "second", "first"]


def test_a_taken_metrics_address_leaves_the_worker_without_an_endpoint(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="cxloop.observability"):
            runtime = worker_runtime(address)
        # Still a runtime a worker can run on, and the port is still the other owner's.
        runtime.metric_meter.create_counter("cxloop_test_counter").add(1)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://{address}/metrics", timeout=1)
    assert f"worker metrics are not served on {address}" in caplog.text


def test_a_workflow_log_line_carries_its_workflow_and_ticket() -> None:
    """workflow.logger's records hold the workflow's details in
    `temporal_workflow`; the JSON line lifts the ids out of it."""
    record = logging.makeLogRecord({
        "name": "temporalio.workflow", "levelno": logging.WARNING, "levelname": "WARNING",
        "msg": "projection of ticket %s failed; retrying durably", "args": ("t-42",),
        "temporal_workflow": {"workflow_id": "ticket-t-42", "workflow_type": "TicketWorkflow", "attempt": 1},
    })
    line = json.loads(TicketLogFormatter().format(record))
    assert line["message"] == "projection of ticket t-42 failed; retrying durably"
    assert (line["level"], line["logger"]) == ("WARNING", "temporalio.workflow")
    assert (line["workflow_id"], line["ticket_id"]) == ("ticket-t-42", "t-42")
    assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
    # An intake workflow's line names its workflow, and no ticket.
    record.temporal_workflow = {"workflow_id": "survey-response-abc"}
    line = json.loads(TicketLogFormatter().format(record))
    assert line["workflow_id"] == "survey-response-abc" and "ticket_id" not in line


# --- the API process's log -----------------------------------------------------------------


async def test_api_process_logs_json_lines(dev_server: WorkflowEnvironment, tmp_path: Path) -> None:
    """`uvicorn api.app:app`, as docker-compose and `make run` start it: uvicorn's
    own lines and each request's line are JSON objects."""
    database_url = f"sqlite:///{tmp_path / 'read-model.db'}"
    migrate(database_url)
    address = free_address()
    host, port = address.rsplit(":", 1)
    environment = {
        **os.environ,
        "CXLOOP_TEMPORAL_ADDRESS": dev_server.client.service_client.config.target_host,
        "CXLOOP_DATABASE_URL": database_url,
        "CXLOOP_LOG_FORMAT": "json",
    }
    log_file = tmp_path / "api.log"
    with log_file.open("w") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:app", "--host", host, "--port", port],
            cwd=REPO, env=environment, stdout=log, stderr=log,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=5) as http:
            async def healthy() -> bool:
                return (await http.get("/healthz")).status_code == 200

            await wait_until(healthy, what="the API answering /healthz")
            scraped = await scrape(http)
            assert total(scraped, "cxloop_http_requests_total", route="/healthz", status="200") >= 1
    finally:
        api.send_signal(signal.SIGINT)
        api.wait(timeout=30)
    records = json_lines(log_file)
    assert any(r["logger"] == "uvicorn.error" and "Application startup complete" in r["message"] for r in records)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any('"GET /healthz HTTP/1.1" 200' in r["message"] for r in access), access
    assert not [r for r in records if "color_message" in r]
