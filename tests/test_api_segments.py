"""The segment endpoints and their managers over real HTTP (the ASGI app), a real
dev server and worker, on SQLite and on PostgreSQL: every endpoint's success and
its errors, assignment modes, calendars stored the way the ticket workflows read
them, and a segment with live tickets keeping its name."""

from __future__ import annotations

from sqlalchemy.orm import Session

from domain.calendar import BusinessCalendar
from store.configuration import load_policy, segment_calendar
from store.models import Segment
from tests.api_fixtures import ApiEnv, created, new_segment, new_user, new_workspace, refused, rolled_out


CALENDAR = {
    "time_zone": "Europe/Paris",
    "working_hours": {
        "0": [["09:00", "12:30"], ["13:30", "17:30"]],
        "2": [["09:00", "17:00"]],
        "4": [["22:00", "24:00"]],
    },
    "holidays": ["2025-12-25", "2026-01-01"],
}


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
