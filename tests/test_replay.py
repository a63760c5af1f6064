"""Workflow code must stay deterministic: every recorded history under
tests/histories/ replays against today's TicketWorkflow, and so does a history
recorded just now from the same scenarios (see tests/record_histories.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from tests.record_histories import HISTORIES, record_all
from workflows.intake import MessageIntakeWorkflow, SurveyResponseWorkflow
from workflows.rollout import PolicyRolloutWorkflow
from workflows.ticket import TicketWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))


def replayer() -> Replayer:
    return Replayer(
        workflows=[TicketWorkflow, SurveyResponseWorkflow, MessageIntakeWorkflow, PolicyRolloutWorkflow],
        data_converter=pydantic_data_converter,
    )


def load(path: Path) -> WorkflowHistory:
    workflow_id = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"].get(
        "workflowId", path.stem
    )
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def test_histories_are_committed() -> None:
    names = {path.name for path in RECORDED}
    # v2: after the index-workspace patch; v4: after the notices patch; v5:
    # after the serial-projections patch; v6: after the outbox patch
    for version in ("v1", "v2", "v4", "v5", "v6"):
        assert {f"ticket_{version}_full_lifecycle_run1.json", f"ticket_{version}_continued_as_new_run1.json"} <= names
    # Several updates in one workflow task, each projecting: concurrently
    # before the serial-projections patch, one after another since.
    assert {"ticket_v4_concurrent_updates_run1.json", "ticket_v5_concurrent_updates_run1.json"} <= names
    assert {"intake_v3_survey_intake_run1.json", "intake_v3_message_intake_run1.json"} <= names
    # v7: after the auto-reply-outbox patch
    assert "intake_v7_message_intake_run1.json" in names


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    result = await replayer().replay_workflow(load(path), raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_full_lifecycle_history_covers_every_timer() -> None:
    """The recorded lifecycle is worth replaying: its three timers fired
    (snooze wake-up, escalation, auto-close) and it ended closed."""
    events = json.loads((HISTORIES / "ticket_v1_full_lifecycle_run1.json").read_text())["events"]
    fired = [e for e in events if e["eventType"] in ("EVENT_TYPE_TIMER_FIRED", "TimerFired")]
    assert len(fired) >= 3
    completed = next(e for e in events if "workflowExecutionCompletedEventAttributes" in e)
    payload = completed["workflowExecutionCompletedEventAttributes"]["result"]["payloads"][0]
    final_state = json.loads(base64.b64decode(payload["data"]))
    assert final_state["status"] == "closed" and final_state["fired_rule_ids"] == []
    assert final_state["version"] >= 15


async def test_fresh_histories_replay(time_skipping_server: WorkflowEnvironment) -> None:
    recorded = await record_all(time_skipping_server)
    histories = [history for runs in recorded.values() for history in runs]
    for history in histories:
        result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None


def test_notices_history_sends_each_notice() -> None:
    """The v4 lifecycle mails the owner it was created for, the escalation's
    assignee, and the customer at each of its two resolutions (the patched
    change is in the history)."""
    events = json.loads((HISTORIES / "ticket_v4_full_lifecycle_run1.json").read_text())["events"]
    notices = [
        json.loads(base64.b64decode(attributes["input"]["payloads"][0]["data"]))
        for e in events
        if (attributes := e.get("activityTaskScheduledEventAttributes"))
        and attributes["activityType"]["name"] == "send_ticket_notice"
    ]
    assert [(n["kind"], n["to"]) for n in notices] == [
        ("assigned", "ann"), ("escalated", "lead"), ("resolved", "pat@example.com"), ("resolved", "pat@example.com"),
    ]
    markers = [e for e in events if "markerRecordedEventAttributes" in e
               and e["markerRecordedEventAttributes"]["markerName"] == "core_patch"]
    assert markers


def patches_in(name: str) -> list[str]:
    events = json.loads((HISTORIES / name).read_text())["events"]
    return [
        json.loads(base64.b64decode(marker["details"]["patch-data"]["payloads"][0]["data"]))["id"]
        for marker in (e.get("markerRecordedEventAttributes") for e in events)
        if marker and marker["markerName"] == "core_patch"
    ]


def test_only_a_ticket_with_concurrent_changes_records_the_serial_projections_patch() -> None:
    """The patch (a marker and a billable TemporalChangeVersion upsert) is
    asked only when a projection has to wait for another: a ticket changed
    one update at a time runs exactly the commands it ran before."""
    assert "serial-projections" in patches_in("ticket_v5_concurrent_updates_run1.json")
    assert "serial-projections" not in patches_in("ticket_v5_full_lifecycle_run1.json")
    assert "serial-projections" not in patches_in("ticket_v4_concurrent_updates_run1.json")


def test_since_the_outbox_a_ticket_sends_its_mails_without_any_activity() -> None:
    """The lifecycle mails its owner, its escalation's assignee and its
    customer (twice resolved): before the outbox each was an activity and a
    workflow task of its own; since, the projection queues them."""
    def activities(name: str) -> int:
        events = json.loads((HISTORIES / name).read_text())["events"]
        return sum(1 for e in events if e["eventType"] in ("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "ActivityTaskScheduled"))

    assert activities("ticket_v5_full_lifecycle_run1.json") == 4
    assert activities("ticket_v6_full_lifecycle_run1.json") == 0
    assert "outbox" in patches_in("ticket_v6_full_lifecycle_run1.json")


def test_a_closed_loop_sends_its_mails_without_any_activity_or_workflow_task_of_their_own() -> None:
    """Owned, opened, a reply mailed, the customer's answer, resolved (the
    "Is it solved?" mail), confirmed: the ticket's history has a workflow
    task for its start and each update, and nothing for three mails."""
    from bench.billing import billable_actions, workflow_tasks

    events = json.loads((HISTORIES / "ticket_v6_closed_loop_run1.json").read_text())["events"]
    actions = billable_actions(events)
    assert actions["activity"] == 0
    assert workflow_tasks(events) == 1 + actions["update"] == 7
    assert actions["local-activity task"] == 7


def test_since_the_outbox_a_web_form_or_mail_intake_sends_its_automatic_reply_without_an_activity() -> None:
    from bench.billing import billable_actions

    before = json.loads((HISTORIES / "intake_v3_message_intake_run1.json").read_text())["events"]
    after = json.loads((HISTORIES / "intake_v7_message_intake_run1.json").read_text())["events"]
    assert billable_actions(before)["activity"] == 1
    assert billable_actions(after)["activity"] == 0
