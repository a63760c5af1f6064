"""The ticket's timers: escalation by rule, snooze wake-up and auto-close.

Each test runs on the time-skipping server (one unit of waiting is an hour,
skipped) and on the dev server (a unit is a real second)."""

from __future__ import annotations

from datetime import timedelta

from domain.commands import Command, CustomerReply, EscalateCommand, ReplacePolicy, SnoozeCommand, TicketChange
from domain.escalation import EscalationRule
from domain.ticket import EscalatedBy, EventKind, TicketStatus
from tests.conftest import TicketEnv, default_policy
from workflows.ticket import TicketWorkflow


def rule(env: TicketEnv, units: float, assignee: str = "boss", rule_id: str = "r1", **kw) -> EscalationRule:
    return EscalationRule(id=rule_id, name=f"after {units} units", after=units * env.unit, assignee=assignee, **kw)


async def test_escalation_fires_after_its_time(env: TicketEnv) -> None:
    handle = await env.start_ticket(policy=default_policy(escalation_rules=[rule(env, 2)]))
    state = await env.state(handle)
    assert state.escalation_due_at == state.created_at + 2 * env.unit
    assert state.escalation_rule_id == "r1"
    await env.sleep(env.unit)
    assert (await env.state(handle)).status is TicketStatus.NEW
    await env.sleep(1.5 * env.unit)
    state = await env.wait_for(handle, lambda s: s.status is TicketStatus.ESCALATED)
    assert state.owner == "boss" and state.escalated_by is EscalatedBy.RULE
    assert state.escalation_due_at is None
    log = await handle.query(TicketWorkflow.query_log)
    fired = [e for e in log if e.kind is EventKind.ESCALATED_BY_RULE]
    assert [(e.field, e.old, e.new, e.actor) for e in fired] == [
        ("status", "new", "escalated", "rule:r1"),
        ("owner", "ann", "boss", "rule:r1"),
    ]
    assert "rule 'after 2 units'" in fired[0].comment
    assert fired[0].at >= state.created_at + 2 * env.unit


async def test_escalation_skips_resolved_hand_escalated_and_unassigned(env: TicketEnv) -> None:
    policy = default_policy(escalation_rules=[rule(env, 1)])
    resolved = await env.start_ticket(policy=policy)
    await resolved.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="done"))
    by_hand = await env.start_ticket(policy=policy)
    await by_hand.execute_update(TicketWorkflow.escalate, EscalateCommand(comment="angry VIP", actor="ann"))
    unassigned = await env.start_ticket(policy=policy, segment="b2b")
    for handle in (resolved, by_hand, unassigned):
        assert (await env.state(handle)).escalation_due_at is None
    await env.sleep(2.5 * env.unit)
    assert (await env.state(resolved)).status is TicketStatus.RESOLVED
    state = await env.state(by_hand)
    assert (state.status, state.owner, state.escalated_by) == (TicketStatus.ESCALATED, "ann", EscalatedBy.HAND)
    state = await env.state(unassigned)
    assert (state.status, state.owner) == (TicketStatus.NEW, None)
    for handle in (resolved, by_hand, unassigned):
        log = await handle.query(TicketWorkflow.query_log)
        assert not [e for e in log if e.kind is EventKind.ESCALATED_BY_RULE]


async def test_escalation_tiers_fire_in_turn(env: TicketEnv) -> None:
    tiers = [rule(env, 1, "lead", "tier-1"), rule(env, 3, "director", "tier-2")]
    handle = await env.start_ticket(policy=default_policy(escalation_rules=tiers))
    await env.sleep(1.5 * env.unit)
    state = await env.wait_for(handle, lambda s: s.owner == "lead")
    assert state.status is TicketStatus.ESCALATED and state.escalation_rule_id == "tier-2"
    await env.sleep(2 * env.unit)
    state = await env.wait_for(handle, lambda s: s.owner == "director")
    assert state.fired_rule_ids == ["tier-1", "tier-2"] and state.escalation_due_at is None


