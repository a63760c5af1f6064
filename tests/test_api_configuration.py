"""The configuration endpoints over real HTTP (the ASGI app), a real dev server
and worker, on SQLite and on PostgreSQL: every endpoint's success and its
errors, calendars stored the way the ticket workflows read them, and
configuration changes reaching tickets that already exist."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from temporalio.client import WorkflowExecutionStatus

from domain.calendar import BusinessCalendar
from store.configuration import load_policy, segment_calendar
from store.models import Segment, SurveyResponse
from tests.api_fixtures import ApiEnv, created, eventually, new_ticket, refused, unique
from workflows.rollout import rollout_workflow_id

CALENDAR = {
    "time_zone": "Europe/Paris",
    "working_hours": {
        "0": [["09:00", "12:30"], ["13:30", "17:30"]],
        "2": [["09:00", "17:00"]],
        "4": [["22:00", "24:00"]],
    },
    "holidays": ["2025-12-25", "2026-01-01"],
}


async def new_workspace(api: ApiEnv) -> str:
    workspace_id = unique("cfg")
    body = await created(
        api.http.post("/api/workspaces", json={"id": workspace_id, "name": f"Test {workspace_id}"})
    )
    return body["id"]


async def new_user(api: ApiEnv, name: str, role: str = "manager") -> str:
    username = unique(name)
    body = {"username": username, "email": f"{name}@example.com", "role": role}
    await created(api.http.post("/api/users", json=body))
    return username


async def new_segment(api: ApiEnv, workspace_id: str, name: str, *managers: str, **fields: Any) -> dict:
    body = {
        "workspace_id": workspace_id,
        "name": name,
        "managers": [{"username": m} for m in managers],
        **fields,
    }
    return await created(api.http.post("/api/segments", json=body))


async def ticket(api: ApiEnv, ticket_id: str) -> dict:
    response = await api.http.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def rolled_out(api: ApiEnv, workspace_id: str) -> None:
    """The workspace's roll-out workflow exists: the change was handed to Temporal."""
    description = await api.temporal.get_workflow_handle(rollout_workflow_id(workspace_id)).describe()
    assert description.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)


# --- workspaces ----------------------------------------------------------------------


async def test_workspaces(api: ApiEnv) -> None:
    workspace_id = unique("ws")
    body = await created(api.http.post("/api/workspaces", json={"id": workspace_id, "name": "ACME Europe"}))
    assert body == {"id": workspace_id, "name": "ACME Europe"}
    generated = await created(api.http.post("/api/workspaces", json={"name": "  Unnamed  "}))
    assert generated["id"] and generated["name"] == "Unnamed"

    listed = (await api.http.get("/api/workspaces")).json()
    assert body in listed and generated in listed
    assert (await api.http.get(f"/api/workspaces/{workspace_id}")).json() == body
    response = await api.http.patch(f"/api/workspaces/{workspace_id}", json={"name": "ACME EMEA"})
    assert response.status_code == 200 and response.json() == {"id": workspace_id, "name": "ACME EMEA"}

    await refused(
        api.http.post("/api/workspaces", json={"id": workspace_id, "name": "again"}), 409, "already exists"
    )
    for bad in (
        {"id": "Not A Slug", "name": "x"},
        {"id": "", "name": "x"},
        {"name": ""},
        {},
        {"name": "x", "extra": 1},
        {"name": "bell\x07"},
    ):
        await refused(api.http.post("/api/workspaces", json=bad), 422)
    await refused(
        api.http.patch(f"/api/workspaces/{workspace_id}", json={"id": "other"}), 422, "id cannot be changed"
    )
    await refused(
        api.http.patch(f"/api/workspaces/{workspace_id}", json={"name": None}), 422, "name cannot be null"
    )
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        await refused(
            api.http.request(method, "/api/workspaces/nope", json=body), 404, "workspace 'nope' not found"
        )

    # Not while it has configuration in it.
    await new_segment(api, workspace_id, "retail")
    survey = await created(api.http.post("/api/surveys", json={"workspace_id": workspace_id, "name": "NPS"}))
    await refused(api.http.delete(f"/api/workspaces/{workspace_id}"), 409, "1 segments", "1 surveys")
    segment_id = (await api.http.get("/api/segments", params={"workspace": workspace_id})).json()[0]["id"]
    assert (await api.http.delete(f"/api/segments/{segment_id}")).status_code == 204
    assert (await api.http.delete(f"/api/surveys/{survey['id']}")).status_code == 204
    response = await api.http.delete(f"/api/workspaces/{workspace_id}")
    assert response.status_code == 204 and response.content == b""
    await refused(api.http.get(f"/api/workspaces/{workspace_id}"), 404)


