"""GET /api/customers/{email}/history (issue 15, "the customer's history"):
every ticket and survey response of one address within the caller's reach,
newest first, the address matched case-insensitively.

Over real HTTP through the app, a real dev server and worker, on SQLite and
PostgreSQL (tests/api_fixtures.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.api_fixtures import ApiEnv, cast_of, created, deliver, eventually, ticket_of

MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "segment": "hidden:segment"}


async def respond(api: ApiEnv, survey: dict, email: str, score: int, submitted_at: datetime) -> str:
    body = json.dumps({
        "response_id": uuid.uuid4().hex, "submitted_at": submitted_at.isoformat(),
        "answers": {"nps": score, "why": f"Scored {score}", "email": email},
        "hidden": {"segment": "retail"},
    }).encode()
    answer = await deliver(api, survey, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["response_id"]


async def test_each_role_sees_the_customers_history_within_reach(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    email = f"Lou.{uuid.uuid4().hex[:8]}@Example.com"

    async def ticket(**fields) -> dict:
        body = {"workspace_id": workspace, "customer_email": email, "comment": "by phone", **fields}
        return await created(api.http.post("/api/tickets", json=body))

    retail = await ticket(segment="retail")  # the manager's segment
    agents = await ticket(segment="b2b", owner=cast.agent)  # the agent's own
    b2b = await ticket(segment="b2b")  # neither's
    survey = await created(api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "field_mapping": MAPPING,
        "default_segment": "retail"}))
    now = datetime.now(UTC).replace(microsecond=0)
    detractor = await respond(api, survey, email.upper(), 2, now - timedelta(days=2))
    detractor_ticket = await ticket_of(api, detractor)  # intake made it, in retail
    promoter = await respond(api, survey, email.lower(), 10, now - timedelta(days=1))  # no ticket

    async def history_of(username: str, address: str = email) -> dict:
        answer = await api.http.get(f"/api/customers/{address}/history", headers=api.headers_for(username))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def both_responses_stored() -> dict | None:
        # Intake stores a response a moment after answering 202.
        found = await history_of(api.admin_username, email.swapcase())
        return found if len(found["responses"]) == 2 else None

    admin = await eventually(both_responses_stored, "both responses stored")
    # Newest first: the intake's ticket was made last, then b2b, agents, retail.
    assert [t["id"] for t in admin["tickets"]] == [detractor_ticket["id"], b2b["id"], agents["id"], retail["id"]]
    assert [r["id"] for r in admin["responses"]] == [promoter, detractor]
    assert admin["responses"][0]["ticket_id"] is None and admin["responses"][0]["score"] == 10
    assert admin["responses"][1]["ticket_id"] == detractor
    assert admin["responses"][1]["ticket_reference"] == detractor_ticket["reference"]
    assert admin["email"] == email.lower() and not admin["more_tickets"] and not admin["more_responses"]

    manager = await history_of(cast.manager)
    assert [t["id"] for t in manager["tickets"]] == [detractor_ticket["id"], retail["id"]]
    # The detractor's response is in reach through its ticket; the promoter's made none: the admin's alone.
    assert [r["id"] for r in manager["responses"]] == [detractor]

    agent = await history_of(cast.agent)
    assert [t["id"] for t in agent["tickets"]] == [agents["id"]]
    assert agent["responses"] == []

    # Bounded: the newest `limit`, and a flag that there are more.
    bounded = (await api.http.get(f"/api/customers/{email}/history", params={"limit": 2})).json()
    assert [t["id"] for t in bounded["tickets"]] == [detractor_ticket["id"], b2b["id"]]
    assert bounded["more_tickets"] and not bounded["more_responses"]


async def test_an_unknown_customer_has_an_empty_history(api: ApiEnv) -> None:
    answer = await api.http.get(f"/api/customers/nobody-{uuid.uuid4().hex}@example.com/history")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["tickets"], answer.json()["responses"]) == ([], [])


async def test_an_address_that_is_not_an_email_is_refused(api: ApiEnv) -> None:
    for wrong in ("not-an-email", "two@@example.com", "pat@localhost", "a b@example.com", "x" * 250 + "@example.com"):
        answer = await api.http.get(f"/api/customers/{wrong}/history")
        assert answer.status_code == 422, (wrong, answer.text)
        assert answer.json()["detail"]
    assert (await api.http.get("/api/customers/pat@example.com/history", params={"limit": 0})).status_code == 422
    anonymous = await api.http.get("/api/customers/pat@example.com/history", headers={"Authorization": ""})
    assert anonymous.status_code == 401
