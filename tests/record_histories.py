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
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from activities.mail import MailActivities
from activities.mailer import Mailer
from activities.notices import NoticeActivities
from domain.alerts import AlertRule, Notify, ScoreCriterion
from domain.commands import (
    Command, CustomerReply, NewTicket, ReplacePolicy, ReplyCommand, SnoozeCommand, TicketChange,
)
from domain.escalation import EscalationRule
from domain.responses import Answer, FieldMapping, SurveyResponse, map_response
from domain.ticket import Source, TicketPolicy, workflow_id_for
from store.configuration import create_survey
from store.db import make_engine, migrate
from store.intake import save_alert_rule
from store.models import Segment, SegmentManager, User, UserRole, Workspace
from worker import build_worker
from workflows.intake import (
    MessageIntake,
    MessageIntakeWorkflow,
    SurveyIntake,
    SurveyResponseWorkflow,
    survey_intake_workflow_id,
)
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


async def concurrent_updates(env: WorkflowEnvironment, task_queue: str) -> list[WorkflowHistory]:
    """Comments sent all at once, so that workflow tasks carry several updates
    whose handlers project (local activities) in the same task."""
    client = env.client
    ticket_id = str(uuid.uuid4())
    new = NewTicket(id=ticket_id, source=Source.MANUAL, customer_email="kim@example.com", segment="retail",
                    owner="ann", comment="Phoned in")
    handle = await client.start_workflow(
        TicketWorkflow.run, TicketWorkflowInput(new=new, policy=TicketPolicy(segment_managers=MANAGERS)),
        id=workflow_id_for(ticket_id), task_queue=task_queue,
    )
    await handle.execute_update(TicketWorkflow.comment, Command(comment="first", actor="ann"))
    await asyncio.gather(*(
        handle.execute_update(TicketWorkflow.comment, Command(comment=f"at once {i}", actor="ann")) for i in range(8)
    ))
    await handle.execute_update(TicketWorkflow.delete, Command(comment="done", actor="ann"))
    await handle.execute_update(TicketWorkflow.purge, Command(comment="purge", actor="ann"))
    await handle.result()
    return [await handle.fetch_history()]


async def closed_loop(env: WorkflowEnvironment, task_queue: str) -> list[WorkflowHistory]:
    """A detractor's ticket, the loop closed: owned, opened, replied to by
    mail, the customer's answer, resolved, confirmed by the customer."""
    client = env.client
    ticket_id = str(uuid.uuid4())
    new = NewTicket(
        id=ticket_id, source=Source.SURVEY, survey_id="nps-q4", response_id="resp-77",
        customer_email="pat@example.com", customer_name="Pat", segment="b2b",
        customer_comment="Delivery was late", score=2, comment="Detractor: score 2",
    )
    handle = await client.start_workflow(
        TicketWorkflow.run, TicketWorkflowInput(new=new, policy=TicketPolicy(segment_managers=MANAGERS)),
        id=workflow_id_for(ticket_id), task_queue=task_queue,
    )
    await handle.execute_update(TicketWorkflow.change, TicketChange(owner="bob", comment="Mine", actor="bob"))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status="open", comment="Calling", actor="bob"))
    await handle.execute_update(
        TicketWorkflow.reply, ReplyCommand(body="Sorry, Pat: a voucher is on its way.", comment="Voucher", actor="bob")
    )
    await handle.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="Thank you, got it."))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status="resolved", comment="Voucher used", actor="bob"))
    await handle.execute_update(
        TicketWorkflow.change,
        TicketChange(status="closed", comment="The customer confirmed that it is solved.", actor="pat@example.com"),
    )
    await handle.result()
    return [await handle.fetch_history()]


async def survey_intake(env: WorkflowEnvironment, task_queue: str, engine: Engine) -> list[WorkflowHistory]:
    """A detractor's response becomes a ticket (with a notification rule that
    mails a manager); a promoter's is only kept."""
    survey = create_survey(engine, "default", "Recorded NPS", field_mapping=SURVEY_MAPPING.model_dump(),
                           default_segment="retail")
    save_alert_rule(engine, survey.id, AlertRule(
        id=f"{survey.id}-notify", name="Tell the lead", criteria=[ScoreCriterion(max=3)],
        when_met=[Notify(recipients=["lead@example.com"])],
    ))
    histories = []
    for response_id, score in (("r-detractor", 2), ("r-promoter", 10)):
        response = SurveyResponse(
            survey_id=survey.id, response_id=response_id, submitted_at=await env.get_current_time(),
            answers=[Answer(key="nps", type="number", value=score), Answer(key="email", type="email", value="pat@example.com")],
        )
        intake = SurveyIntake(response=response, mapped=map_response(response, SURVEY_MAPPING),
                              received_at=await env.get_current_time())
        handle = await env.client.start_workflow(
            SurveyResponseWorkflow.run, intake, id=survey_intake_workflow_id(survey.id, response_id),
            task_queue=task_queue,
        )
        await handle.result()
        histories.append(await handle.fetch_history())
    return histories


