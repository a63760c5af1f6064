"""Commands on a ticket and the pure decisions they lead to.

Every command goes through a `decide_*` function: given the current state, the
ticket's policy and the time, it either refuses (raises `Refused` with the
reason a person can act on) or returns the new state and the log lines that
record the change. The workflow's update validators call the same functions as
its handlers, so a refused command leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from domain.calendar import BusinessCalendar
from domain.escalation import EscalationRule, next_escalation
from domain.ticket import (
    ESCALATION_CLOCK_RUNS,
    IMMUTABLE_FIELDS,
    REOPENED_BY_CUSTOMER_REPLY,
    EscalatedBy,
    EventKind,
    Priority,
    Source,
    TicketEvent,
    TicketPolicy,
    TicketState,
    TicketStatus,
    can_transition,
    reference_for,
)


def N_(message: str) -> str:
    """Marks a refusal's message for extraction into the dashboard's catalogs
    (api/dashboard/catalogs.py). domain/ has no translations: the API
    translates the message for whoever reads the refusal."""
    return message


class Refused(Exception):
    """A command the ticket will not take, with the reason.

    `message` is an English template with named {placeholders} (marked with
    `N_`) and `params` fill it in, so that the reason can be shown in the
    reader's language; `reason` is the English text, for logs."""

    TRANSITION_NOT_ALLOWED = "TransitionNotAllowed"
    INVALID_COMMAND = "InvalidCommand"

    def __init__(self, message: str, code: str = INVALID_COMMAND, **params: str) -> None:
        self.reason = message.format(**params)
        super().__init__(self.reason)
        self.message = message
        self.params = params
        self.code = code

    @property
    def details(self) -> tuple[str, dict[str, str]]:
        """What an ApplicationError carries besides the reason: the template
        and its parameters (api/tickets/service.py translates them)."""
        return self.message, self.params