# --- users ---------------------------------------------------------------------------


async def test_users(api: ApiEnv) -> None:
    username = unique("ann")
    body = {
        "username": username,
        "email": "ann@example.com",
        "display_name": "Ann Lee",
        "role": "manager",
        "locale": "fr-FR",
        "time_zone": "Europe/Paris",
    }
    user = await created(api.http.post("/api/users", json=body))
    assert {k: user[k] for k in body} == body and user["id"]
    assert "password_hash" not in user
    assert user in (await api.http.get("/api/users")).json()
    assert (await api.http.get(f"/api/users/{user['id']}")).json() == user
    minimal = await created(
        api.http.post(
            "/api/users", json={"username": unique("bo"), "email": "b@example.com", "role": "agent"}
        )
    )
    assert (minimal["locale"], minimal["time_zone"], minimal["display_name"]) == ("en", "UTC", None)

    response = await api.http.patch(
        f"/api/users/{user['id']}",
        json={"role": "admin", "display_name": None, "time_zone": "America/New_York"},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["role"], changed["display_name"], changed["time_zone"], changed["username"]) == (
        "admin",
        None,
        "America/New_York",
        username,
    )
    assert "password_hash" not in changed

    await refused(api.http.post("/api/users", json={**body, "email": "other@example.com"}), 409, "taken")
    for field, value in (
        ("email", "not-an-email"),
        ("role", "owner"),
        ("time_zone", "Mars/Olympus"),
        ("username", "has space"),
        ("username", ""),
        ("locale", "english please"),
        ("password_hash", "x"),
    ):
        await refused(
            api.http.post("/api/users", json={**body, "username": unique("x"), field: value}), 422, field
        )
    await refused(
        api.http.patch(f"/api/users/{user['id']}", json={"username": "renamed"}),
        422,
        "username cannot be changed",
    )
    await refused(api.http.patch(f"/api/users/{user['id']}", json={"role": None}), 422, "role cannot be null")
    for method, payload in (("GET", None), ("PATCH", {"role": "agent"}), ("DELETE", None)):
        await refused(api.http.request(method, "/api/users/nope", json=payload), 404, "user 'nope' not found")

    response = await api.http.delete(f"/api/users/{minimal['id']}")
    assert response.status_code == 204
    await refused(api.http.get(f"/api/users/{minimal['id']}"), 404)


async def test_deleting_a_user(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann, bob = await new_user(api, "ann"), await new_user(api, "bob")
    segment = await new_segment(api, workspace_id, "retail", ann, bob)
    users = {u["username"]: u["id"] for u in (await api.http.get("/api/users")).json()}
    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={"workspace_id": workspace_id, "after_seconds": 3600, "assignee": bob},
        )
    )

    # Rules escalate to bob: he stays until they change.
    await refused(api.http.delete(f"/api/users/{users[bob]}"), 409, "assignee", rule["id"])
    # Ann goes, and with her, her place among the segment's managers.
    assert (await api.http.delete(f"/api/users/{users[ann]}")).status_code == 204
    managers = (await api.http.get(f"/api/segments/{segment['id']}")).json()["managers"]
    assert [m["username"] for m in managers] == [bob]
    assert load_policy(api.engine, workspace_id).segment_managers == {"retail": [bob]}


# --- segments ------------------------------------------------------------------------