async def message_intake(env: WorkflowEnvironment, task_queue: str, engine: Engine) -> list[WorkflowHistory]:
    """A web form becomes a ticket and the customer gets the automatic reply."""
    ticket_id = str(uuid.uuid4())
    intake = MessageIntake(
        ticket_id=ticket_id, source=Source.FORM, workspace_id="default", customer_email="sam@example.com",
        customer_name="Sam", segment="retail", subject="Lid", message="The lid cracked.",
        received_at=await env.get_current_time(),
    )
    handle = await env.client.start_workflow(
        MessageIntakeWorkflow.run, intake, id=f"message-intake-{ticket_id}", task_queue=task_queue
    )
    await handle.result()
    return [await handle.fetch_history()]


SCENARIOS = {
    "full_lifecycle": full_lifecycle, "continued_as_new": continued_as_new, "concurrent_updates": concurrent_updates,
    "closed_loop": closed_loop,
}
INTAKE_SCENARIOS = {"survey_intake": survey_intake, "message_intake": message_intake}
SURVEY_MAPPING = FieldMapping(score="nps", customer_email="email")


def _configure(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Workspace(id="default", name="Recorded"))
        session.add(User(username="ann", email="ann@example.com", role=UserRole.MANAGER))
        session.flush()
        session.add(Segment(workspace_id="default", name="retail"))
        session.flush()
        segment = session.scalars(select(Segment)).one()
        user = session.scalars(select(User)).one()
        session.add(SegmentManager(segment_id=segment.id, user_id=user.id))


@asynccontextmanager
async def cxloop_worker(env: WorkflowEnvironment) -> AsyncIterator[tuple[str, Engine]]:
    """cxloop's worker on `env`, on a task queue of its own, projecting into a
    fresh SQLite read model, its mailer sending the outbox to a local SMTP
    sink; yields the task queue and the read model's engine. The recorder's
    and bench/closed_loop.py's."""
    task_queue = f"record-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="cxloop-record-") as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
        probe.close()
        url = f"sqlite:///{Path(tmp) / 'read-model.db'}"
        migrate(url)
        engine = make_engine(url)
        _configure(engine)
        sink = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
        sink.start()
        try:
            mail = MailActivities("127.0.0.1", smtp_port, "cxloop <no-reply@cxloop.test>")
            notices = NoticeActivities(engine, mail, "record-secret", "http://127.0.0.1:8000")
            async with (
                build_worker(env.client, task_queue, engine=engine, mail=mail, notices=notices,
                             activity_executor=ThreadPoolExecutor(4)),
                Mailer(engine, notices, poll_interval=0.1),
            ):
                yield task_queue, engine
        finally:
            sink.stop()
            engine.dispose()


async def record_all(env: WorkflowEnvironment) -> dict[str, list[WorkflowHistory]]:
    """Every scenario, on `env` (see cxloop_worker)."""
    async with cxloop_worker(env) as (task_queue, engine):
        recorded = {name: await scenario(env, task_queue) for name, scenario in SCENARIOS.items()}
        for name, scenario in INTAKE_SCENARIOS.items():
            recorded[name] = await scenario(env, task_queue, engine)
        return recorded


async def main(version: str) -> None:
    from tests.conftest import TEST_SERVER, register_search_attributes

    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=str(TEST_SERVER)
    ) as env:
        await register_search_attributes(env.client)
        recorded = await record_all(env)
    HISTORIES.mkdir(exist_ok=True)
    for name, histories in recorded.items():
        prefix = "intake" if name in INTAKE_SCENARIOS else "ticket"
        for run, history in enumerate(histories, start=1):
            path = HISTORIES / f"{prefix}_{version}_{name}_run{run}.json"
            path.write_text(history.to_json())
            print(f"recorded {path} ({len(history.events)} events)")


if __name__ == "__main__":
    # The version names the workflow code the histories come from: add a new
    # one (v4, ...) after a patched change; never overwrite committed ones.
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "new"))