async def test_rule_change_moves_or_cancels_a_pending_deadline(env: TicketEnv) -> None:
    sooner = await env.start_ticket(policy=default_policy(escalation_rules=[rule(env, 20)]))
    created = (await env.state(sooner)).created_at
    state = await sooner.execute_update(
        TicketWorkflow.replace_policy, ReplacePolicy(escalation_rules=[rule(env, 1)])
    )
    assert state.escalation_due_at == created + env.unit
    moved = (await sooner.query(TicketWorkflow.query_log))[-1]
    assert (moved.kind, moved.field) == (EventKind.RULES_REPLACED, "escalation_due_at")
    assert (moved.old, moved.new) == ((created + 20 * env.unit).isoformat(), (created + env.unit).isoformat())

    later = await env.start_ticket(policy=default_policy(escalation_rules=[rule(env, 1)]))
    await later.execute_update(TicketWorkflow.replace_policy, ReplacePolicy(escalation_rules=[rule(env, 20)]))
    disabled = await env.start_ticket(policy=default_policy(escalation_rules=[rule(env, 1)]))
    # Sent as a signal, the way the rule roll-out reaches tickets.
    await disabled.signal("replace_policy", {"escalation_rules": [rule(env, 1, enabled=False).model_dump(mode="json")]})
    await env.wait_for(disabled, lambda s: s.escalation_due_at is None)

    await env.sleep(2 * env.unit)
    await env.wait_for(sooner, lambda s: s.status is TicketStatus.ESCALATED)
    assert (await env.state(later)).status is TicketStatus.NEW
    assert (await env.state(disabled)).status is TicketStatus.NEW


async def test_rule_added_late_fires_at_once(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    await env.sleep(2 * env.unit)
    await handle.execute_update(TicketWorkflow.replace_policy, ReplacePolicy(escalation_rules=[rule(env, 1)]))
    state = await env.wait_for(handle, lambda s: s.status is TicketStatus.ESCALATED)
    assert state.owner == "boss"


async def test_snooze_wakes_up_as_open(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    until = await env.now() + 2 * env.unit
    state = await handle.execute_update(TicketWorkflow.snooze, SnoozeCommand(until=until, comment="back Monday"))
    assert state.wake_at == until
    await env.sleep(env.unit)
    assert (await env.state(handle)).status is TicketStatus.POSTPONED
    await env.sleep(1.5 * env.unit)
    state = await env.wait_for(handle, lambda s: s.status is TicketStatus.OPEN)
    assert state.wake_at is None and state.snooze_until is None
    woke = (await handle.query(TicketWorkflow.query_log))[-1]
    assert (woke.kind, woke.actor, woke.old, woke.new) == (EventKind.WOKE_UP, "system:snooze", "postponed", "open")
    assert woke.at >= until


async def test_customer_reply_cancels_snooze(env: TicketEnv) -> None:
    handle = await env.start_ticket()
    until = await env.now() + 2 * env.unit
    await handle.execute_update(TicketWorkflow.snooze, SnoozeCommand(until=until, comment="later"))
    state = await handle.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="any update?"))
    assert state.status is TicketStatus.OPEN and state.wake_at is None
    await env.sleep(3 * env.unit)
    log = await handle.query(TicketWorkflow.query_log)
    assert not [e for e in log if e.kind is EventKind.WOKE_UP]


async def test_auto_close_after_the_verification_window(env: TicketEnv) -> None:
    handle = await env.start_ticket(policy=default_policy(verification_window=3 * env.unit))
    state = await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="fixed"))
    assert state.auto_close_at == state.resolved_at + 3 * env.unit
    await env.sleep(2 * env.unit)
    assert (await env.state(handle)).status is TicketStatus.RESOLVED
    await env.sleep(1.5 * env.unit)
    final = await handle.result()
    assert final.status is TicketStatus.CLOSED and final.auto_close_at is None
    closed = (await handle.query(TicketWorkflow.query_log))[-1]
    assert (closed.kind, closed.actor, closed.new) == (EventKind.AUTO_CLOSED, "system:auto-close", "closed")