async def test_segments(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann, bob, cy = await new_user(api, "ann"), await new_user(api, "bob"), await new_user(api, "cy")
    body = {
        "workspace_id": workspace_id,
        "name": "retail",
        "managers": [{"username": ann}, {"username": bob, "available": False, "max_open_tickets": 20}],
    }
    segment = await created(api.http.post("/api/segments", json=body))
    assert segment["managers"] == [
        {"username": ann, "available": True, "max_open_tickets": None},
        {"username": bob, "available": False, "max_open_tickets": 20},
    ]
    assert segment["calendar"] is None and segment["workspace_id"] == workspace_id
    assert segment["assignment_mode"] == "single_manager"
    await rolled_out(api, workspace_id)
    assert (await api.http.get(f"/api/segments/{segment['id']}")).json() == segment
    other = await new_segment(api, workspace_id, "b2b")
    assert other["managers"] == []
    listed = (await api.http.get("/api/segments", params={"workspace": workspace_id})).json()
    assert [s["name"] for s in listed] == ["b2b", "retail"]
    assert segment in (await api.http.get("/api/segments")).json()
    await refused(
        api.http.get("/api/segments", params={"workspace": "nope"}), 404, "workspace 'nope' not found"
    )

    # Replace the managers: a list, or an object holding one.
    response = await api.http.put(f"/api/segments/{segment['id']}/managers", json=[{"username": cy}])
    assert response.status_code == 200, response.text
    assert [m["username"] for m in response.json()["managers"]] == [cy]
    response = await api.http.put(
        f"/api/segments/{segment['id']}/managers",
        json={"managers": [{"username": cy, "max_open_tickets": 5}, {"username": ann}]},
    )
    assert response.status_code == 200, response.text
    assert [(m["username"], m["max_open_tickets"]) for m in response.json()["managers"]] == sorted(
        [(cy, 5), (ann, None)]
    )
    assert load_policy(api.engine, workspace_id).segment_managers == {"b2b": [], "retail": sorted([ann, cy])}

    # PATCH: managers and name.
    response = await api.http.patch(
        f"/api/segments/{other['id']}", json={"managers": [{"username": bob}], "name": "business"}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], [m["username"] for m in response.json()["managers"]]) == (
        "business",
        [bob],
    )

    # Refusals.
    await refused(
        api.http.post("/api/segments", json={**body, "managers": []}), 409, "already has a segment 'retail'"
    )
    await refused(api.http.patch(f"/api/segments/{other['id']}", json={"name": "retail"}), 409, "already has")
    await refused(
        api.http.post(
            "/api/segments",
            json={
                **body,
                "name": "x",
                "managers": [{"username": "ghost-1"}, {"username": ann}, {"username": "ghost-2"}],
            },
        ),
        422,
        "ghost-1",
        "ghost-2",
    )
    await refused(
        api.http.put(f"/api/segments/{segment['id']}/managers", json=[{"username": "ghost-3"}]),
        422,
        "unknown username(s): ghost-3",
    )
    await refused(
        api.http.put(f"/api/segments/{segment['id']}/managers", json=[{"username": ann}, {"username": ann}]),
        422,
        "more than once",
    )
    await refused(
        api.http.post("/api/segments", json={**body, "name": "x", "workspace_id": "nope"}),
        422,
        "workspace 'nope' not found",
    )
    for bad in (
        {"name": ""},
        {"name": None},
        {"managers": [{"username": ann, "max_open_tickets": -1}]},
        {"managers": [{"username": ann, "max_open_tickets": 2**40}]},
        {"managers": "ann"},
        {"managers": [{"username": ann, "boss": True}]},
        {"colour": "red"},
    ):
        await refused(api.http.post("/api/segments", json={**body, "name": "new", **bad}), 422)
    await refused(
        api.http.patch(f"/api/segments/{segment['id']}", json={"workspace_id": "x"}),
        422,
        "workspace_id cannot be changed",
    )
    await refused(
        api.http.patch(f"/api/segments/{segment['id']}", json={"managers": None}), 422, "cannot be null"
    )
    await refused(api.http.put(f"/api/segments/{segment['id']}/managers", json={"username": ann}), 422)
    for method, path, payload in (
        ("GET", "", None),
        ("PATCH", "", {"name": "x"}),
        ("DELETE", "", None),
        ("PUT", "/managers", []),
    ):
        await refused(
            api.http.request(method, f"/api/segments/nope{path}", json=payload),
            404,
            "segment 'nope' not found",
        )

    # Assignment mode.
    response = await api.http.patch(f"/api/segments/{other['id']}", json={"assignment_mode": "round_robin"})
    assert response.status_code == 200 and response.json()["assignment_mode"] == "round_robin"
    least = await new_segment(api, workspace_id, "vip", assignment_mode="least_loaded")
    assert least["assignment_mode"] == "least_loaded"
    await refused(
        api.http.post("/api/segments", json={**body, "name": "y", "assignment_mode": "lottery"}), 422
    )
    await refused(api.http.patch(f"/api/segments/{other['id']}", json={"assignment_mode": None}), 422, "null")

    # Delete: not while a survey or a rule names it.
    survey = await created(
        api.http.post(
            "/api/surveys", json={"workspace_id": workspace_id, "name": "NPS", "default_segment": "business"}
        )
    )
    await refused(api.http.delete(f"/api/segments/{other['id']}"), 409, survey["id"])
    response = await api.http.patch(f"/api/surveys/{survey['id']}", json={"default_segment": None})
    assert response.status_code == 200 and response.json()["default_segment"] is None
    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={"workspace_id": workspace_id, "segment": "business", "after_seconds": 60, "assignee": bob},
        )
    )
    await refused(api.http.delete(f"/api/segments/{other['id']}"), 409, rule["id"])
    assert (await api.http.delete(f"/api/escalation-rules/{rule['id']}")).status_code == 204
    assert (await api.http.delete(f"/api/segments/{other['id']}")).status_code == 204
    await refused(api.http.get(f"/api/segments/{other['id']}"), 404)
    assert list(load_policy(api.engine, workspace_id).segment_managers) == ["retail", "vip"]


