"""Intake workflows: how a ticket is born without a person in between.

SurveyResponseWorkflow (id `survey-response-<key>`): keeps the response,
evaluates the survey's action-alert rules, starts the ticket (a child
TicketWorkflow whose id derives from the response, so a response redelivered
or delivered twice at once makes one ticket) and sends the notifications.

MessageIntakeWorkflow (id `message-intake-<ticket id>`): a web form or an
inbound mail becomes a ticket, and the customer gets an automatic reply with
its reference.

The webhook answers 202 once Temporal holds the workflow: a worker that is
down delays the ticket, never loses it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from domain.contracts import (
        PICK_OWNER_ACTIVITY,
        PREPARE_MESSAGE_INTAKE_ACTIVITY,
        PREPARE_SURVEY_INTAKE_ACTIVITY,
        SEND_AUTO_REPLY_ACTIVITY,
        SEND_NOTIFICATION_ACTIVITY,
        USER_EMAIL_ACTIVITY,
        AutoReply,
        MessageRules,
        OwnerQuestion,
        ResponseRecord,
        SurveyNotification,
        SurveyRules,
    )
    from domain.alerts import evaluate
    from domain.commands import NewTicket, Refused, decide_create
    from domain.contracts import UNSORTED_SEGMENT, IntakeResult, MessageIntake, SurveyIntake
    from domain.ticket import Priority, Source, TicketPolicy, reference_for, ticket_id_for_response, workflow_id_for
    from workflows.ticket import TicketWorkflow, TicketWorkflowInput

# Short reads and writes of the read model, run as local activities (no round
# trip through the server), retried while the database is away.
DATABASE_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
)
# Mail: the server may be away for a while; keep trying for a day.
MAIL_ACTIVITY = dict(
    start_to_close_timeout=timedelta(seconds=30),
    schedule_to_close_timeout=timedelta(days=1),
    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
)
def response_key(survey_id: str, response_id: str) -> str:
    """The stored response's id, which is also its ticket's id."""
    return ticket_id_for_response(survey_id, response_id)


def survey_intake_workflow_id(survey_id: str, response_id: str) -> str:
    return f"survey-response-{response_key(survey_id, response_id)}"


async def _start_ticket(new: NewTicket, policy: TicketPolicy) -> None:
    try:
        await workflow.start_child_workflow(
            TicketWorkflow.run,
            TicketWorkflowInput(new=new, policy=policy),
            id=workflow_id_for(new.id),
            # The ticket lives on after intake is done.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("ticket %s already exists (a redelivery)", new.id)


async def _owner_for(workspace_id: str, segment: str, policy: TicketPolicy, wanted: str | None) -> str | None:
    managers = policy.segment_managers.get(segment, [])
    if wanted and wanted in managers:
        return wanted
    return await workflow.execute_local_activity(
        PICK_OWNER_ACTIVITY, OwnerQuestion(workspace_id=workspace_id, segment=segment),
        result_type=str | None, **DATABASE_ACTIVITY,
    )


# workflow.patched id: the automatic reply leaves through the ticket's outbox
# (histories from before it send it by an activity).
PATCH_AUTO_REPLY_OUTBOX = "auto-reply-outbox"


@workflow.defn
class SurveyResponseWorkflow:
    @workflow.run
    async def run(self, intake: SurveyIntake) -> IntakeResult:
        response, mapped = intake.response, intake.mapped
        key = response_key(response.survey_id, response.response_id)
        result = IntakeResult(response_key=key)
        rules: SurveyRules = await workflow.execute_local_activity(
            PREPARE_SURVEY_INTAKE_ACTIVITY,
            ResponseRecord(key=key, response=response, mapped=mapped, received_at=intake.received_at),
            result_type=SurveyRules,
            **DATABASE_ACTIVITY,
        )
        decision = evaluate(rules.alert_rules, response, mapped)
        result.reasons = [f"{o.rule_name}: {'met' if o.met else 'not met'} ({o.reason})" for o in decision.outcomes]

        if decision.ticket is not None:
            segment = decision.ticket.segment or rules.segment
            if segment == rules.segment and not decision.ticket.owner:
                owner = rules.owner
            else:
                owner = await _owner_for(rules.workspace_id, segment, rules.policy, decision.ticket.owner)
            new = NewTicket(
                id=key,
                source=Source.SURVEY,
                workspace_id=rules.workspace_id,
                survey_id=response.survey_id,
                response_id=key,
                customer_email=mapped.customer_email or "",
                customer_name=mapped.customer_name,
                segment=segment,
                # An alert rule that routes the ticket elsewhere decided its
                # segment; otherwise the response's own, which may stand in
                # for a segment the response named and the workspace lacks.
                unknown_segment=rules.unknown_segment if segment == rules.segment else None,
                # reported_at: when the ticket is made (the list's window and
                # date filter are on it); the submission is kept beside it.
                submitted_at=response.submitted_at,
                customer_locale=mapped.locale or rules.default_locale,
                customer_comment=mapped.comment,
                score=mapped.score,
                priority=decision.ticket.priority,
                owner=owner,
                default_owner=False,
                comment=f"Created by action-alert rule: {decision.ticket.reason}",
                actor=f"alert-rule:{decision.ticket.rule_ids[0]}",
            )
            try:
                decide_create(new, rules.policy, workflow.now())
            except Refused as refused:
                result.reasons.append(f"no ticket: {refused.reason}")
            else:
                await _start_ticket(new, rules.policy)
                result.ticket_id, result.reference = key, reference_for(key)

        for notification in decision.notifications:
            address = notification.recipient
            if "@" not in address:
                address = await workflow.execute_local_activity(
                    USER_EMAIL_ACTIVITY, address, result_type=str | None, **DATABASE_ACTIVITY
                )
                if not address:
                    result.reasons.append(f"no mail for unknown user {notification.recipient}")
                    continue
            await workflow.execute_activity(
                SEND_NOTIFICATION_ACTIVITY,
                SurveyNotification(
                    to=address, rule_name=notification.rule_name, message=notification.message,
                    survey_id=response.survey_id, response_id=response.response_id, score=mapped.score,
                    customer_email=mapped.customer_email, comment=mapped.comment,
                    ticket_reference=result.reference,
                ),
                **MAIL_ACTIVITY,
            )
            result.notified.append(address)
        return result


@workflow.defn
class MessageIntakeWorkflow:
    @workflow.run
    async def run(self, intake: MessageIntake) -> IntakeResult:
        rules: MessageRules = await workflow.execute_local_activity(
            PREPARE_MESSAGE_INTAKE_ACTIVITY,
            OwnerQuestion(workspace_id=intake.workspace_id, segment=intake.segment or UNSORTED_SEGMENT),
            result_type=MessageRules,
            **DATABASE_ACTIVITY,
        )
        policy, segment, owner = rules.policy, rules.segment, rules.owner
        what = "web form" if intake.source is Source.FORM else "email"
        # The ticket queues the automatic reply in its outbox (no activity here).
        replies_itself = workflow.patched(PATCH_AUTO_REPLY_OUTBOX)
        new = NewTicket(
            id=intake.ticket_id,
            source=intake.source,
            workspace_id=intake.workspace_id,
            customer_email=intake.customer_email,
            customer_name=intake.customer_name,
            segment=segment,
            unknown_segment=rules.unknown_segment,
            reported_at=intake.received_at,
            customer_locale=intake.customer_locale or rules.default_locale,
            customer_comment=f"{intake.subject}\n\n{intake.message}" if intake.subject else intake.message,
            priority=Priority.MEDIUM,
            owner=owner,
            default_owner=False,
            comment=f"Created from a {what}."
            + (f" It answers {intake.follows}, which is closed." if intake.follows else ""),
            actor=f"intake:{intake.source.value}",
            auto_reply=replies_itself,
            subject=intake.subject,
        )
        await _start_ticket(new, policy)
        reference = reference_for(intake.ticket_id)
        if replies_itself:
            return IntakeResult(response_key=intake.ticket_id, ticket_id=intake.ticket_id, reference=reference)
        await workflow.execute_activity(
            SEND_AUTO_REPLY_ACTIVITY,
            AutoReply(to=intake.customer_email, customer_name=intake.customer_name, reference=reference,
                      source=intake.source.value, subject=intake.subject,
                      locale=new.customer_locale, workspace_id=intake.workspace_id),
            **MAIL_ACTIVITY,
        )
        return IntakeResult(response_key=intake.ticket_id, ticket_id=intake.ticket_id, reference=reference)
