"""TicketWorkflow: one durable workflow per ticket, the source of truth.

Every command arrives twice over: as an Update (validated first, so a refused
command leaves nothing in the history, and the caller hears the new state or
the reason) and as a Signal of the same name for fire-and-forget senders such
as the Temporal UI and CLI (a refused signal is logged as rejected). The
decisions themselves are the pure functions of `domain.commands`.

Timers follow the updatable-timer pattern: the main loop waits until the
earliest due time of the state (escalation, snooze wake-up, auto-close) or until
a handler changed something, then fires what is due and waits again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.commands import (
        COMMANDS,
        Command,
        CustomerConfirm,
        CustomerReply,
        Decision,
        EscalateCommand,
        Refused,
        ReplacePolicy,
        ReplyCommand,
        SnoozeCommand,
        TicketChange,
        decide_create,
        decide_due_timers,
        decide_policy,
        parse_command,
    )
    # Payload models live in domain/ (passed through the sandbox): defining
    # pydantic classes again for every workflow run would cost CPU.
    from domain.contracts import TicketWorkflowInput
    from domain.notices import SEND_TICKET_NOTICE_ACTIVITY, auto_reply_notice, notices_of
    from domain.ticket import (
        PROJECT_TICKET_ACTIVITY,
        EventKind,
        TicketEvent,
        TicketNotice,
        TicketPolicy,
        TicketProjection,
        TicketState,
    )

TICKET_STATUS = SearchAttributeKey.for_keyword("TicketStatus")
TICKET_PRIORITY = SearchAttributeKey.for_keyword("TicketPriority")
TICKET_SEGMENT = SearchAttributeKey.for_keyword("TicketSegment")
TICKET_OWNER = SearchAttributeKey.for_keyword("TicketOwner")
SURVEY_ID = SearchAttributeKey.for_keyword("SurveyId")
# Lets a configuration roll-out find the running tickets of one workspace.
TICKET_WORKSPACE = SearchAttributeKey.for_keyword("TicketWorkspace")
SEARCH_ATTRIBUTES = (TICKET_STATUS, TICKET_PRIORITY, TICKET_SEGMENT, TICKET_OWNER, SURVEY_ID, TICKET_WORKSPACE)

# workflow.patched ids: each guards a change of the workflow's commands, so
# that histories recorded before it still replay (tests/histories/).
PATCH_INDEX_WORKSPACE = "index-workspace"
# Mails to the new owner, the escalation's assignee and the resolved ticket's customer.
PATCH_NOTICES = "notices"
# One projection in flight at a time: the read model's writes of a workflow
# task come in version order, so a later write of the same decision time is
# always the later decision (see _project).
PATCH_SERIAL_PROJECTIONS = "serial-projections"
# Notices go to the outbox with the projection (the mailer sends them), not
# to an activity each.
PATCH_OUTBOX = "outbox"

# A notice is retried this long (the mail server may be down), then given up.
NOTICE_TIMEOUT = timedelta(days=1)

# The update handler projects inside its own workflow task (a local activity),
# so the caller's read after the update sees the change. If the read model is
# down for longer than this, the update still succeeds and the main loop keeps
# retrying the projection as a regular activity.
PROJECTION_LOCAL_TIMEOUT = timedelta(seconds=20)


@workflow.defn
class TicketWorkflow:
    @workflow.init
    def __init__(self, input: TicketWorkflowInput) -> None:
        self._input = input
        self._policy = input.policy
        self._log: list[TicketEvent] = list(input.log)
        self._unprojected: list[TicketEvent] = list(input.unprojected)
        # Mails for the outbox, written with the next projection.
        self._unsent: list[TicketNotice] = list(input.notices)
        self._projection_behind = bool(input.unprojected)
        self._changes_this_run = 0
        self._changed = False
        self._refused_at_creation: Refused | None = None
        self._indexed: dict[str, str | None] = {}
        self._projected_version = 0
        self._projecting = asyncio.Lock()
        # Notices being sent: the ticket does not close or continue as new
        # before they are out (or given up).
        self._notices_in_flight = 0
        if input.state is not None:
            self._state = input.state
            if not input.unprojected:
                self._projected_version = input.state.version
            return
        if input.new is None:
            raise ApplicationError("TicketWorkflow needs a new ticket or a carried state", non_retryable=True)
        try:
            created = decide_create(input.new, input.policy, workflow.now())
        except Refused as refused:
            self._refused_at_creation = refused
            created = None
        if created is not None:
            self._state = created.state
            self._log.extend(created.events)
            self._unprojected.extend(created.events)

    @workflow.run
    async def run(self, input: TicketWorkflowInput) -> TicketState:
        if self._refused_at_creation is not None:
            refused = self._refused_at_creation
            raise ApplicationError(
                refused.reason, *refused.details, type=refused.code, non_retryable=True
            )
        self._index()
        if input.state is None:
            # A new ticket with an owner: they hear of it like of any assignment.
            self._notify(self._state.model_copy(update={"owner": None}), Decision(state=self._state, events=self._log))
            if input.new is not None and input.new.auto_reply:
                # Its customer hears from us at once (only new intake asks for it).
                self._unsent.append(auto_reply_notice(self._state, input.new.subject))
        if self._unprojected and not self._projection_behind:
            await self._project()
        while True:
            due = decide_due_timers(self._state, self._policy, workflow.now())
            if due is not None:
                await self._commit(due)
            if self._state.finished:
                break
            if self._projection_behind:
                await self._project_durably()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await workflow.wait_condition(lambda: self._notices_in_flight == 0)
                await self._project_durably()
                workflow.continue_as_new(
                    TicketWorkflowInput(
                        state=self._state,
                        log=self._log,
                        unprojected=self._unprojected,
                        notices=self._unsent,
                        policy=self._policy,
                        max_changes_per_run=input.max_changes_per_run,
                    )
                )
            self._changed = False
            next_due = self._state.next_due_at()
            timeout = None
            if next_due is not None:
                timeout = max(next_due - workflow.now(), timedelta(milliseconds=1))
            try:
                await workflow.wait_condition(
                    lambda: self._changed or self._should_continue_as_new(), timeout=timeout
                )
            except asyncio.TimeoutError:
                pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await workflow.wait_condition(lambda: self._notices_in_flight == 0)
        if self._projection_behind:
            await self._project_durably()
        return self._state

    # --- queries -----------------------------------------------------------------

    @workflow.query(name="state")
    def query_state(self) -> TicketState:
        return self._state

    @workflow.query(name="log")
    def query_log(self, since_seq: int = 0) -> list[TicketEvent]:
        return [event for event in self._log if event.seq > since_seq]

    @workflow.query(name="policy")
    def query_policy(self) -> TicketPolicy:
        return self._policy

    # --- updates: validated, answered with the new state ----------------------------

    @workflow.update(name="change")
    async def change(self, cmd: TicketChange) -> TicketState:
        return await self._run_update("change", cmd)

    @change.validator
    def _validate_change(self, cmd: TicketChange) -> None:
        self._validate("change", cmd)

    @workflow.update(name="comment")
    async def comment(self, cmd: Command) -> TicketState:
        return await self._run_update("comment", cmd)

    @comment.validator
    def _validate_comment(self, cmd: Command) -> None:
        self._validate("comment", cmd)

    @workflow.update(name="snooze")
    async def snooze(self, cmd: SnoozeCommand) -> TicketState:
        return await self._run_update("snooze", cmd)

    @snooze.validator
    def _validate_snooze(self, cmd: SnoozeCommand) -> None:
        self._validate("snooze", cmd)

    @workflow.update(name="escalate")
    async def escalate(self, cmd: EscalateCommand) -> TicketState:
        return await self._run_update("escalate", cmd)

    @escalate.validator
    def _validate_escalate(self, cmd: EscalateCommand) -> None:
        self._validate("escalate", cmd)

    @workflow.update(name="reopen")
    async def reopen(self, cmd: Command) -> TicketState:
        return await self._run_update("reopen", cmd)

    @reopen.validator
    def _validate_reopen(self, cmd: Command) -> None:
        self._validate("reopen", cmd)

    @workflow.update(name="mark_spam")
    async def mark_spam(self, cmd: Command) -> TicketState:
        return await self._run_update("mark_spam", cmd)

    @mark_spam.validator
    def _validate_mark_spam(self, cmd: Command) -> None:
        self._validate("mark_spam", cmd)

    @workflow.update(name="mark_not_spam")
    async def mark_not_spam(self, cmd: Command) -> TicketState:
        return await self._run_update("mark_not_spam", cmd)

    @mark_not_spam.validator
    def _validate_mark_not_spam(self, cmd: Command) -> None:
        self._validate("mark_not_spam", cmd)

    @workflow.update(name="delete")
    async def delete(self, cmd: Command) -> TicketState:
        return await self._run_update("delete", cmd)

    @delete.validator
    def _validate_delete(self, cmd: Command) -> None:
        self._validate("delete", cmd)

    @workflow.update(name="restore")
    async def restore(self, cmd: Command) -> TicketState:
        return await self._run_update("restore", cmd)

    @restore.validator
    def _validate_restore(self, cmd: Command) -> None:
        self._validate("restore", cmd)

    @workflow.update(name="purge")
    async def purge(self, cmd: Command) -> TicketState:
        return await self._run_update("purge", cmd)

    @purge.validator
    def _validate_purge(self, cmd: Command) -> None:
        self._validate("purge", cmd)

    @workflow.update(name="customer_reply")
    async def customer_reply(self, cmd: CustomerReply) -> TicketState:
        return await self._run_update("customer_reply", cmd)

    @customer_reply.validator
    def _validate_customer_reply(self, cmd: CustomerReply) -> None:
        self._validate("customer_reply", cmd)

    @workflow.update(name="reply")
    async def reply(self, cmd: ReplyCommand) -> TicketState:
        return await self._run_update("reply", cmd)

    @reply.validator
    def _validate_reply(self, cmd: ReplyCommand) -> None:
        self._validate("reply", cmd)

    @workflow.update(name="confirm")
    async def confirm(self, cmd: CustomerConfirm) -> TicketState:
        return await self._run_update("confirm", cmd)

    @confirm.validator
    def _validate_confirm(self, cmd: CustomerConfirm) -> None:
        self._validate("confirm", cmd)

    @workflow.update(name="sync")
    async def sync(self) -> TicketState:
        """Answers once the read model holds the latest state, so whoever
        started the ticket can read its own write (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._projected_version >= self._state.version)
        return self._state

    @workflow.update(name="replace_policy")
    async def replace_policy(self, cmd: ReplacePolicy) -> TicketState:
        decision, self._policy = decide_policy(self._state, self._policy, cmd, workflow.now())
        if decision is not None:
            await self._commit(decision)
            return decision.state
        return self._state

    # --- signals: the same commands, fire and forget --------------------------------
    # Payloads arrive raw (Any) so that a malformed one is logged as rejected
    # rather than dropped by the SDK before it reaches us.

    @workflow.signal(name="change")
    async def change_signal(self, raw: Any) -> None:
        await self._run_signal("change", raw)

    @workflow.signal(name="comment")
    async def comment_signal(self, raw: Any) -> None:
        await self._run_signal("comment", raw)

    @workflow.signal(name="snooze")
    async def snooze_signal(self, raw: Any) -> None:
        await self._run_signal("snooze", raw)

    @workflow.signal(name="escalate")
    async def escalate_signal(self, raw: Any) -> None:
        await self._run_signal("escalate", raw)

    @workflow.signal(name="reopen")
    async def reopen_signal(self, raw: Any) -> None:
        await self._run_signal("reopen", raw)

    @workflow.signal(name="mark_spam")
    async def mark_spam_signal(self, raw: Any) -> None:
        await self._run_signal("mark_spam", raw)

    @workflow.signal(name="mark_not_spam")
    async def mark_not_spam_signal(self, raw: Any) -> None:
        await self._run_signal("mark_not_spam", raw)

    @workflow.signal(name="delete")
    async def delete_signal(self, raw: Any) -> None:
        await self._run_signal("delete", raw)

    @workflow.signal(name="restore")
    async def restore_signal(self, raw: Any) -> None:
        await self._run_signal("restore", raw)

    @workflow.signal(name="purge")
    async def purge_signal(self, raw: Any) -> None:
        await self._run_signal("purge", raw)

    @workflow.signal(name="customer_reply")
    async def customer_reply_signal(self, raw: Any) -> None:
        await self._run_signal("customer_reply", raw)

    @workflow.signal(name="reply")
    async def reply_signal(self, raw: Any) -> None:
        await self._run_signal("reply", raw)

    @workflow.signal(name="confirm")
    async def confirm_signal(self, raw: Any) -> None:
        await self._run_signal("confirm", raw)

    @workflow.signal(name="replace_policy")
    async def replace_policy_signal(self, raw: Any) -> None:
        try:
            cmd = parse_command(ReplacePolicy, raw)
        except Refused as refused:
            await self._commit(self._rejection("replace_policy", raw, refused))
            return
        await self.replace_policy(cmd)

    # --- plumbing -------------------------------------------------------------------

    def _decide(self, name: str, cmd: Any) -> Decision:
        return COMMANDS[name].decide(self._state, cmd, self._policy, workflow.now())

    def _validate(self, name: str, cmd: Any) -> None:
        try:
            self._decide(name, cmd)
        except Refused as refused:
            raise ApplicationError(
                refused.reason, *refused.details, type=refused.code, non_retryable=True
            ) from None

    async def _run_update(self, name: str, cmd: Any) -> TicketState:
        try:
            # Decided again: another command may have landed since validation.
            decision = self._decide(name, cmd)
        except Refused as refused:
            raise ApplicationError(
                refused.reason, *refused.details, type=refused.code, non_retryable=True
            ) from None
        await self._commit(decision)
        return decision.state

    async def _run_signal(self, name: str, raw: Any) -> None:
        try:
            decision = self._decide(name, parse_command(COMMANDS[name].model, raw))
        except Refused as refused:
            decision = self._rejection(name, raw, refused)
        await self._commit(decision)

    def _rejection(self, name: str, raw: Any, refused: Refused) -> Decision:
        actor = raw.get("actor") if isinstance(raw, dict) else None
        actor = str(actor or "operator").replace("\x00", "")[:200] or "operator"
        event = TicketEvent(
            seq=self._state.version + 1,
            at=workflow.now(),
            actor=actor,
            kind=EventKind.REJECTED,
            field=name,
            comment=f"signal '{name}' rejected: {refused.reason}",
        )
        state = self._state.model_copy(update={"version": event.seq})
        return Decision(state=state, events=[event])

    async def _commit(self, decision: Decision) -> None:
        before = self._state
        self._state = decision.state
        self._notify(before, decision)
        self._log.extend(decision.events)
        self._unprojected.extend(decision.events)
        self._changes_this_run += 1
        self._changed = True
        self._index()
        await self._project()

    def _notify(self, before: TicketState, decision: Decision) -> None:
        """Start sending the change's notices (in the background: the change
        is answered without waiting for any mail)."""
        notices = notices_of(before, decision.state, decision.events)
        if not notices:
            return
        if workflow.patched(PATCH_OUTBOX):
            # The same key on every attempt of this task: an update's id, or
            # (a timer's change) the version it made.
            update = workflow.current_update_info()
            decision_key = update.id if update is not None else f"v{decision.state.version}"
            self._unsent.extend(
                notice.model_copy(update={"key": f"{notice.kind.value}.{notice.ticket_id}.{decision_key}"})
                for notice in notices
            )
            return
        if not workflow.patched(PATCH_NOTICES):
            return
        for notice in notices:
            self._notices_in_flight += 1
            workflow.start_activity(
                SEND_TICKET_NOTICE_ACTIVITY,
                notice,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=NOTICE_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            ).add_done_callback(self._notice_done)

    def _notice_done(self, sent: asyncio.Future) -> None:
        self._notices_in_flight -= 1
        if not sent.cancelled() and sent.exception() is not None:
            workflow.logger.warning("a notice of ticket %s was given up: %s", self._state.id, sent.exception())

    def _index(self) -> None:
        """Upsert the search attributes that changed, so operators can find
        tickets by status, priority, segment, owner and survey."""
        wanted = {
            TICKET_STATUS.name: self._state.status.value,
            TICKET_PRIORITY.name: self._state.priority.value,
            TICKET_SEGMENT.name: self._state.segment,
            TICKET_OWNER.name: self._state.owner,
            SURVEY_ID.name: self._state.survey_id,
        }
        if workflow.patched(PATCH_INDEX_WORKSPACE):
            wanted[TICKET_WORKSPACE.name] = self._state.workspace_id
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in SEARCH_ATTRIBUTES:
            if key.name not in wanted:
                continue
            value = wanted[key.name]
            if key.name in self._indexed and self._indexed[key.name] == value:
                continue
            if value is None and key.name not in self._indexed:
                self._indexed[key.name] = None
                continue
            updates.append(key.value_set(value) if value is not None else key.value_unset())
            self._indexed[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _project(self) -> None:
        """Write the latest state and the log lines not yet projected to the
        read model, inside this workflow task (a local activity).

        Projections run one at a time: updates handled in one task would
        otherwise project concurrently and land in any order. Serialized, the
        read model sees a task's writes in version order, and a write of the
        same decision time as the row it meets is the later decision: either
        later in this task, or a new attempt of a task whose earlier attempt
        projected and was then discarded by the server (it ran with the same
        `workflow.now()`, see store/tickets.py). An update that waited finds
        its change already projected by the one before it, and does not
        project again.

        Only waiting changes the workflow's commands, so only then is the
        change asked about (`workflow.patched` records a marker and upserts
        TemporalChangeVersion, a billable action a quiet ticket is spared);
        histories from before it replay the concurrent projections they hold."""
        if self._projecting.locked() and not workflow.patched(PATCH_SERIAL_PROJECTIONS):
            await self._project_now()
            return
        async with self._projecting:
            if self._unprojected or self._unsent or self._projected_version < self._state.version:
                await self._project_now()

    async def _project_now(self) -> None:
        events, self._unprojected = self._unprojected, []
        notices, self._unsent = self._unsent, []
        # With the policy's revision the projection finds a copy that a
        # roll-out missed and sends the ticket the current one.
        projection = TicketProjection(
            state=self._state, events=events, policy_revision=self._policy.revision, decided_at=workflow.now(),
            notices=notices,
        )
        try:
            await workflow.execute_local_activity(
                PROJECT_TICKET_ACTIVITY,
                projection,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=PROJECTION_LOCAL_TIMEOUT,
            )
            self._projected_version = max(self._projected_version, projection.state.version)
        except ActivityError:
            workflow.logger.warning("projection of ticket %s failed; retrying durably", self._state.id)
            self._unprojected = events + self._unprojected
            self._unsent = notices + self._unsent
            self._projection_behind = True
            self._changed = True

    async def _project_durably(self) -> None:
        """The read model was unreachable: keep trying, as a regular activity
        that survives worker restarts, until it holds the latest state."""
        if self._projecting.locked() and not workflow.patched(PATCH_SERIAL_PROJECTIONS):
            await self._project_durably_now()
            return
        async with self._projecting:
            await self._project_durably_now()

    async def _project_durably_now(self) -> None:
        while self._projection_behind:
            events, self._unprojected = self._unprojected, []
            notices, self._unsent = self._unsent, []
            self._projection_behind = False
            projection = TicketProjection(
                state=self._state, events=events, policy_revision=self._policy.revision,
                decided_at=workflow.now(), notices=notices,
            )
            await workflow.execute_activity(
                PROJECT_TICKET_ACTIVITY,
                projection,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            self._projected_version = max(self._projected_version, projection.state.version)

    def _should_continue_as_new(self) -> bool:
        return (
            self._changes_this_run >= self._input.max_changes_per_run
            or workflow.info().is_continue_as_new_suggested()
        )