async def test_calendar_round_trip(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    segment = await new_segment(api, workspace_id, "retail", calendar=CALENDAR)
    expected = BusinessCalendar.model_validate(CALENDAR)
    # Answered in BusinessCalendar's JSON form; "24:00" is midnight at the end of the day.
    assert segment["calendar"] == {
        "time_zone": "Europe/Paris",
        "working_hours": {
            "0": [["09:00:00", "12:30:00"], ["13:30:00", "17:30:00"]],
            "2": [["09:00:00", "17:00:00"]],
            "4": [["22:00:00", "00:00:00"]],
        },
        "holidays": ["2025-12-25", "2026-01-01"],
    }
    assert BusinessCalendar.model_validate(segment["calendar"]) == expected
    assert (await api.http.get(f"/api/segments/{segment['id']}")).json() == segment
    # Stored where the ticket workflows read it.
    with Session(api.engine) as session:
        assert segment_calendar(session.get(Segment, segment["id"])) == expected
    assert load_policy(api.engine, workspace_id).segment_calendars == {"retail": expected}

    # A calendar of only a time zone works the default Monday-Friday 09:00-17:00.
    response = await api.http.patch(
        f"/api/segments/{segment['id']}", json={"calendar": {"time_zone": "Asia/Tokyo"}}
    )
    assert response.status_code == 200, response.text
    calendar = response.json()["calendar"]
    assert calendar["time_zone"] == "Asia/Tokyo" and sorted(calendar["working_hours"]) == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    assert calendar["holidays"] == []
    assert load_policy(api.engine, workspace_id).segment_calendars["retail"].time_zone == "Asia/Tokyo"
    # A PATCH without calendar keeps it; calendar: null works around the clock.
    response = await api.http.patch(f"/api/segments/{segment['id']}", json={"managers": []})
    assert response.json()["calendar"] == calendar
    response = await api.http.patch(f"/api/segments/{segment['id']}", json={"calendar": None})
    assert response.status_code == 200 and response.json()["calendar"] is None
    with Session(api.engine) as session:
        row = session.get(Segment, segment["id"])
        assert (row.time_zone, row.working_hours, row.holidays) == (None, None, None)
    assert load_policy(api.engine, workspace_id).segment_calendars == {}

    for bad in (
        {"time_zone": "Mars/Olympus"},
        {"working_hours": {"7": [["09:00", "17:00"]]}},
        {"working_hours": {"0": [["09:00", "17:00"], ["16:00", "18:00"]]}},
        {"working_hours": {"0": [["17:00", "09:00"]]}},
        {"working_hours": {"0": []}},
        {"working_hours": {"monday": [["09:00", "17:00"]]}},
        {"holidays": ["tomorrow"]},
    ):
        calendar = {**CALENDAR, **bad}
        await refused(api.http.patch(f"/api/segments/{segment['id']}", json={"calendar": calendar}), 422)
        await refused(
            api.http.post(
                "/api/segments", json={"workspace_id": workspace_id, "name": "other", "calendar": calendar}
            ),
            422,
        )
    assert (await api.http.get(f"/api/segments/{segment['id']}")).json()["calendar"] is None


async def test_segment_with_live_tickets_keeps_its_name(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann = await new_user(api, "ann")
    retail = await new_segment(api, workspace_id, "retail", ann)
    support = await new_segment(api, workspace_id, "support", ann)
    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={"workspace_id": workspace_id, "segment": "support", "after_seconds": 3600, "assignee": ann},
        )
    )
    created_ticket = await created(
        api.http.post(
            "/api/tickets",
            json={
                "workspace_id": workspace_id,
                "customer_email": "pat@example.com",
                "segment": "retail",
                "comment": "x",
            },
        )
    )

    await refused(api.http.patch(f"/api/segments/{retail['id']}", json={"name": "shops"}), 409, "1 ticket(s)")
    await refused(api.http.delete(f"/api/segments/{retail['id']}"), 409, "1 ticket(s)")
    # A rename of a segment without tickets carries the rules and surveys along.
    survey = await created(
        api.http.post(
            "/api/surveys", json={"workspace_id": workspace_id, "name": "NPS", "default_segment": "support"}
        )
    )
    response = await api.http.patch(f"/api/segments/{support['id']}", json={"name": "care"})
    assert response.status_code == 200, response.text
    assert (await api.http.get(f"/api/escalation-rules/{rule['id']}")).json()["segment"] == "care"
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json()["default_segment"] == "care"
    # A closed ticket no longer holds the segment.
    for status in ("resolved", "closed"):
        response = await api.http.patch(f"/api/tickets/{created_ticket['id']}", json={"status": status, "comment": "done"})
        assert response.status_code == 200, response.text
    response = await api.http.patch(f"/api/segments/{retail['id']}", json={"name": "shops"})
    assert response.status_code == 200 and response.json()["name"] == "shops"


