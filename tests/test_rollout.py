"""Configuration changes reaching tickets that already exist, through the
configuration endpoints over real HTTP (the ASGI app), a real dev server and
worker, on SQLite and on PostgreSQL: a rule added later escalates, a disabled
rule no longer does, a new segment manager may own a ticket. The roll-out's edge
cases (revisions, tickets visibility does not show yet) are in
tests/test_policy_revision.py."""

from __future__ import annotations

import asyncio

from tests.api_fixtures import (
    ApiEnv,
    created,
    eventually,
    new_segment,
    new_ticket,
    new_user,
    new_workspace,
    refused,
)


async def ticket(api: ApiEnv, ticket_id: str) -> dict:
    response = await api.http.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_rule_added_later_escalates_existing_tickets(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann, boss = await new_user(api, "ann"), await new_user(api, "boss")
    await new_segment(api, workspace_id, "retail", ann)
    created_ticket = await new_ticket(api, workspace_id, "retail")
    assert created_ticket["owner"] == ann and created_ticket["escalation_due_at"] is None

    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={"workspace_id": workspace_id, "name": "two seconds", "after_seconds": 2, "assignee": boss},
        )
    )

    async def escalated() -> dict | None:
        state = await ticket(api, created_ticket["id"])
        return state if state["status"] == "escalated" else None

    state = await eventually(escalated, "ticket escalated by the new rule")
    assert (state["owner"], state["escalated_by"]) == (boss, "rule")
    events = (await api.http.get(f"/api/tickets/{created_ticket['id']}/events")).json()
    fired = [e for e in events if e["kind"] == "escalated_by_rule"]
    assert fired and fired[0]["actor"] == f"rule:{rule['id']}", events


async def test_a_disabled_rule_no_longer_escalates(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann, boss = await new_user(api, "ann"), await new_user(api, "boss")
    await new_segment(api, workspace_id, "retail", ann)
    created_ticket = await new_ticket(api, workspace_id, "retail")
    rule_created_at = asyncio.get_running_loop().time()
    rule = await created(
        api.http.post(
            "/api/escalation-rules", json={"workspace_id": workspace_id, "after_seconds": 4, "assignee": boss}
        )
    )

    async def due_at() -> str | None:
        return (await ticket(api, created_ticket["id"]))["escalation_due_at"]

    await eventually(due_at, "the rule's deadline set on the ticket")
    response = await api.http.patch(f"/api/escalation-rules/{rule['id']}", json={"enabled": False})
    assert response.status_code == 200 and response.json()["enabled"] is False

    async def no_deadline() -> bool:
        return await due_at() is None

    await eventually(no_deadline, "the deadline cleared once the rule is disabled")
    # Past the original deadline, with a margin: still not escalated.
    await asyncio.sleep(max(0.0, rule_created_at + 5.5 - asyncio.get_running_loop().time()))
    state = await ticket(api, created_ticket["id"])
    assert (state["status"], state["owner"], state["escalated_by"]) == ("new", ann, None)
    events = (await api.http.get(f"/api/tickets/{created_ticket['id']}/events")).json()
    assert not [e for e in events if e["kind"] == "escalated_by_rule"]


async def test_a_new_segment_manager_may_own_existing_tickets(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    bob, cy = await new_user(api, "bob"), await new_user(api, "cy")
    segment = await new_segment(api, workspace_id, "b2b", bob)
    created_ticket = await new_ticket(api, workspace_id, "b2b")
    assert created_ticket["owner"] == bob
    reassign = {"owner": cy, "comment": "Cy takes key accounts"}
    await refused(api.http.patch(f"/api/tickets/{created_ticket['id']}", json=reassign), 422, "not a manager")

    response = await api.http.put(
        f"/api/segments/{segment['id']}/managers", json=[{"username": bob}, {"username": cy}]
    )
    assert response.status_code == 200, response.text

    async def reassigned() -> dict | None:
        answer = await api.http.patch(f"/api/tickets/{created_ticket['id']}", json=reassign)
        if answer.status_code == 422 and "not a manager" in answer.text:
            return None  # the roll-out has not reached the ticket yet
        assert answer.status_code == 200, answer.text
        return answer.json()

    state = await eventually(reassigned, "the ticket accepts the new manager")
    assert state["owner"] == cy
    assert (await ticket(api, created_ticket["id"]))["owner"] == cy
