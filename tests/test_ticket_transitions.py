"""Every cell of DESIGN.md's lifecycle table, through a real ticket workflow on
both Temporal servers: allowed moves change the status and log it, refused
ones are rejected by the update validator with the reason and leave nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.commands import TicketChange
from domain.ticket import TicketStatus
from tests.conftest import TicketEnv
from workflows.ticket import TicketWorkflow

S = TicketStatus

# Written out from DESIGN.md, not derived from domain.ticket, so that the test
# checks the code against the specification. A ticket deleted from `new` may
# only be restored to `new`.
ALLOWED = {
    S.NEW: {S.OPEN, S.ANSWERED, S.ESCALATED, S.POSTPONED, S.RESOLVED, S.SPAM, S.DELETED},
    S.OPEN: {S.ANSWERED, S.ESCALATED, S.POSTPONED, S.RESOLVED, S.SPAM, S.DELETED},
    S.ANSWERED: {S.OPEN, S.ESCALATED, S.POSTPONED, S.RESOLVED, S.SPAM, S.DELETED},
    S.ESCALATED: {S.OPEN, S.ANSWERED, S.POSTPONED, S.RESOLVED, S.SPAM, S.DELETED},
    S.POSTPONED: {S.OPEN, S.ANSWERED, S.ESCALATED, S.RESOLVED, S.SPAM, S.DELETED},
    S.RESOLVED: {S.OPEN, S.CLOSED},
    S.CLOSED: set(),
    S.SPAM: {S.OPEN, S.DELETED},
    S.DELETED: {S.NEW},
}

# How a fresh ticket (status new) reaches each starting status.
PATH = {
    S.NEW: [],
    S.CLOSED: [S.RESOLVED, S.CLOSED],
}


def change_to(env_now, status: TicketStatus, comment: str = "moving on") -> TicketChange:
    snooze = env_now + timedelta(days=30) if status is S.POSTPONED else None
    return TicketChange(status=status, snooze_until=snooze, comment=comment, actor="ann")


async def ticket_in(env: TicketEnv, status: TicketStatus) -> WorkflowHandle:
    handle = await env.start_ticket()
    for step in PATH.get(status, [status]):
        await handle.execute_update(TicketWorkflow.change, change_to(await env.now(), step))
    return handle


@pytest.mark.parametrize("target", list(S), ids=str)
@pytest.mark.parametrize("current", list(S), ids=str)
async def test_transition(env: TicketEnv, current: TicketStatus, target: TicketStatus) -> None:
    handle = await ticket_in(env, current)
    if current is S.CLOSED:
        # Closed is final: the workflow has completed and takes no update.
        assert (await handle.result()).status is S.CLOSED
        with pytest.raises((RPCError, WorkflowUpdateFailedError)):
            await handle.execute_update(TicketWorkflow.change, change_to(await env.now(), target))
        return

    before = await env.state(handle)
    log_before = await handle.query(TicketWorkflow.query_log)
    command = change_to(await env.now(), target, comment=f"{current} to {target}")
    if current is target is S.POSTPONED:
        # Not a transition: a new snooze_until moves the wake-up time.
        command.snooze_until = before.snooze_until + timedelta(days=1)
        after = await handle.execute_update(TicketWorkflow.change, command)
        assert after.status is S.POSTPONED and after.wake_at == command.snooze_until
        return
    if target in ALLOWED[current]:
        after = await handle.execute_update(TicketWorkflow.change, command)
        assert after.status is target
        assert after.version > before.version
        last = (await handle.query(TicketWorkflow.query_log))[-1]
        assert (last.field, last.old, last.new) == ("status", current.value, target.value) or (
            # into postponed, snooze_until is logged right after the status
            target is S.POSTPONED and last.field == "snooze_until"
        )
        assert last.comment == f"{current} to {target}" and last.actor == "ann"
        if target is S.CLOSED:
            assert (await handle.result()).status is S.CLOSED
        return

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(TicketWorkflow.change, command)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    if target is current:
        assert cause.type == "InvalidCommand" and "nothing to change" in cause.message
    else:
        assert cause.type == "TransitionNotAllowed"
        assert f"from {current.value} to {target.value}" in cause.message
    after = await env.state(handle)
    assert after.status is current and after.version == before.version
    assert await handle.query(TicketWorkflow.query_log) == log_before