# --- surveys -------------------------------------------------------------------------


async def test_surveys(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    await new_segment(api, workspace_id, "retail")
    await new_segment(api, workspace_id, "b2b")
    body = {
        "workspace_id": workspace_id,
        "name": "Post-delivery NPS",
        "adapter": "typeform",
        "field_mapping": {"q_nps": "score", "q_email": "customer_email"},
        "default_segment": "retail",
    }
    survey = await created(api.http.post("/api/surveys", json=body))
    assert {k: survey[k] for k in body} == body
    assert len(survey["webhook_secret"]) >= 32
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json() == survey
    plain = await created(api.http.post("/api/surveys", json={"workspace_id": workspace_id, "name": "CSAT"}))
    assert (plain["adapter"], plain["field_mapping"], plain["default_segment"]) == ("cxloop", None, None)
    assert plain["webhook_secret"] != survey["webhook_secret"]
    listed = (await api.http.get("/api/surveys", params={"workspace": workspace_id})).json()
    assert [s["name"] for s in listed] == ["CSAT", "Post-delivery NPS"]
    assert all("webhook_secret" not in s for s in listed)
    assert {s["id"] for s in (await api.http.get("/api/surveys")).json()} >= {survey["id"], plain["id"]}

    response = await api.http.patch(
        f"/api/surveys/{survey['id']}", json={"name": "NPS v2", "field_mapping": None}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["field_mapping"], response.json()["adapter"]) == (
        "NPS v2",
        None,
        "typeform",
    )
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json()["webhook_secret"] == survey[
        "webhook_secret"
    ]

    await refused(
        api.http.post("/api/surveys", json={**body, "workspace_id": "nope"}), 422, "workspace 'nope'"
    )
    response = await api.http.patch(f"/api/surveys/{survey['id']}", json={"default_segment": "b2b"})
    assert response.status_code == 200 and response.json()["default_segment"] == "b2b"
    await refused(
        api.http.post("/api/surveys", json={**body, "default_segment": "atlantis"}),
        422,
        "default segment 'atlantis' is not a segment",
    )
    await refused(api.http.patch(f"/api/surveys/{survey['id']}", json={"default_segment": "atlantis"}), 422)
    for bad in (
        {"adapter": "surveymonkey"},
        {"field_mapping": ["q1"]},
        {"name": ""},
        {"webhook_secret": "mine"},
    ):
        await refused(api.http.post("/api/surveys", json={**body, **bad}), 422)
    await refused(
        api.http.patch(f"/api/surveys/{survey['id']}", json={"webhook_secret": "x"}), 422, "cannot be changed"
    )
    await refused(
        api.http.patch(f"/api/surveys/{survey['id']}", json={"adapter": None}), 422, "cannot be null"
    )
    await refused(api.http.get("/api/surveys", params={"workspace": "nope"}), 404)
    for method, payload in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        await refused(
            api.http.request(method, "/api/surveys/nope", json=payload), 404, "survey 'nope' not found"
        )

    # Responses on record keep a survey; its rules go with it.
    with Session(api.engine) as session, session.begin():
        session.add(
            SurveyResponse(
                id=unique("response"),
                survey_id=plain["id"],
                received_at=datetime.now(UTC),
                payload={"score": 3},
                score=3,
            )
        )
    await refused(api.http.delete(f"/api/surveys/{plain['id']}"), 409, "1 response(s)")
    ann = await new_user(api, "ann")
    rule = await created(
        api.http.post(
            "/api/escalation-rules",
            json={
                "workspace_id": workspace_id,
                "survey_id": survey["id"],
                "after_seconds": 60,
                "assignee": ann,
            },
        )
    )
    assert (await api.http.delete(f"/api/surveys/{survey['id']}")).status_code == 204
    await refused(api.http.get(f"/api/surveys/{survey['id']}"), 404)
    await refused(api.http.get(f"/api/escalation-rules/{rule['id']}"), 404)


# --- escalation rules ------------------------------------------------------------------


async def test_escalation_rules(api: ApiEnv) -> None:
    workspace_id, elsewhere = await new_workspace(api), await new_workspace(api)
    ann, boss = await new_user(api, "ann"), await new_user(api, "boss")
    await new_segment(api, workspace_id, "retail", ann)
    survey = await created(api.http.post("/api/surveys", json={"workspace_id": workspace_id, "name": "NPS"}))
    foreign = await created(api.http.post("/api/surveys", json={"workspace_id": elsewhere, "name": "NPS"}))

    body = {
        "workspace_id": workspace_id,
        "name": "Detractors to the boss",
        "survey_id": survey["id"],
        "segment": "retail",
        "after": "PT4H",
        "business_hours": True,
        "assignee": boss,
    }
    rule = await created(api.http.post("/api/escalation-rules", json=body))
    assert rule == {
        "id": rule["id"],
        "workspace_id": workspace_id,
        "name": "Detractors to the boss",
        "survey_id": survey["id"],
        "segment": "retail",
        "after_seconds": 4 * 3600,
        "after": "PT4H",
        "business_hours": True,
        "assignee": boss,
        "enabled": True,
    }
    await rolled_out(api, workspace_id)
    minimal = await created(
        api.http.post(
            "/api/escalation-rules", json={"workspace_id": workspace_id, "after_seconds": 90, "assignee": ann}
        )
    )
    assert (
        minimal["name"],
        minimal["survey_id"],
        minimal["segment"],
        minimal["after"],
        minimal["business_hours"],
        minimal["enabled"],
    ) == ("", None, None, "PT1M30S", False, True)
    assert (await api.http.get(f"/api/escalation-rules/{rule['id']}")).json() == rule
    listed = (await api.http.get("/api/escalation-rules", params={"workspace": workspace_id})).json()
    assert [r["id"] for r in listed] == [minimal["id"], rule["id"]]  # shortest wait first
    assert {r["id"] for r in (await api.http.get("/api/escalation-rules")).json()} >= {
        rule["id"],
        minimal["id"],
    }
    policy_rules = load_policy(api.engine, workspace_id).escalation_rules
    assert {(r.id, r.after) for r in policy_rules} == {
        (rule["id"], timedelta(hours=4)),
        (minimal["id"], timedelta(seconds=90)),
    }

    response = await api.http.patch(
        f"/api/escalation-rules/{rule['id']}",
        json={"enabled": False, "after_seconds": 7200, "survey_id": None, "segment": None},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["enabled"], changed["after"], changed["survey_id"], changed["segment"]) == (
        False,
        "PT2H",
        None,
        None,
    )
    assert [r.id for r in load_policy(api.engine, workspace_id).escalation_rules] == [minimal["id"]]
    response = await api.http.patch(
        f"/api/escalation-rules/{rule['id']}", json={"after": "P1D", "assignee": ann}
    )
    assert response.status_code == 200 and response.json()["after_seconds"] == 86400

    # Refusals: what the rule names must exist, in its workspace.
    for bad, fragment in (
        ({"survey_id": foreign["id"]}, f"survey '{foreign['id']}' is not a survey of workspace"),
        ({"survey_id": "nope"}, "survey 'nope'"),
        ({"segment": "atlantis"}, "segment 'atlantis' is not a segment"),
        ({"assignee": "ghost"}, "assignee 'ghost' is not a known username"),
        ({"workspace_id": "nope"}, "workspace 'nope' not found"),
    ):
        await refused(api.http.post("/api/escalation-rules", json={**body, **bad}), 422, fragment)
    await refused(
        api.http.patch(f"/api/escalation-rules/{rule['id']}", json={"assignee": "ghost"}), 422, "ghost"
    )
    await refused(
        api.http.patch(f"/api/escalation-rules/{rule['id']}", json={"segment": "atlantis"}), 422, "atlantis"
    )
    without_wait = {k: v for k, v in body.items() if k != "after"}
    for bad in (
        {"after_seconds": 0},
        {"after_seconds": -5},
        {"after_seconds": 2**40},
        {"after": "PT0S"},
        {"after": "-PT1H"},
        {"after": "PT0.5S"},
        {"after": "four hours"},
        {"after_seconds": 60, "after": "PT1M"},
        {},
        {"after": None},
        {"after_seconds": "soon"},
    ):
        await refused(api.http.post("/api/escalation-rules", json={**without_wait, **bad}), 422)
    for bad in ({"enabled": "maybe"}, {"assignee": ""}, {"extra": 1}):
        await refused(api.http.post("/api/escalation-rules", json={**body, **bad}), 422)
    for bad, fragment in (
        ({"workspace_id": elsewhere}, "workspace_id cannot be changed"),
        ({"enabled": None}, "enabled cannot be null"),
        ({"after_seconds": 0}, "after_seconds"),
        ({"after": "PT1H", "after_seconds": 60}, "not both"),
    ):
        await refused(api.http.patch(f"/api/escalation-rules/{rule['id']}", json=bad), 422, fragment)
    for method, payload in (("GET", None), ("PATCH", {"enabled": True}), ("DELETE", None)):
        await refused(
            api.http.request(method, "/api/escalation-rules/nope", json=payload),
            404,
            "escalation rule 'nope' not found",
        )
    await refused(api.http.get("/api/escalation-rules", params={"workspace": "nope"}), 404)

    assert (await api.http.delete(f"/api/escalation-rules/{rule['id']}")).status_code == 204
    await refused(api.http.get(f"/api/escalation-rules/{rule['id']}"), 404)
    assert [r.id for r in load_policy(api.engine, workspace_id).escalation_rules] == [minimal["id"]]


# --- never a 500 -------------------------------------------------------------------------


async def test_concurrent_duplicates_are_409_not_500(api: ApiEnv) -> None:
    """Requests that race past each other's checks meet the database's unique
    constraints, which answer 409 too."""
    workspace_id = await new_workspace(api)
    username = unique("twin")
    answers = await asyncio.gather(
        *(
            api.http.post(
                "/api/users", json={"username": username, "email": "t@example.com", "role": "agent"}
            )
            for _ in range(8)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    answers = await asyncio.gather(
        *(
            api.http.post("/api/segments", json={"workspace_id": workspace_id, "name": "retail"})
            for _ in range(8)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7, [a.text for a in answers]
    assert all("detail" in a.json() for a in answers if a.status_code == 409)


async def test_bad_input_is_never_a_500(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    ann = await new_user(api, "ann")
    posts = {
        "/api/workspaces": {"name": "x\x00y"},
        "/api/users": {"username": "nul\x00", "email": "a@example.com", "role": "agent"},
        "/api/segments": {"workspace_id": workspace_id, "name": "x", "managers": [{"username": "a\x00"}]},
        "/api/surveys": {"workspace_id": workspace_id, "name": "x", "field_mapping": {"q": "a\x00b"}},
        "/api/escalation-rules": {
            "workspace_id": workspace_id,
            "after_seconds": 1,
            "assignee": ann,
            "segment": "\x00",
        },
    }
    for path, body in posts.items():
        response = await api.http.post(path, json=body)
        assert response.status_code == 422 and "detail" in response.json(), (path, response.text)
        response = await api.http.post(
            path, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
    for resource in ("workspaces", "users", "segments", "surveys", "escalation-rules"):
        response = await api.http.get(f"/api/{resource}/nul%00id")
        assert response.status_code == 404, (resource, response.text)
        response = await api.http.patch(f"/api/{resource}/nul%00id", json={})
        assert response.status_code in (404, 422), (resource, response.text)
    response = await api.http.get("/api/segments", params={"workspace": "nul\x00"})
    assert response.status_code == 404, response.text


# --- configuration reaches the tickets ------------------------------------------------------


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
