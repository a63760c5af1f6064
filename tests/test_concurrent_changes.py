"""Concurrent changes to one ticket: the read model's log is exactly the
workflow's, whatever workflow tasks the server discarded and ran again.

More comment updates in flight at once than Temporal admits per workflow (10)
make the server discard speculative workflow tasks whose update handlers had
already projected (the worker logs "Workflow task not found"), and run them
again with the updates in another order. Before projections carried their
task's time, the read model kept the discarded attempts' lines: duplicates of
some comments, none of others. The new attempt can even carry the very same
`workflow.now()` as the discarded one (under load, about one run in eight
kept "c17" where the history has "c5", both at one time): of two projections
decided at one time, the one that ran later wins (migration 0014), and the
workflow projects one change at a time so that "later" is the version order.
"""

from __future__ import annotations

import asyncio

import pytest

from domain.ticket import workflow_id_for
from tests.api_fixtures import ApiEnv, created
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.dev_server

COMMENTS = 40
IN_FLIGHT = 16
# A client told 503 "the ticket is busy" (Temporal's in-flight limit held out
# past the SDK's own retries, as on a loaded machine) sends it again.
ATTEMPTS = 10


async def test_concurrent_comments_land_in_the_read_model_exactly_as_the_workflow_logs_them(
    api: ApiEnv, workspace: str
) -> None:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail", "comment": "new"}
    ticket = await created(api.http.post("/api/tickets", json=body))
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def comment(n: int) -> int:
        async with in_flight:
            for _ in range(ATTEMPTS):
                response = await api.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": f"c{n}"})
                if response.status_code != 503:
                    return response.status_code
                assert response.headers["retry-after"]
                await asyncio.sleep(0.5)
            return response.status_code

    assert await asyncio.gather(*(comment(n) for n in range(COMMENTS))) == [201] * COMMENTS

    handle = api.temporal.get_workflow_handle(workflow_id_for(ticket["id"]))
    logged = [event.model_dump(mode="json") for event in await handle.query(TicketWorkflow.query_log)]
    projected = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert len(logged) == 1 + COMMENTS
    assert sorted(event["comment"] for event in logged[1:]) == sorted(f"c{n}" for n in range(COMMENTS))
    assert [(e["seq"], e["comment"], e["at"]) for e in projected] == [
        (e["seq"], e["comment"], e["at"]) for e in logged
    ]
    state = await handle.query(TicketWorkflow.query_state)
    read = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert read["version"] == state.version == 1 + COMMENTS