class Command(BaseModel):
    # Unknown keys are kept so that an attempt to edit an immutable field is
    # refused by name instead of being silently dropped.
    model_config = ConfigDict(extra="allow")

    comment: str = ""
    actor: str = "operator"

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # A NUL could never reach a PostgreSQL read model: the projection
        # would retry forever. Refused here, a signal carrying one (from the
        # CLI, say) is logged as rejected instead.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class TicketChange(Command):
    """Any combination of status, priority, segment and owner, with a comment.
    A field left out (null) keeps its value: payloads cross serializers that
    write every default, so "unassign" is said explicitly. `snooze_until` goes
    with status postponed."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    segment: str | None = None
    owner: str | None = None
    unassign: bool = False
    snooze_until: datetime | None = None
    # With status resolved: why (a code of the workspace's resolution reasons).
    resolution_reason: str | None = None


class SnoozeCommand(Command):
    until: datetime


class EscalateCommand(Command):
    owner: str | None = Field(default=None, description="hand the ticket to this manager too")


class CustomerConfirm(Command):
    """The customer confirms, from their link, that the ticket is solved
    (it closes), with an optional second score: how likely they are now to
    recommend us (0-10)."""

    recovery_score: int | None = Field(default=None, ge=0, le=10)


class CustomerReply(Command):
    actor: str = ""  # defaults to the ticket's customer


class ReplyCommand(Command):
    """A reply to the customer: `body` is mailed to them and logged as a
    public message; `comment` (optional) is the team's internal note; the
    ticket takes `status` (answered unless told otherwise; None keeps it)."""

    body: str = ""
    status: TicketStatus | None = TicketStatus.ANSWERED
    template_id: str | None = None
    # With status resolved: why (a code of the workspace's resolution reasons).
    resolution_reason: str | None = None


# A reply's text is at most this long (characters).
REPLY_BODY_LIMIT = 20_000
# What a reply may set the ticket to.
REPLY_STATUSES = frozenset({TicketStatus.ANSWERED, TicketStatus.OPEN, TicketStatus.RESOLVED})
# A change made by a reply without an internal comment is logged with this.
REPLIED_COMMENT = "Replied to the customer."


class ReplacePolicy(BaseModel):
    """New configuration for a ticket; fields left out keep their value."""

    escalation_rules: list[EscalationRule] | None = None
    segment_managers: dict[str, list[str]] | None = None
    segment_calendars: dict[str, BusinessCalendar] | None = None
    verification_window: timedelta | None = None
    # The workspace's configuration revision the policy was read at.
    revision: int | None = None
    resolution_reasons: list[str] | None = None
    resolution_reason_required: bool | None = None
    actor: str = "system:configuration"


class Decision(BaseModel):
    state: TicketState
    events: list[TicketEvent]


C = TypeVar("C", bound=BaseModel)


def parse_command(model: type[C], raw: Any) -> C:
    """Turn a raw signal payload into a command, refusing what does not parse."""
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in err.errors()
        )
        raise Refused(N_("malformed {model}: {problems}"), model=model.__name__, problems=problems) from None


# --- the commands -------------------------------------------------------------


def decide_change(
    state: TicketState, change: TicketChange, policy: TicketPolicy, now: datetime
) -> Decision:
    _refuse_extra_fields(change)
    comment = _required_comment(change.comment)
    _refuse_if_finished(state)
    if change.unassign and change.owner:
        raise Refused(N_("give an owner or unassign, not both"))
    updates: dict[str, Any] = {
        field: getattr(change, field)
        for field in ("status", "priority", "segment", "owner", "snooze_until", "resolution_reason")
        if getattr(change, field) is not None
    }
    if change.unassign:
        updates["owner"] = None
    if not updates:
        raise Refused(N_("nothing to change: give a status, priority, segment or owner"))
    return _apply(state, policy, now, change.actor, comment, EventKind.CHANGED, updates)


def decide_snooze(
    state: TicketState, cmd: SnoozeCommand, policy: TicketPolicy, now: datetime
) -> Decision:
    _refuse_extra_fields(cmd)
    change = TicketChange(
        status=TicketStatus.POSTPONED, snooze_until=cmd.until, comment=cmd.comment, actor=cmd.actor
    )
    return decide_change(state, change, policy, now)


def decide_escalate(
    state: TicketState, cmd: EscalateCommand, policy: TicketPolicy, now: datetime
) -> Decision:
    _refuse_extra_fields(cmd)
    fields: dict[str, Any] = {"status": TicketStatus.ESCALATED}
    if cmd.owner:
        fields["owner"] = cmd.owner
    return decide_change(
        state, TicketChange(**fields, comment=cmd.comment, actor=cmd.actor), policy, now
    )


def decide_status_command(
    state: TicketState,
    cmd: Command,
    policy: TicketPolicy,
    now: datetime,
    *,
    target: TicketStatus | None,
    requires: TicketStatus | None,
    name: str,
) -> Decision:
    """reopen, mark spam / not spam, delete, restore: a status change with a
    precondition. `target` None means the status the ticket had before it was
    deleted (restore)."""
    _refuse_extra_fields(cmd)
    _refuse_if_finished(state)
    if requires is not None and state.status is not requires:
        raise Refused(
            N_("{name} applies to {requires} tickets; this one is {status}"),
            Refused.TRANSITION_NOT_ALLOWED,
            name=name, requires=requires.value, status=state.status.value,
        )
    status = target if target is not None else state.status_before_delete
    return decide_change(
        state, TicketChange(status=status, comment=cmd.comment, actor=cmd.actor), policy, now
    )


def decide_confirm(state: TicketState, cmd: CustomerConfirm, policy: TicketPolicy, now: datetime) -> Decision:
    """The customer says it is solved: a resolved ticket closes, and their
    second score, if they gave one, is kept (once: the ticket is closed)."""
    _refuse_extra_fields(cmd)
    comment = _required_comment(cmd.comment)
    _refuse_if_finished(state)
    if state.status is not TicketStatus.RESOLVED:
        raise Refused(
            N_("{name} applies to {requires} tickets; this one is {status}"), Refused.TRANSITION_NOT_ALLOWED,
            name="confirm", requires=TicketStatus.RESOLVED.value, status=state.status.value,
        )
    closed = _apply(state, policy, now, cmd.actor, comment, EventKind.CHANGED, {"status": TicketStatus.CLOSED})
    if cmd.recovery_score is None:
        return closed
    scored = closed.state.model_copy(update={"recovery_score": cmd.recovery_score, "recovery_scored_at": now})
    line = _record(scored, now, [(cmd.actor, EventKind.CHANGED, "recovery_score", None, str(cmd.recovery_score),
                                  comment)])
    return Decision(state=line.state, events=closed.events + line.events)


def decide_purge(state: TicketState, cmd: Command, now: datetime) -> Decision:
    _refuse_extra_fields(cmd)
    comment = _required_comment(cmd.comment)
    _refuse_if_finished(state)
    if state.status is not TicketStatus.DELETED:
        raise Refused(
            N_("only a deleted ticket can be purged; this one is {status}"),
            Refused.TRANSITION_NOT_ALLOWED,
            status=state.status.value,
        )
    new = _copy(state)
    new.purged = True
    new.escalation_due_at = new.escalation_rule_id = new.wake_at = new.auto_close_at = None
    return _record(new, now, [(cmd.actor, EventKind.PURGED, None, None, None, comment)])


def decide_comment(state: TicketState, cmd: Command, now: datetime) -> Decision:
    _refuse_extra_fields(cmd)
    comment = _required_comment(cmd.comment)
    _refuse_if_finished(state)
    return _record(
        _copy(state), now, [(cmd.actor, EventKind.COMMENTED, None, None, None, comment)]
    )


def decide_reply(state: TicketState, cmd: ReplyCommand, policy: TicketPolicy, now: datetime) -> Decision:
    """The team replies to the customer: the reply's line (public), then the
    status it asks for, then the internal comment when no change carries it."""
    _refuse_extra_fields(cmd)
    body = cmd.body.strip()
    if not body:
        raise Refused(N_("the reply's body is required"))
    if len(body) > REPLY_BODY_LIMIT:
        raise Refused(N_("the reply is longer than {limit} characters"), limit=str(REPLY_BODY_LIMIT))
    _refuse_if_finished(state)
    if state.status in (TicketStatus.SPAM, TicketStatus.DELETED):
        raise Refused(
            N_("a ticket marked {status} takes no reply"), Refused.TRANSITION_NOT_ALLOWED, status=state.status.value
        )
    if cmd.status is not None and cmd.status not in REPLY_STATUSES:
        raise Refused(N_("a reply sets the status to answered, open or resolved, or keeps it"))
    if "@" not in state.customer_email:
        raise Refused(N_("the ticket's customer has no mail address"))
    comment = cmd.comment.strip()
    replied = _record(_copy(state), now, [(cmd.actor, EventKind.REPLIED, None, None, None, body)])
    if cmd.resolution_reason is not None and cmd.status is not TicketStatus.RESOLVED:
        raise Refused(N_("resolution_reason goes with status resolved"))
    if cmd.status is not None and cmd.status is not state.status:
        updates: dict[str, Any] = {"status": cmd.status}
        if cmd.resolution_reason is not None:
            updates["resolution_reason"] = cmd.resolution_reason
        changed = _apply(replied.state, policy, now, cmd.actor, comment or REPLIED_COMMENT, EventKind.CHANGED,
                         updates)
        return Decision(state=changed.state, events=replied.events + changed.events)
    if comment:
        commented = _record(replied.state, now, [(cmd.actor, EventKind.COMMENTED, None, None, None, comment)])
        return Decision(state=commented.state, events=replied.events + commented.events)
    return replied


def decide_customer_reply(
    state: TicketState, reply: CustomerReply, policy: TicketPolicy, now: datetime
) -> Decision:
    """The customer wrote back: an answered, postponed or resolved ticket is
    back in front of an agent, and a pending snooze or auto-close is off."""
    message = _required_comment(reply.comment, N_("the customer's message is required"))
    _refuse_if_finished(state)
    actor = reply.actor or state.customer_email
    if state.status in REOPENED_BY_CUSTOMER_REPLY:
        return _apply(
            state, policy, now, actor, message, EventKind.CUSTOMER_REPLIED,
            {"status": TicketStatus.OPEN},
        )
    return _record(
        _copy(state), now, [(actor, EventKind.CUSTOMER_REPLIED, None, None, None, message)]
    )


def decide_policy(
    state: TicketState, policy: TicketPolicy, cmd: ReplacePolicy, now: datetime
) -> tuple[Decision | None, TicketPolicy]:
    """New configuration: escalation deadlines move with it (a rule added late
    may be due at once; a disabled rule's escalation is cancelled). A new
    revision of the same configuration is adopted silently."""
    # Shallow, like _copy: only whole fields are replaced below.
    new_policy = policy.model_copy()
    if cmd.escalation_rules is not None:
        new_policy.escalation_rules = cmd.escalation_rules
    if cmd.segment_managers is not None:
        new_policy.segment_managers = cmd.segment_managers
    if cmd.segment_calendars is not None:
        new_policy.segment_calendars = cmd.segment_calendars
    if cmd.verification_window is not None:
        new_policy.verification_window = cmd.verification_window
    if cmd.revision is not None:
        new_policy.revision = cmd.revision
    if cmd.resolution_reasons is not None:
        new_policy.resolution_reasons = cmd.resolution_reasons
    if cmd.resolution_reason_required is not None:
        new_policy.resolution_reason_required = cmd.resolution_reason_required
    if new_policy == policy:
        return None, policy
    unscheduled = {
        "revision": policy.revision, "resolution_reasons": policy.resolution_reasons,
        "resolution_reason_required": policy.resolution_reason_required,
    }
    if new_policy.model_copy(update=unscheduled) == policy:
        # Only the revision moved (a change to what tickets do not hold, such
        # as an assignment mode, or a ticket reached by both its projection's
        # correction and a roll-out), or what resolving asks for: adopted
        # without a log line or a new version, since nothing happened to the
        # ticket.
        return None, new_policy
    if state.finished:
        return None, new_policy
    new = schedule(_copy(state), new_policy)
    lines = []
    for field in ("escalation_due_at", "auto_close_at"):
        old_due, new_due = getattr(state, field), getattr(new, field)
        if old_due != new_due:
            lines.append(
                (cmd.actor, EventKind.RULES_REPLACED, field, _text(old_due), _text(new_due),
                 "Configuration changed: the deadline moved.")
            )
    if not lines:
        lines.append((cmd.actor, EventKind.RULES_REPLACED, None, None, None,
                      "Configuration changed; no deadline of this ticket moved."))
    return _record(new, now, lines), new_policy


def decide_due_timers(state: TicketState, policy: TicketPolicy, now: datetime) -> Decision | None:
    """Fire whatever is due at `now`, in time order: escalations by rule, the
    snooze wake-up, the auto-close of a resolved ticket."""
    events: list[TicketEvent] = []
    while not state.finished and (due := state.next_due_at()) is not None and due <= now:
        if state.wake_at == due:
            decision = _apply(
                state, policy, now, "system:snooze", "Snooze ended: the ticket is open again.",
                EventKind.WOKE_UP, {"status": TicketStatus.OPEN},
            )
        elif state.auto_close_at == due:
            decision = _apply(
                state, policy, now, "system:auto-close",
                f"Closed automatically: not reopened within the verification window "
                f"({policy.verification_window}).",
                EventKind.AUTO_CLOSED, {"status": TicketStatus.CLOSED},
            )
        else:
            rule = next(r for r in policy.escalation_rules if r.id == state.escalation_rule_id)
            decision = _apply(
                state, policy, now, f"rule:{rule.id}",
                f"Escalated automatically by rule '{rule.label}': no resolution within "
                f"{rule.after} of the escalation clock starting.",
                EventKind.ESCALATED_BY_RULE,
                {"status": TicketStatus.ESCALATED, "owner": rule.assignee},
                escalated_by=EscalatedBy.RULE, fired_rule=rule.id, allow_no_change=True,
            )
        state = decision.state
        events.extend(decision.events)
    return Decision(state=state, events=events) if events else None


# --- how a change is applied ------------------------------------------------


def _apply(
    state: TicketState,
    policy: TicketPolicy,
    now: datetime,
    actor: str,
    comment: str,
    kind: EventKind,
    updates: dict[str, Any],
    *,
    escalated_by: EscalatedBy = EscalatedBy.HAND,
    fired_rule: str | None = None,
    allow_no_change: bool = False,
) -> Decision:
    old = state
    new = _copy(state)
    target = updates.get("status", old.status)

    if target is not old.status and not can_transition(old.status, target, old.status_before_delete):
        allowed = _allowed_targets(old)
        raise Refused(
            N_("cannot change status from {old} to {new} (allowed: {allowed})") if allowed
            else N_("cannot change status from {old} to {new} (allowed: none)"),
            Refused.TRANSITION_NOT_ALLOWED,
            old=old.status.value, new=target.value, allowed=", ".join(allowed),
        )
    if "snooze_until" in updates:
        if target is not TicketStatus.POSTPONED:
            raise Refused(N_("snooze_until goes with status postponed"))
        if updates["snooze_until"] <= now:
            raise Refused(N_("snooze_until must be in the future"))
    elif target is TicketStatus.POSTPONED and old.status is not TicketStatus.POSTPONED:
        raise Refused(N_("status postponed needs snooze_until: when should the ticket wake up?"))
    _check_resolution_reason(old, target, updates, policy)

    segment = updates.get("segment", old.segment)
    managers = policy.segment_managers.get(segment)
    if segment != old.segment and managers is None:
        raise Refused(N_("unknown segment '{segment}'"), segment=segment)
    if "owner" in updates:
        owner = updates["owner"]
        if owner is not None and kind is not EventKind.ESCALATED_BY_RULE and owner not in (managers or []):
            raise Refused(
                N_("'{owner}' is not a manager of segment '{segment}'"), owner=owner, segment=segment
            )
    elif segment != old.segment and old.owner not in (managers or []):
        # Moving a ticket to another segment: its owner must manage that
        # segment; the segment's only manager takes it by default.
        updates["owner"] = managers[0] if managers and len(managers) == 1 else None

    lines = []
    for field in ("status", "priority", "segment", "owner", "snooze_until", "resolution_reason"):
        if field in updates and updates[field] != getattr(old, field):
            setattr(new, field, updates[field])
            lines.append((actor, kind, field, _text(getattr(old, field)), _text(updates[field]), comment))
    if not lines:
        if not allow_no_change:
            raise Refused(N_("nothing to change: the ticket already has these values"))
        lines.append((actor, kind, None, None, None, comment))

    # What entering and leaving a status means for the ticket's bookkeeping.
    if new.status is not old.status:
        if old.status is TicketStatus.DELETED:
            new.status_before_delete = None
        if new.status is TicketStatus.DELETED:
            new.status_before_delete = old.status
        if new.status is not TicketStatus.POSTPONED:
            new.snooze_until = None
        new.resolved_at = now if new.status is TicketStatus.RESOLVED else None
    if new.status is not TicketStatus.ESCALATED:
        new.escalated_by = None
    elif old.status is not TicketStatus.ESCALATED or fired_rule:
        new.escalated_by = escalated_by
    if fired_rule:
        new.fired_rule_ids = [*new.fired_rule_ids, fired_rule]
    elif escalation_clock_running(new) and not escalation_clock_running(old):
        # Reopened, woken, restored, un-escalated or newly assigned: deadlines
        # start afresh now, so an old deadline never escalates it at once.
        new.escalation_clock_started_at = now
        new.fired_rule_ids = []
    return _record(schedule(new, policy), now, lines)


def _check_resolution_reason(
    old: TicketState, target: TicketStatus, updates: dict[str, Any], policy: TicketPolicy
) -> None:
    """A resolution reason goes with resolving: required when the workspace
    says so, one of its codes (not retired). Reopening drops it."""
    reason = updates.get("resolution_reason")
    resolving = target is TicketStatus.RESOLVED and old.status is not TicketStatus.RESOLVED
    if reason is not None and not resolving:
        raise Refused(N_("resolution_reason goes with status resolved"))
    if resolving:
        if reason is None and policy.resolution_reason_required:
            raise Refused(N_("a resolution reason is required to resolve a ticket"))
        if reason is not None and policy.resolution_reasons is not None and reason not in policy.resolution_reasons:
            raise Refused(N_("unknown resolution reason '{reason}'"), reason=reason)
    elif old.resolution_reason is not None and target not in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
        updates["resolution_reason"] = None


def escalation_clock_running(state: TicketState) -> bool:
    return (
        state.status in ESCALATION_CLOCK_RUNS
        and state.escalated_by is not EscalatedBy.HAND
        and state.owner is not None
        and not state.finished
    )


def schedule(state: TicketState, policy: TicketPolicy) -> TicketState:
    """Recompute when each of the ticket's timers is due from its state."""
    state.escalation_due_at = state.escalation_rule_id = None
    if escalation_clock_running(state):
        pending = next_escalation(
            policy.escalation_rules, state.survey_id, state.segment,
            state.escalation_clock_started_at, state.fired_rule_ids,
            policy.segment_calendars.get(state.segment),
        )
        if pending:
            state.escalation_due_at, state.escalation_rule_id = pending[0], pending[1].id
    state.wake_at = state.snooze_until if state.status is TicketStatus.POSTPONED else None
    state.auto_close_at = (
        state.resolved_at + policy.verification_window
        if state.status is TicketStatus.RESOLVED and state.resolved_at
        else None
    )
    return state


def _copy(state: TicketState) -> TicketState:
    """The new state a decision starts from. A shallow copy: decisions assign
    fields and never change a value in place (`fired_rule_ids` is replaced,
    not appended to); a deep copy was over half the CPU of a decision."""
    return state.model_copy()


def _record(new: TicketState, now: datetime, lines: list[tuple]) -> Decision:
    events = [
        TicketEvent(
            seq=new.version + i, at=now, actor=actor, kind=kind, field=field, old=old, new=value,
            comment=comment,
        )
        for i, (actor, kind, field, old, value, comment) in enumerate(lines, start=1)
    ]
    new.version += len(events)
    new.updated_at = now
    return Decision(state=new, events=events)


def _allowed_targets(state: TicketState) -> list[str]:
    return [
        s.value for s in TicketStatus if s is not state.status
        and can_transition(state.status, s, state.status_before_delete)
    ]


def _required_comment(comment: str, refusal: str = N_("a comment is required")) -> str:
    if not comment or not comment.strip():
        raise Refused(refusal)
    return comment.strip()


def _refuse_extra_fields(cmd: Command) -> None:
    for field in cmd.model_extra or {}:
        if field in IMMUTABLE_FIELDS:
            raise Refused(N_("{field} cannot be changed after the ticket is created"), field=field)
        raise Refused(N_("unknown field '{field}'"), field=field)


def _refuse_if_finished(state: TicketState) -> None:
    if state.finished:
        raise Refused(
            N_("the ticket is purged; nothing can change") if state.purged
            else N_("the ticket is closed; nothing can change"),
            Refused.TRANSITION_NOT_ALLOWED,
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- creation ------------------------------------------------------------------

INITIAL_STATUSES = frozenset(
    {TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.ANSWERED, TicketStatus.ESCALATED, TicketStatus.RESOLVED}
)


class NewTicket(BaseModel):
    """Everything a ticket is born with. `reported_at` defaults to creation
    time: the default "last month" window and the date filter are on it, so a
    late-arriving response's ticket is not born outside them."""

    id: str
    source: Source
    workspace_id: str = "default"
    survey_id: str | None = None
    response_id: str | None = None
    customer_email: str
    customer_name: str | None = None
    segment: str
    # What the source named when it is not one of the workspace's segments
    # (domain/segments.py): `segment` is then the fallback the ticket went
    # to, and this is kept as its origin segment, the log saying why.
    unknown_segment: str | None = None
    reported_at: datetime | None = None
    # When the customer submitted the survey response (it may arrive weeks
    # later): kept beside `reported_at`, which is when the ticket was made.
    submitted_at: datetime | None = None
    # The customer's language (domain.ticket.CUSTOMER_LOCALES), from the
    # source or else the workspace's default; None only in older histories.
    customer_locale: str | None = None
    customer_comment: str | None = None
    score: int | None = None
    priority: Priority = Priority.MEDIUM
    status: TicketStatus = TicketStatus.NEW
    owner: str | None = None
    # Without an owner, a segment's only manager takes the ticket. Intake says
    # False: the segment's assignment mode has decided (manual, or nobody
    # available or under their cap), and None means unassigned.
    default_owner: bool = True
    comment: str = ""
    actor: str = "system:intake"
    # The automatic reply with the ticket's reference that a web form's or a
    # mail's customer gets (queued with the ticket's first projection), and
    # the subject it answers. Not part of the ticket's state.
    auto_reply: bool = False
    subject: str | None = None


# Who named an unknown segment, in the creation's log line.
_NAMED_BY = {Source.SURVEY: "The response", Source.FORM: "The web form", Source.EMAIL: "The mail"}


def decide_create(new: NewTicket, policy: TicketPolicy, now: datetime) -> Decision:
    if not new.customer_email.strip():
        raise Refused(N_("customer_email is required"))
    if not new.segment.strip():
        raise Refused(N_("segment is required"))
    if new.status not in INITIAL_STATUSES:
        raise Refused(
            N_("a ticket cannot start as {status} (allowed: {allowed})"),
            status=new.status.value, allowed=", ".join(sorted(s.value for s in INITIAL_STATUSES)),
        )
    managers = policy.segment_managers.get(new.segment, [])
    owner = new.owner
    if owner is not None and owner not in managers:
        raise Refused(
            N_("'{owner}' is not a manager of segment '{segment}'"), owner=owner, segment=new.segment
        )
    if owner is None and new.default_owner and len(managers) == 1:
        owner = managers[0]
    state = TicketState(
        id=new.id,
        reference=reference_for(new.id),
        source=new.source,
        workspace_id=new.workspace_id,
        survey_id=new.survey_id,
        response_id=new.response_id,
        customer_email=new.customer_email.strip(),
        customer_name=new.customer_name,
        origin_segment=new.unknown_segment or new.segment,
        reported_at=new.reported_at or now,
        submitted_at=new.submitted_at,
        customer_locale=new.customer_locale,
        customer_comment=new.customer_comment,
        score=new.score,
        created_at=now,
        segment=new.segment,
        owner=owner,
        priority=new.priority,
        status=new.status,
        updated_at=now,
        escalation_clock_started_at=now,
        escalated_by=EscalatedBy.HAND if new.status is TicketStatus.ESCALATED else None,
        resolved_at=now if new.status is TicketStatus.RESOLVED else None,
    )
    comment = new.comment.strip() or f"Ticket created from a {new.source.value} source."
    if new.unknown_segment:
        # Said in the creation's own line, so that whoever finds the ticket in
        # an unexpected segment reads why without another command or event.
        named_by = _NAMED_BY.get(new.source, "Its source")
        comment += (
            f" {named_by} named segment '{new.unknown_segment}', which this workspace does not have:"
            f" the ticket went to '{new.segment}'."
        )
    return _record(
        schedule(state, policy), now, [(new.actor, EventKind.CREATED, "status", None, state.status.value, comment)]
    )


# --- the command table -----------------------------------------------------------

Decide = Callable[[TicketState, Any, TicketPolicy, datetime], Decision]


class CommandSpec(NamedTuple):
    model: type[Command]
    decide: Decide


def _status_command(target: TicketStatus | None, requires: TicketStatus | None, name: str) -> Decide:
    return partial(decide_status_command, target=target, requires=requires, name=name)


# Every command a ticket takes, by the name it has as a Temporal update and signal.
COMMANDS: dict[str, CommandSpec] = {
    "change": CommandSpec(TicketChange, decide_change),
    "comment": CommandSpec(Command, lambda s, c, p, now: decide_comment(s, c, now)),
    "snooze": CommandSpec(SnoozeCommand, decide_snooze),
    "escalate": CommandSpec(EscalateCommand, decide_escalate),
    "reopen": CommandSpec(Command, _status_command(TicketStatus.OPEN, TicketStatus.RESOLVED, "reopen")),
    "mark_spam": CommandSpec(Command, _status_command(TicketStatus.SPAM, None, "mark spam")),
    "mark_not_spam": CommandSpec(
        Command, _status_command(TicketStatus.OPEN, TicketStatus.SPAM, "not spam")
    ),
    "delete": CommandSpec(Command, _status_command(TicketStatus.DELETED, None, "delete")),
    "restore": CommandSpec(Command, _status_command(None, TicketStatus.DELETED, "restore")),
    "purge": CommandSpec(Command, lambda s, c, p, now: decide_purge(s, c, now)),
    "customer_reply": CommandSpec(CustomerReply, decide_customer_reply),
    "reply": CommandSpec(ReplyCommand, decide_reply),
    "confirm": CommandSpec(CustomerConfirm, decide_confirm),
}