async def test_reopen_and_customer_reply_cancel_auto_close(env: TicketEnv) -> None:
    policy = default_policy(verification_window=2 * env.unit)
    reopened = await env.start_ticket(policy=policy)
    replied = await env.start_ticket(policy=policy)
    for handle in (reopened, replied):
        await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="fixed"))
    state = await reopened.execute_update(TicketWorkflow.reopen, Command(comment="customer says no"))
    assert state.status is TicketStatus.OPEN and state.auto_close_at is None
    state = await replied.execute_update(TicketWorkflow.customer_reply, CustomerReply(comment="not fixed"))
    assert state.status is TicketStatus.OPEN and state.auto_close_at is None
    await env.sleep(3 * env.unit)
    for handle in (reopened, replied):
        assert (await env.state(handle)).status is TicketStatus.OPEN


async def test_reopening_restarts_escalation_deadlines(env: TicketEnv) -> None:
    handle = await env.start_ticket(policy=default_policy(escalation_rules=[rule(env, 2)]))
    await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="fixed"))
    await env.sleep(3 * env.unit)  # well past the original deadline
    state = await handle.execute_update(TicketWorkflow.reopen, Command(comment="it broke again"))
    assert state.status is TicketStatus.OPEN
    reopened_at = state.updated_at
    assert state.escalation_due_at == reopened_at + 2 * env.unit
    await env.sleep(env.unit)
    assert (await env.state(handle)).status is TicketStatus.OPEN  # no escalation for the old deadline
    await env.sleep(1.5 * env.unit)
    state = await env.wait_for(handle, lambda s: s.status is TicketStatus.ESCALATED)
    assert state.owner == "boss"


async def test_default_verification_window_is_seven_days(ts_env: TicketEnv) -> None:
    handle = await ts_env.start_ticket()
    state = await handle.execute_update(TicketWorkflow.change, TicketChange(status=TicketStatus.RESOLVED, comment="ok"))
    assert state.auto_close_at == state.resolved_at + timedelta(days=7)
    await ts_env.sleep(timedelta(days=6, hours=23))
    assert (await ts_env.state(handle)).status is TicketStatus.RESOLVED
    await ts_env.sleep(timedelta(hours=2))
    assert (await handle.result()).status is TicketStatus.CLOSED


async def test_business_hours_rule_counts_only_working_time(ts_env: TicketEnv) -> None:
    """A 4-business-hour rule on a ticket created Friday 15:00 Berlin time is
    due Monday 11:00 (the weekend does not count); with the Monday a holiday,
    Tuesday 11:00."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from domain.calendar import BusinessCalendar

    berlin = ZoneInfo("Europe/Berlin")
    now = await ts_env.now()
    # Skip to the next Friday 15:00 in Berlin.
    local = now.astimezone(berlin)
    friday = (local + timedelta(days=(4 - local.weekday()) % 7 or 7)).replace(hour=15, minute=0, second=0, microsecond=0)
    await ts_env.sleep(friday - local)
    monday = friday.date() + timedelta(days=3)
    four_hours = EscalationRule(id="bh", after=timedelta(hours=4), assignee="boss", business_hours=True)
    plain = BusinessCalendar(time_zone="Europe/Berlin")
    with_holiday = BusinessCalendar(time_zone="Europe/Berlin", holidays=[monday])
    handle = await ts_env.start_ticket(
        policy=default_policy(escalation_rules=[four_hours], segment_calendars={"retail": plain})
    )
    holiday_handle = await ts_env.start_ticket(
        policy=default_policy(escalation_rules=[four_hours], segment_calendars={"retail": with_holiday})
    )
    def at_eleven(day, ticket) -> datetime:
        # Four working hours after Friday 15:xx: two on Friday, two on the next working day.
        created = ticket.created_at.astimezone(berlin)
        assert created.weekday() == 4 and created.hour == 15
        return datetime.combine(day, created.time().replace(hour=11), tzinfo=berlin)

    state = await ts_env.state(handle)
    assert state.escalation_due_at == at_eleven(monday, state)
    holiday_state = await ts_env.state(holiday_handle)
    assert holiday_state.escalation_due_at == at_eleven(monday + timedelta(days=1), holiday_state)
    await ts_env.sleep(state.escalation_due_at - await ts_env.now() + timedelta(minutes=1))
    await ts_env.wait_for(handle, lambda s: s.status is TicketStatus.ESCALATED)
    assert (await ts_env.state(holiday_handle)).status is TicketStatus.NEW
