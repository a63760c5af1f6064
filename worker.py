"""The cxloop worker: runs the ticket workflows and their activities.

    python worker.py        (settings from CXLOOP_* environment variables)
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from sqlalchemy import Engine

from activities.projection import ProjectionActivities
from activities.intake import IntakeActivities
from activities.mail import MailActivities
from activities.mailer import Mailer
from activities.notices import NoticeActivities
from activities.rollout import RolloutActivities
from api.dashboard import i18n
from observability import configure_logging, watch_garbage_collector, worker_runtime
from settings import get_settings
from store.db import make_engine
from store.tickets import TicketStore
from workflows.intake import MessageIntakeWorkflow, SurveyResponseWorkflow
from workflows.rollout import PolicyRolloutWorkflow
from workflows.ticket import TicketWorkflow

log = logging.getLogger("cxloop.worker")


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    """How the worker runs workflow code.

    Temporal's sandbox fails a workflow that reads the clock, random numbers or
    the network, in the modules it re-imports for every workflow run. The
    tests run cxloop's workflows in it (build_worker's default), and
    tests/test_replay.py replays every recorded history in the strict default
    sandbox, where nothing of cxloop is passed through. `python worker.py`
    runs the same code without it: each entry into the sandbox (one per
    activation and per payload; an update with its projection makes 16) costs
    about 80 us, and each new workflow re-imports its module (TicketWorkflow:
    10 ms), which made up about 2 ms of CPU per update and 15-25 ms per survey
    response. Passing workflows/ through the sandbox instead would save the
    imports but not the entries, and its code would go unchecked all the same.
    """
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    # domain/ is pure and deterministic; passing it through keeps one copy of
    # its classes (and of zoneinfo's tzinfo types) inside the sandbox.
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("domain"))


def build_worker(
    client: Client,
    task_queue: str,
    *,
    engine: Engine | None = None,
    mail: MailActivities | None = None,
    notices: NoticeActivities | None = None,
    activity_executor: ThreadPoolExecutor | None = None,
    sandboxed: bool = True,
    **worker_options,
) -> Worker:
    """The worker for cxloop's workflows. With a read model `engine` the
    projection writes to it (and sends a ticket whose policy is older than its
    workspace's configuration the current one, through `client`), and
    roll-outs and intake run; without one (workflow-only tests) the projection
    only logs. `sandboxed`: see `workflow_runner`. Call it on the event loop
    the client runs on."""
    store = TicketStore(engine, mail_settle=timedelta(seconds=get_settings().mail_settle_seconds)) if engine else None
    projection = ProjectionActivities(store, client)
    if mail is not None and mail.wording is None:
        # Mails speak the dashboard's catalogs (activities/ imports nothing of api/).
        mail.wording = i18n
    if mail is not None and mail.engine is None:
        mail.engine = engine
    if notices is None:
        settings = get_settings()
        notices = NoticeActivities(engine, mail, settings.secret_key, settings.public_url)
    activities: list = [projection.project_ticket, notices.send_ticket_notice]
    if engine is not None:
        intake = IntakeActivities(engine)
        activities += [
            RolloutActivities(client, engine).roll_out_policy,
            intake.prepare_survey_intake,
            intake.prepare_message_intake,
            intake.pick_owner,
            intake.user_email,
        ]
    if mail is not None:
        activities += [mail.send_auto_reply, mail.send_notification]
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TicketWorkflow, PolicyRolloutWorkflow, SurveyResponseWorkflow, MessageIntakeWorkflow],
        activities=activities,
        activity_executor=activity_executor or ThreadPoolExecutor(max_workers=16),
        workflow_runner=workflow_runner(sandboxed),
        **worker_options,
    )


async def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format)
    # workflows.client.connect's setup, plus the runtime that serves this
    # worker's metrics for Prometheus.
    runtime = worker_runtime(settings.worker_metrics_address)
    watch_garbage_collector(runtime.metric_meter)
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    engine = make_engine(settings.database_url)
    mail = MailActivities(settings.smtp_host, settings.smtp_port, settings.mail_from)
    notices = NoticeActivities(engine, mail, settings.secret_key, settings.public_url)
    worker = build_worker(
        client, settings.task_queue, engine=engine, mail=mail, notices=notices, sandboxed=settings.workflow_sandbox,
        max_cached_workflows=settings.worker_max_cached_workflows,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The outbox's mails leave from here (activities/mailer.py).
    mailer = Mailer(engine, notices, poll_interval=settings.mailer_poll_seconds)
    log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_address)
    async with worker, mailer:
        await stop.wait()
        log.info("worker shutting down")
    engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
