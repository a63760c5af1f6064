"""The ticket's commands through a real workflow on both servers: edits with
their mandatory comment, the reasons a command is refused, the dedicated
commands (reopen, spam, delete, restore, purge, customer reply) and the same
commands sent as signals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.commands import Command, CustomerReply, EscalateCommand, SnoozeCommand, TicketChange
from domain.ticket import EscalatedBy, EventKind, Priority, TicketStatus
from tests.conftest import TicketEnv
from workflows.ticket import TicketWorkflow


async def refusal(handle: WorkflowHandle, update, command) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, command)
    assert isinstance(failed.value.cause, ApplicationError)
    return failed.value.cause


async def test_change_of_every_editable_field_at_once_logs_each(env: TicketEnv) -> None:
    handle = await env.start_ticket(segment="retail")
    state = await handle.execute_update(
        TicketWorkflow.change,
        TicketChange(
            status=TicketStatus.OPEN, priority=Priority.HIGH, segment="b2b", owner="cy",
            comment="B2B account, bumping", actor="ann",
        ),
    )
    assert (state.status, state.priority, state.segment, state.owner) == ("open", "high", "b2b", "cy")
    # The immutable fields are what the ticket was born with.
    assert (state.origin_segment, state.customer_email) == ("retail", "customer@example.com")
    log = await handle.query(TicketWorkflow.query_log)
    changed = [(e.field, e.old, e.new) for e in log if e.kind is EventKind.CHANGED]
    assert changed == [
        ("status", "new", "open"), ("priority", "medium", "high"),
        ("segment", "retail", "b2b"), ("owner", "ann", "cy"),
    ]
    assert {(e.actor, e.comment) for e in log[1:]} == {("ann", "B2B account, bumping")}
    assert [e.seq for e in log] == list(range(1, 6)) and state.version == 5


@pytest.mark.parametrize(
    "payload, kind, reason",
    [
        ({"priority": "high", "comment": "   "}, "InvalidCommand", "a comment is required"),
        ({"priority": "high"}, "InvalidCommand", "a comment is required"),
        ({"customer_email": "new@example.com", "comment": "typo"}, "InvalidCommand",
         "customer_email cannot be changed"),
        ({"reported_at": "2020-01-01T00:00:00Z", "comment": "x"}, "InvalidCommand", "reported_at cannot be changed"),
        ({"customer_name": "Bob", "comment": "x"}, "InvalidCommand", "customer_name cannot be changed"),
        ({"owner": "mallory", "comment": "x"}, "InvalidCommand", "'mallory' is not a manager of segment 'retail'"),
        ({"segment": "b2b", "owner": "ann", "comment": "x"}, "InvalidCommand",
         "'ann' is not a manager of segment 'b2b'"),
        ({"segment": "atlantis", "comment": "x"}, "InvalidCommand", "unknown segment 'atlantis'"),
        ({"status": "postponed", "comment": "x"}, "InvalidCommand", "needs snooze_until"),
        ({"status": "closed", "comment": "x"}, "TransitionNotAllowed", "from new to closed"),
        ({"comment": "nothing"}, "InvalidCommand", "nothing to change"),
        ({"owner": "ann", "unassign": True, "comment": "x"}, "InvalidCommand", "not both"),
        ({"colour": "red", "comment": "x"}, "InvalidCommand", "unknown field 'colour'"),
    ],
)
async def test_refused_change_names_the_reason_and_records_nothing(
    env: TicketEnv, payload: dict, kind: str, reason: str
) -> None:
    handle = await env.start_ticket(segment="retail")
    cause = await refusal(handle, TicketWorkflow.change, TicketChange.model_validate(payload))
    assert cause.type == kind and reason in cause.message
    state = await env.state(handle)
    assert state.version == 1 and state.status is TicketStatus.NEW and state.owner == "ann"
    assert len(await handle.query(TicketWorkflow.query_log)) == 1


async def test_refused_update_leaves_no_trace_in_history(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    await refusal(handle, TicketWorkflow.change, TicketChange(status=TicketStatus.CLOSED, comment="x"))
    await handle.execute_update(TicketWorkflow.comment, Command(comment="noted"))
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) == 1  # only the comment; the refused change never entered the history


async def test_default_owner_and_segment_moves(env: TicketEnv) -> None:
    handle = await env.start_ticket(segment="b2b")  # two managers: nobody by default
    assert (await env.state(handle)).owner is None
    state = await handle.execute_update(TicketWorkflow.change, TicketChange(segment="support", comment="wrong team"))
    assert state.owner == "dee"  # the only manager of support
    state = await handle.execute_update(TicketWorkflow.change, TicketChange(unassign=True, comment="free it"))
    assert state.owner is None


async def test_comment_and_customer_reply(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    await handle.execute_update(TicketWorkflow.comment, Command(comment="called the customer", actor="ann"))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.ANSWERED, comment="replied"))
    state = await handle.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="still broken"))
    assert state.status is TicketStatus.OPEN
    log = await handle.query(TicketWorkflow.query_log)
    assert (log[1].kind, log[1].comment, log[1].field) == (EventKind.COMMENTED, "called the customer", None)
    assert (log[-1].kind, log[-1].actor, log[-1].old, log[-1].new) == (
        EventKind.CUSTOMER_REPLIED, "customer@example.com", "answered", "open",
    )
    # A reply on a ticket that is already being worked is logged, status kept.
    state = await handle.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="any news?"))
    assert state.status is TicketStatus.OPEN and state.version == log[-1].seq + 1


async def test_dedicated_commands(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    now = await env.now()
    state = await handle.execute_update(
        TicketWorkflow.snooze, SnoozeCommand(until=now + 2 * env.unit, comment="customer on holiday")
    )
    assert state.status is TicketStatus.POSTPONED and state.wake_at == now + 2 * env.unit
    state = await handle.execute_update(TicketWorkflow.escalate, EscalateCommand(comment="VIP", actor="ann"))
    assert state.status is TicketStatus.ESCALATED and state.escalated_by is EscalatedBy.HAND
    assert state.wake_at is None and state.snooze_until is None

    cause = await refusal(handle, TicketWorkflow.reopen, Command(comment="again"))
    assert cause.type == "TransitionNotAllowed" and "reopen applies to resolved tickets" in cause.message
    await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="fixed"))
    assert (await handle.execute_update(TicketWorkflow.reopen, Command(comment="not fixed"))).status is TicketStatus.OPEN

    assert (await handle.execute_update(TicketWorkflow.mark_spam, Command(comment="bot"))).status is TicketStatus.SPAM
    state = await handle.execute_update(TicketWorkflow.mark_not_spam, Command(comment="real person"))
    assert state.status is TicketStatus.OPEN

    state = await handle.execute_update(TicketWorkflow.delete, Command(comment="duplicate"))
    assert state.status is TicketStatus.DELETED and state.status_before_delete is TicketStatus.OPEN
    cause = await refusal(handle, TicketWorkflow.change, TicketChange(status=TicketStatus.NEW, comment="restore"))
    assert cause.type == "TransitionNotAllowed"
    state = await handle.execute_update(TicketWorkflow.restore, Command(comment="not a duplicate"))
    assert state.status is TicketStatus.OPEN and state.status_before_delete is None

    cause = await refusal(handle, TicketWorkflow.purge, Command(comment="gone"))
    assert "only a deleted ticket can be purged" in cause.message
    await handle.execute_update(TicketWorkflow.delete, Command(comment="duplicate after all"))
    state = await handle.execute_update(TicketWorkflow.purge, Command(comment="GDPR request"))
    assert state.purged
    # Purged tickets complete their workflow.
    assert (await handle.result()).purged


async def test_signals_apply_commands_and_log_rejections(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    await handle.signal("change", {"status": "open", "comment": "from the UI", "actor": "ops"})
    await handle.signal("change", {"status": "closed", "comment": "skip ahead", "actor": "ops"})
    await handle.signal("change", {"status": "bogus", "comment": "typo"})
    await handle.signal("comment", {"comment": ""})
    await handle.signal("escalate", "not even an object")
    # A NUL could never be stored in a PostgreSQL read model: refused, and the actor cleaned.
    await handle.signal("comment", {"comment": "bad\x00byte", "actor": "c\x00li"})
    await handle.signal("customer_email_please", {"x": 1})  # unknown signal: Temporal ignores it
    state = await env.wait_for(handle, lambda s: s.version >= 7)
    assert state.status is TicketStatus.OPEN
    log = await handle.query(TicketWorkflow.query_log)
    assert [(e.kind, e.field) for e in log[1:]] == [
        (EventKind.CHANGED, "status"),
        (EventKind.REJECTED, "change"),
        (EventKind.REJECTED, "change"),
        (EventKind.REJECTED, "comment"),
        (EventKind.REJECTED, "escalate"),
        (EventKind.REJECTED, "comment"),
    ]
    assert "NUL" in log[6].comment and log[6].actor == "cli" and "\x00" not in log[6].comment
    assert "cannot change status from open to closed" in log[2].comment and log[2].actor == "ops"
    assert "status" in log[3].comment and "malformed TicketChange" in log[3].comment
    assert "a comment is required" in log[4].comment
    # The workflow is alive and well after all that.
    state = await handle.execute_update(TicketWorkflow.comment, Command(comment="still here"))
    assert state.version == 8


async def test_continue_as_new_keeps_state_log_and_deadlines(env: TicketEnv) -> None:
    from tests.conftest import default_policy
    from domain.escalation import EscalationRule

    policy = default_policy(escalation_rules=[EscalationRule(id="slow", after=4 * env.unit, assignee="boss")])
    handle = await env.start_ticket(policy=policy, max_changes_per_run=5)
    first_run = (await handle.describe()).run_id
    due = (await env.state(handle)).escalation_due_at
    for i in range(12):
        await handle.execute_update(TicketWorkflow.comment, Command(comment=f"note {i}", actor="ann"))
    handle = env.client.get_workflow_handle(handle.id)
    description = await handle.describe()
    assert description.run_id != first_run
    log = await handle.query(TicketWorkflow.query_log)
    assert [e.comment for e in log[1:]] == [f"note {i}" for i in range(12)]
    assert [e.seq for e in log] == list(range(1, 14))
    state = await env.state(handle)
    assert state.version == 13 and state.escalation_due_at == due
    assert state.owner == "ann" and state.customer_email == "customer@example.com"
    # Only the last run can be found, and its history holds at most the few
    # changes since it started.
    history = await handle.fetch_history()
    assert len([e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]) < 6
    # Timers survive the move: the escalation still fires.
    await env.sleep(5 * env.unit)
    state = await env.wait_for(handle, lambda s: s.status is TicketStatus.ESCALATED)
    assert state.owner == "boss"


async def test_snooze_until_in_the_past_is_refused(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    past = await env.now() - timedelta(minutes=1)
    cause = await refusal(handle, TicketWorkflow.snooze, SnoozeCommand(until=past, comment="later"))
    assert "must be in the future" in cause.message


# --- replies, decided (no server needed) ----------------------------------------------------


def test_a_reply_is_refused_for_what_it_cannot_be() -> None:
    from datetime import UTC, datetime

    from domain.commands import NewTicket, Refused, ReplyCommand, decide_create, decide_reply
    from domain.ticket import Source, TicketPolicy

    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    policy = TicketPolicy(segment_managers={"retail": ["ann"]})

    def ticket(email: str = "pat@example.com"):
        return decide_create(NewTicket(id="t-1", source=Source.MANUAL, customer_email=email, segment="retail",
                                       comment="Phoned in"), policy, now).state

    def refusal(state, **fields) -> str:
        with pytest.raises(Refused) as refused:
            decide_reply(state, ReplyCommand(actor="ann", **fields), policy, now)
        return refused.value.reason

    assert refusal(ticket(), body="  ") == "the reply's body is required"
    assert refusal(ticket(), body="x" * 20_001) == "the reply is longer than 20000 characters"
    assert refusal(ticket(), body="Hi", status=TicketStatus.ESCALATED).startswith("a reply sets the status")
    assert refusal(ticket(email="no address given"), body="Hi") == "the ticket's customer has no mail address"
    spam = ticket().model_copy(update={"status": TicketStatus.SPAM})
    assert refusal(spam, body="Hi") == "a ticket marked spam takes no reply"
    closed = ticket().model_copy(update={"status": TicketStatus.CLOSED})
    assert refusal(closed, body="Hi") == "the ticket is closed; nothing can change"
    # Kept status, internal note: the reply's line, then the comment's.
    kept = decide_reply(ticket(), ReplyCommand(body="On it", status=None, comment="asked the depot", actor="ann"),
                        policy, now)
    assert [(e.kind, e.comment) for e in kept.events] == [
        (EventKind.REPLIED, "On it"), (EventKind.COMMENTED, "asked the depot")]
    assert kept.state.status is TicketStatus.NEW
