"""Who may open a ticket where (issue 14, defect 6), through POST
/api/tickets: an admin in every segment, a manager in the segments they
manage, an agent in the segments they work in (their segment_managers
membership) and as the ticket's owner. A refusal is a 403 that says where
the caller may open tickets, in the reader's language.

Over real HTTP through the app, a real dev server and worker, on SQLite and
PostgreSQL (tests/api_fixtures.py)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Segment, SegmentManager, UserRole
from tests.api_fixtures import ApiEnv, created, name_in, refused, user_id_for


def agent_in(api: ApiEnv, workspace: str, *segments: str) -> dict[str, str]:
    """A new agent who works in `segments`; their request headers."""
    username = name_in(workspace, f"agent-{uuid.uuid4().hex[:4]}")
    user_id = user_id_for(api.engine, username, UserRole.AGENT)
    with Session(api.engine) as session, session.begin():
        for name in segments:
            segment_id = session.scalar(select(Segment.id).where(Segment.workspace_id == workspace, Segment.name == name))
            session.add(SegmentManager(segment_id=segment_id, user_id=user_id))
    return {"username": username, **api.headers_for(username, UserRole.AGENT)}


def ticket(workspace: str, segment: str, **fields) -> dict:
    return {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": segment,
            "comment": "Phoned in", **fields}


async def test_an_agent_opens_tickets_in_their_segments_and_owns_them(api: ApiEnv, workspace: str) -> None:
    agent = agent_in(api, workspace, "retail", "support")
    username = agent.pop("username")
    made = await created(api.http.post("/api/tickets", json=ticket(workspace, "retail"), headers=agent))
    assert (made["segment"], made["owner"]) == ("retail", username)
    # Theirs: they see what they made.
    assert (await api.http.get(f"/api/tickets/{made['id']}", headers=agent)).status_code == 200
    listed = (await api.http.get("/api/tickets", params={"workspace": workspace}, headers=agent)).json()["items"]
    assert [t["id"] for t in listed] == [made["id"]]
    # Naming themselves is the same; a segment in another case too.
    also = await created(api.http.post("/api/tickets", json=ticket(workspace, "Support", owner=username),
                                       headers=agent))
    assert (also["segment"], also["owner"]) == ("support", username)


async def test_an_agent_outside_their_segments_is_told_where_they_may_open_tickets(
    api: ApiEnv, workspace: str
) -> None:
    agent = agent_in(api, workspace, "retail", "support")
    agent.pop("username")
    detail = await refused(api.http.post("/api/tickets", json=ticket(workspace, "b2b"), headers=agent), 403)
    assert detail == "You can open tickets only in the segments you work in (retail, support), not in 'b2b'."
    german = await refused(api.http.post("/api/tickets", json=ticket(workspace, "b2b"),
                                         headers={**agent, "Accept-Language": "de"}), 403)
    assert german == ("Sie können Tickets nur in den Segmenten eröffnen, in denen Sie arbeiten (retail, support), "
                      "nicht in „b2b“.")


async def test_an_agent_in_no_segment_cannot_open_tickets(api: ApiEnv, workspace: str) -> None:
    agent = agent_in(api, workspace)
    agent.pop("username")
    detail = await refused(api.http.post("/api/tickets", json=ticket(workspace, "retail"), headers=agent), 403)
    assert detail == f"You work in no segment of workspace '{workspace}', so you cannot open tickets there."


async def test_an_agent_cannot_give_their_ticket_to_someone_else(api: ApiEnv, workspace: str) -> None:
    agent = agent_in(api, workspace, "retail")
    agent.pop("username")
    detail = await refused(api.http.post("/api/tickets", json=ticket(workspace, "retail",
                                                                     owner=name_in(workspace, "ann")),
                                         headers=agent), 403)
    assert detail == "As an agent, you own the tickets you open: leave the owner out, or name yourself."
    listed = (await api.http.get("/api/tickets", params={"workspace": workspace})).json()["items"]
    assert listed == []


async def test_a_manager_opens_tickets_in_the_segments_they_manage(api: ApiEnv, workspace: str) -> None:
    bob = api.headers_for(name_in(workspace, "bob"), UserRole.MANAGER)
    made = await created(api.http.post("/api/tickets", json=ticket(workspace, "b2b", owner=name_in(workspace, "cy")),
                                       headers=bob))
    assert (made["segment"], made["owner"]) == ("b2b", name_in(workspace, "cy"))
    detail = await refused(api.http.post("/api/tickets", json=ticket(workspace, "retail"), headers=bob), 403)
    assert detail == "You can open tickets only in the segments you work in (b2b), not in 'retail'."


async def test_an_admin_opens_tickets_in_any_segment(api: ApiEnv, workspace: str) -> None:
    for segment in ("retail", "b2b", "support"):
        made = await created(api.http.post("/api/tickets", json=ticket(workspace, segment)))
        assert made["segment"] == segment
