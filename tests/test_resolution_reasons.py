"""Root cause on resolution (issue 16): a workspace's resolution reasons
(/api/resolution-reasons), whether resolving needs one, and the reason a
ticket is resolved with, through the real API, the dev server and both read
models."""

from __future__ import annotations

import uuid

import pytest

from tests.api_fixtures import ApiEnv, created, eventually, refused
from tests.test_replies import new_ticket

pytestmark = pytest.mark.dev_server


async def reason(api: ApiEnv, workspace: str, code: str, **fields) -> dict:
    return await created(api.http.post("/api/resolution-reasons", json={
        "workspace_id": workspace, "code": code, "labels": {"en": code.title(), "de": f"{code} (de)"}, **fields}))


async def resolve(api: ApiEnv, ticket: dict, **fields):
    return await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "resolved", "comment": "Solved", **fields})


async def test_a_workspace_lists_its_reasons_in_order_and_agents_read_them(api: ApiEnv, workspace: str) -> None:
    late = await reason(api, workspace, "late-delivery")
    broken = await reason(api, workspace, "broken-item")
    first = await reason(api, workspace, "wrong-size", position=0)
    listed = (await api.http.get("/api/resolution-reasons", params={"workspace": workspace})).json()
    assert [r["code"] for r in listed] == ["wrong-size", "late-delivery", "broken-item"]
    assert listed[1] == late and late["labels"] == {"en": "Late-Delivery", "de": "late-delivery (de)"}
    assert (first["position"], late["position"], broken["position"]) == (0, 1, 2)
    agent = api.headers_for(f"agent-{uuid.uuid4().hex[:6]}", role="agent")
    assert (await api.http.get("/api/resolution-reasons", params={"workspace": workspace}, headers=agent)).status_code == 200
    await refused(api.http.post("/api/resolution-reasons", headers=agent, json={
        "workspace_id": workspace, "code": "x", "labels": {"en": "X"}}), 403)
    await refused(api.http.post("/api/resolution-reasons", json={
        "workspace_id": workspace, "code": "late-delivery", "labels": {"en": "Again"}}), 409, "late-delivery")
    await refused(api.http.post("/api/resolution-reasons", json={
        "workspace_id": workspace, "code": "Not A Code", "labels": {"en": "X"}}), 422)
    await refused(api.http.patch(f"/api/resolution-reasons/{late['id']}", json={"code": "other"}), 422, "code")
    retired = (await api.http.patch(f"/api/resolution-reasons/{late['id']}", json={"retired": True})).json()
    assert retired["retired"] is True and retired["code"] == "late-delivery"


async def test_resolving_names_a_known_reason_when_the_workspace_requires_one(api: ApiEnv, workspace: str) -> None:
    await reason(api, workspace, "refund")
    retired = await reason(api, workspace, "old-cause")
    await api.http.patch(f"/api/resolution-reasons/{retired['id']}", json={"retired": True})
    answer = await api.http.patch(f"/api/workspaces/{workspace}", json={"resolution_reason_required": True})
    assert answer.status_code == 200 and answer.json()["resolution_reason_required"] is True
    ticket = await new_ticket(api, workspace)  # its policy is read now: the list and the requirement

    await refused(resolve(api, ticket), 422, "resolution reason is required")
    await refused(resolve(api, ticket, resolution_reason="no-such-cause"), 422, "no-such-cause")
    await refused(resolve(api, ticket, resolution_reason="old-cause"), 422, "old-cause")
    await refused(api.http.patch(f"/api/tickets/{ticket['id']}", json={
        "priority": "high", "resolution_reason": "refund", "comment": "x"}), 422, "resolution_reason")
    done = await resolve(api, ticket, resolution_reason="refund")
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["resolution_reason"]) == ("resolved", "refund")
    log = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["field"], e["old"], e["new"]) for e in log[-2:]] == [
        ("status", "new", "resolved"), ("resolution_reason", None, "refund")]
    # Reopened: the reason goes with it (logged).
    reopened = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "open", "comment": "Not yet"})
    assert reopened.status_code == 200 and reopened.json()["resolution_reason"] is None
    # A reply that resolves takes one too.
    await refused(api.http.post(f"/api/tickets/{ticket['id']}/replies",
                                json={"body": "All set now.", "status": "resolved"}), 422, "resolution reason")
    replied = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies", json={
        "body": "All set now.", "status": "resolved", "resolution_reason": "refund"}))
    assert replied["ticket"]["resolution_reason"] == "refund"


async def test_a_new_reason_reaches_running_tickets(api: ApiEnv, workspace: str) -> None:
    await reason(api, workspace, "refund")
    ticket = await new_ticket(api, workspace)
    await reason(api, workspace, "goodwill")  # rolled out to the running ticket

    async def accepted():
        answer = await resolve(api, ticket, resolution_reason="goodwill")
        assert answer.status_code in (200, 422), answer.text
        return answer if answer.status_code == 200 else None

    done = await eventually(accepted, "the new reason rolled out")
    assert done.json()["resolution_reason"] == "goodwill"
