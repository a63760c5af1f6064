"""The configuration endpoints as a whole over real HTTP (the ASGI app), a real dev
server and worker, on SQLite and on PostgreSQL: no endpoint answers 500, neither
to requests that race past each other's checks nor to bad input.

Each kind of configuration has a file of its own: tests/test_api_workspaces.py,
tests/test_api_users.py, tests/test_api_segments.py (managers, calendars),
tests/test_api_surveys.py, tests/test_api_escalation_rules.py; configuration
changes reaching tickets that already exist are in tests/test_rollout.py."""

from __future__ import annotations

import asyncio

from tests.api_fixtures import ApiEnv, new_user, new_workspace, unique


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
