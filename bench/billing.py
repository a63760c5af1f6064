"""What a workflow history costs in Temporal Cloud billable actions.

Counted from the history's events, the way Temporal Cloud bills them: a
workflow start, each update accepted, each signal, each timer started, each
activity scheduled (its retries bill too; none are counted here), each child
workflow started, each search-attribute upsert, and one action per workflow
task that ran local activities (however many it ran). Queries bill too but
leave no event: cxloop's reads never query workflows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

KINDS = ("start", "update", "signal", "timer", "activity", "child start", "local-activity task", "upsert")

_BY_EVENT = {
    "WorkflowExecutionStarted": "start",
    "WorkflowExecutionUpdateAccepted": "update",
    "WorkflowExecutionSignaled": "signal",
    "TimerStarted": "timer",
    "ActivityTaskScheduled": "activity",
    "StartChildWorkflowExecutionInitiated": "child start",
    "UpsertWorkflowSearchAttributes": "upsert",
}
LOCAL_ACTIVITY_MARKER = "core_local_activity"


def event_type(event: Mapping[str, Any]) -> str:
    """`EVENT_TYPE_TIMER_STARTED` or `TimerStarted` (both JSON spellings) as `TimerStarted`."""
    name = str(event["eventType"])
    if name.startswith("EVENT_TYPE_"):
        name = "".join(part.capitalize() for part in name.removeprefix("EVENT_TYPE_").split("_"))
    return name


def billable_actions(events: Iterable[Mapping[str, Any]]) -> Counter[str]:
    """The billable actions of one history (its events as JSON dicts:
    `WorkflowHistory.to_json()`'s `events`)."""
    counted: Counter[str] = Counter()
    task_ran_local_activity = False
    for event in events:
        kind = event_type(event)
        if kind in _BY_EVENT:
            counted[_BY_EVENT[kind]] += 1
        elif kind == "WorkflowTaskCompleted":
            task_ran_local_activity = False
        elif kind == "MarkerRecorded":
            marker = event.get("markerRecordedEventAttributes", {}).get("markerName")
            if marker == LOCAL_ACTIVITY_MARKER and not task_ran_local_activity:
                # A task's markers follow its WorkflowTaskCompleted event.
                counted["local-activity task"] += 1
                task_ran_local_activity = True
    return counted


def workflow_tasks(events: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for event in events if event_type(event) == "WorkflowTaskCompleted")
