"""No ticket keeps a stale configuration: each workspace counts its
configuration changes (`workspaces.config_revision`, migration 0006), a
ticket's policy carries the revision it was read at, and the projection sends
a ticket whose copy is older the current policy, even a ticket that started
after the change's roll-out had looked for tickets.

Real parts throughout: the API over HTTP (ASGI), the shared dev server and a
worker, SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.projection import ProjectionActivities
from activities.rollout import REPLACE_POLICY_SIGNAL, replace_policy_command
from domain.commands import NewTicket, ReplacePolicy, decide_create, decide_policy
from domain.escalation import EscalationRule
from domain.ticket import EventKind, Source, TicketPolicy, TicketProjection, workflow_id_for
from store import configuration
from store.configuration import ManagerEntry, load_policy, workspace_revision
from store.db import current_revision, make_engine, migrate
from store.models import UserRole
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv, created, eventually, name_in, new_ticket
from tests.conftest import default_policy
from tests.db_fixtures import downgrade
from worker import build_worker
from workflows.rollout import rollout_workflow_id
from workflows.ticket import TicketWorkflow, TicketWorkflowInput

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
AN_HOUR = 3600


async def start_ticket(api: ApiEnv, workspace_id: str, policy: TicketPolicy) -> WorkflowHandle:
    """Start a ticket the way intake does, with a policy read earlier."""
    ticket_id = str(uuid.uuid4())
    new = NewTicket(
        id=ticket_id, source=Source.FORM, workspace_id=workspace_id, customer_email="pat@example.com",
        segment="retail", comment="From the web form",
    )
    return await api.temporal.start_workflow(
        TicketWorkflow.run,
        TicketWorkflowInput(new=new, policy=policy),
        id=workflow_id_for(ticket_id),
        task_queue=api.task_queue,
    )


async def add_rule_and_roll_out(api: ApiEnv, workspace_id: str) -> dict:
    """An escalation rule through the API, once its roll-out has finished."""
    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={"workspace_id": workspace_id, "name": "an hour", "after_seconds": AN_HOUR,
                  "assignee": name_in(workspace_id, "boss")},
        )
    )
    await api.temporal.get_workflow_handle(rollout_workflow_id(workspace_id)).result()
    return rule


async def replace_policy_signals(handle: WorkflowHandle) -> int:
    history = await handle.fetch_history()
    return sum(
        1 for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and event.workflow_execution_signaled_event_attributes.signal_name == REPLACE_POLICY_SIGNAL
    )


# --- end to end -------------------------------------------------------------------------


async def test_a_ticket_started_with_a_stale_policy_takes_the_current_one(
    api: ApiEnv, workspace: str
) -> None:
    """A slow intake reads the policy, an escalation rule is added and rolled
    out, and only then does the intake start its ticket: the ticket's first
    projection finds the old revision and sends it the rule, with no further
    configuration change."""
    stale = load_policy(api.engine, workspace)
    assert stale.revision == 0 and stale.escalation_rules == []
    # A ticket that exists when the rule comes: the roll-out reaches it.
    existing_ticket = await new_ticket(api, workspace, "retail")
    existing = api.temporal.get_workflow_handle(workflow_id_for(existing_ticket["id"]))

    rule = await add_rule_and_roll_out(api, workspace)
    current = load_policy(api.engine, workspace)
    assert current.revision == 1 and [r.id for r in current.escalation_rules] == [rule["id"]]
    # The roll-out is over: nothing but the projection can reach this one.
    late = await start_ticket(api, workspace, stale)

    for handle in (existing, late):
        async def policy_is_current(handle: WorkflowHandle = handle) -> TicketPolicy | None:
            policy = await handle.query(TicketWorkflow.query_policy)
            return policy if policy.revision == current.revision else None

        policy = await eventually(policy_is_current, f"{handle.id} holds the current policy")
        assert policy.escalation_rules == current.escalation_rules
        state = await handle.query(TicketWorkflow.query_state)
        assert (state.owner, state.escalation_rule_id) == (name_in(workspace, "ann"), rule["id"])
        assert state.escalation_due_at == state.escalation_clock_started_at + timedelta(seconds=AN_HOUR)
        log = await handle.query(TicketWorkflow.query_log)
        moved = [e for e in log if e.kind is EventKind.RULES_REPLACED and e.field == "escalation_due_at"]
        assert len(moved) == 1 and moved[0].new == state.escalation_due_at.isoformat()

        async def deadline_in_read_model(ticket_id: str = state.id) -> str | None:
            return (await api.http.get(f"/api/tickets/{ticket_id}")).json()["escalation_due_at"]

        await eventually(deadline_in_read_model, f"{handle.id}'s deadline in the read model")
    # The late ticket was sent the policy once, by its first projection; its
    # projection after that carried the current revision and sent nothing.
    assert await replace_policy_signals(late) == 1


async def test_a_ticket_with_the_current_revision_is_sent_nothing(api: ApiEnv, workspace: str) -> None:
    await add_rule_and_roll_out(api, workspace)
    current = load_policy(api.engine, workspace)
    assert current.revision == 1
    # A ticket started before revisions existed is left to the roll-outs too.
    for policy in (current, current.model_copy(update={"revision": None})):
        handle = await start_ticket(api, workspace, policy)
        # Answers once the first projection (and its revision check) is done.
        await handle.execute_update(TicketWorkflow.sync)
        assert await replace_policy_signals(handle) == 0
        assert await handle.query(TicketWorkflow.query_policy) == policy
        assert (await api.http.get(f"/api/tickets/{handle.id.removeprefix('ticket-')}")).status_code == 200


async def test_a_ticket_that_missed_a_change_is_corrected_at_its_next_projection(
    api: ApiEnv, workspace: str
) -> None:
    """A change that no roll-out brought to the ticket (as if the roll-out's
    query had missed it) reaches it with the ticket's next change, whose
    update is answered as usual."""
    handle = await start_ticket(api, workspace, load_policy(api.engine, workspace))
    await handle.execute_update(TicketWorkflow.sync)
    fields = {"name": "an hour", "after_seconds": AN_HOUR, "assignee": name_in(workspace, "boss")}
    rule = configuration.create_escalation_rule(api.engine, workspace, fields)

    ticket_id = handle.id.removeprefix("ticket-")
    change = {"priority": "high", "comment": "Called again"}
    response = await api.http.patch(f"/api/tickets/{ticket_id}", json=change)
    assert response.status_code == 200, response.text

    async def rule_pending() -> bool:
        return (await handle.query(TicketWorkflow.query_state)).escalation_rule_id == rule.id

    await eventually(rule_pending, "the rule's deadline on the ticket")
    assert (await handle.query(TicketWorkflow.query_policy)).revision == 1
    assert await replace_policy_signals(handle) == 1


async def test_a_roll_out_reaches_a_ticket_that_visibility_does_not_show_yet(
    api: ApiEnv, workspace: str
) -> None:
    """The window the projection's check cannot cover: a ticket's first
    projection lands (and finds its revision current), then a change is made
    and rolled out before the ticket's search attributes are visible (they are
    upserted when that first workflow task completes). Here that task has not
    run at all: the ticket's workflow waits on a task queue no worker polls,
    while its first projection is written by the projection activity itself.
    The roll-out finds the ticket in the read model and signals it; a worker
    that then picks the ticket up finds the rule already there."""
    policy = load_policy(api.engine, workspace)
    lagging_queue = f"cxloop-lagging-{uuid.uuid4().hex[:8]}"
    ticket_id = str(uuid.uuid4())
    new = NewTicket(
        id=ticket_id, source=Source.FORM, workspace_id=workspace, customer_email="pat@example.com",
        segment="retail", comment="From the web form",
    )
    handle = await api.temporal.start_workflow(
        TicketWorkflow.run, TicketWorkflowInput(new=new, policy=policy),
        id=workflow_id_for(ticket_id), task_queue=lagging_queue,
    )
    first = decide_create(new, policy, datetime.now(UTC))
    project = ProjectionActivities(TicketStore(api.engine), api.temporal).project_ticket
    projection = TicketProjection(state=first.state, events=first.events, policy_revision=policy.revision)
    await asyncio.to_thread(ActivityEnvironment().run, project, projection)
    # A ticket the read model holds as open but whose workflow is gone (past
    # retention, say): the roll-out skips it rather than failing.
    gone = decide_create(new.model_copy(update={"id": str(uuid.uuid4())}), policy, datetime.now(UTC))
    TicketStore(api.engine).apply(TicketProjection(state=gone.state, events=gone.events))
    assert await replace_policy_signals(handle) == 0

    rule = await add_rule_and_roll_out(api, workspace)

    assert await replace_policy_signals(handle) == 1
    # The roll-out reached that one ticket and skipped the gone one.
    assert await api.temporal.get_workflow_handle(rollout_workflow_id(workspace)).result() == 1
    worker = build_worker(api.temporal, lagging_queue, engine=api.engine,
                          activity_executor=ThreadPoolExecutor(max_workers=2),
                          workflow_failure_exception_types=[Exception])
    async with worker:
        state = await handle.execute_update(TicketWorkflow.sync)
        assert state.escalation_rule_id == rule["id"]
        assert (await handle.query(TicketWorkflow.query_policy)).revision == policy.revision + 1
    # Its own first projection then carried the current revision: no second signal.
    assert await replace_policy_signals(handle) == 1


async def test_a_failed_signal_does_not_fail_the_projection(
    ticket_store: TicketStore, dev_server: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    """The ticket's workflow is gone (say, past retention): the projection
    still lands and the failure is logged; the next projection would try again."""
    workspace_id = f"ws-{uuid.uuid4().hex[:8]}"
    configuration.create_workspace(ticket_store.engine, "Gone", workspace_id)
    configuration.create_segment(ticket_store.engine, workspace_id, "retail")
    assert workspace_revision(ticket_store.engine, workspace_id) == 1
    new = NewTicket(id=str(uuid.uuid4()), source=Source.FORM, workspace_id=workspace_id,
                    customer_email="pat@example.com", segment="retail")
    created_ticket = decide_create(new, default_policy(revision=0), NOW)
    project = ProjectionActivities(ticket_store, dev_server.client).project_ticket
    projection = TicketProjection(state=created_ticket.state, events=created_ticket.events, policy_revision=0)

    with caplog.at_level(logging.WARNING, logger="temporalio.activity"):
        # In a thread, as the worker runs it: the signal goes through this loop.
        await asyncio.to_thread(ActivityEnvironment().run, project, projection)

    assert ticket_store.get(new.id) == created_ticket.state
    assert f"ticket {new.id} holds configuration revision 0; sending it the current one failed" in caplog.text


# --- the decision -----------------------------------------------------------------------


def test_a_new_revision_alone_is_adopted_silently() -> None:
    policy = default_policy(revision=3)
    new = NewTicket(id="t-1", source=Source.MANUAL, customer_email="pat@example.com", segment="retail")
    state = decide_create(new, policy, NOW).state

    decision, adopted = decide_policy(state, policy, replace_policy_command(default_policy(revision=4)), NOW)
    assert decision is None  # no log line, no new version
    assert adopted == default_policy(revision=4)

    # A real change is logged as before, and its revision adopted.
    rule = EscalationRule(id="r-1", after=timedelta(hours=1), assignee="boss")
    decision, adopted = decide_policy(state, policy, ReplacePolicy(escalation_rules=[rule], revision=5), NOW)
    assert decision is not None and decision.state.version == state.version + 1
    assert [(e.kind, e.field) for e in decision.events] == [(EventKind.RULES_REPLACED, "escalation_due_at")]
    assert (adopted.revision, adopted.escalation_rules) == (5, [rule])

    # A command without a revision (a signal from the CLI) keeps the ticket's.
    _, adopted = decide_policy(state, policy, ReplacePolicy(escalation_rules=[rule]), NOW)
    assert adopted.revision == 3


# --- the store ---------------------------------------------------------------------------


def test_every_change_that_is_rolled_out_bumps_the_revision(ticket_store: TicketStore) -> None:
    """Each store call that the configuration API follows with a roll-out
    counts once, in its own transaction; the others do not count."""
    engine = ticket_store.engine
    workspace_id = f"ws-{uuid.uuid4().hex[:8]}"

    def revision() -> int | None:
        return workspace_revision(engine, workspace_id)

    configuration.create_workspace(engine, "Counted", workspace_id)
    ann, bob = (
        configuration.create_user(engine, username=f"{name}-{workspace_id}", email=f"{name}@example.com",
                                  role=UserRole.MANAGER)
        for name in ("ann", "bob")
    )
    survey = configuration.create_survey(engine, workspace_id, "NPS")
    configuration.update_workspace(engine, workspace_id, {"name": "Renamed"})
    assert revision() == 0  # nothing a ticket holds has changed yet

    segment = configuration.create_segment(engine, workspace_id, "retail", [ManagerEntry(ann.username)])
    assert revision() == 1
    configuration.update_segment(engine, segment.id, {"assignment_mode": "manual"})
    assert revision() == 2
    configuration.replace_segment_managers(
        engine, segment.id, [ManagerEntry(ann.username), ManagerEntry(bob.username)]
    )
    assert revision() == 3
    fields = {"after_seconds": 60, "assignee": ann.username}
    rule = configuration.create_escalation_rule(engine, workspace_id, fields)
    assert revision() == 4
    configuration.update_escalation_rule(engine, rule.id, {"enabled": False})
    assert revision() == 5
    configuration.delete_escalation_rule(engine, rule.id)
    assert revision() == 6
    configuration.create_escalation_rule(engine, workspace_id, {**fields, "survey_id": survey.id})
    assert revision() == 7
    configuration.delete_survey(engine, survey.id)  # its rule goes with it
    assert revision() == 8
    configuration.delete_user(engine, bob.id)  # a manager of retail
    assert revision() == 9
    configuration.delete_segment(engine, segment.id)
    assert revision() == 10

    # Changes the API does not roll out leave it alone.
    configuration.create_survey(engine, workspace_id, "CSAT")
    configuration.update_user(engine, ann.id, {"display_name": "Ann"})
    configuration.delete_user(engine, ann.id)  # manages nothing any more
    assert revision() == 10
    assert load_policy(engine, workspace_id).revision == 10
    assert workspace_revision(engine, "no-such-workspace") is None
    assert load_policy(engine, "no-such-workspace").revision is None


# --- migration 0006 ------------------------------------------------------------------------


def test_migration_0006_upgrades_and_downgrades(database_url: str) -> None:
    migrate(database_url, "0005")
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO workspaces (id, name) VALUES ('w', 'Before 0006')"))
            connection.execute(
                text("INSERT INTO segments (id, workspace_id, name) VALUES ('s', 'w', 'retail')")
            )

        migrate(database_url, "0006")
        assert current_revision(database_url) == "0006"
        # The workspace that existed starts at 0, and counts from there.
        # (Read alone: today's load_policy reads columns of later revisions.)
        assert workspace_revision(engine, "w") == 0
        configuration.update_segment(engine, "s", {"calendar": None})
        assert workspace_revision(engine, "w") == 1

        downgrade(database_url, "0005")
        assert current_revision(database_url) == "0005"
        assert "config_revision" not in {c["name"] for c in inspect(engine).get_columns("workspaces")}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id, name FROM workspaces")).all() == [("w", "Before 0006")]
            segments = connection.execute(text("SELECT workspace_id, name FROM segments")).all()
            assert segments == [("w", "retail")]

        migrate(database_url)
        assert workspace_revision(engine, "w") == 0
    finally:
        engine.dispose()
