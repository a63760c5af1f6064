"""The user endpoints over real HTTP (the ASGI app), a real dev server and worker,
on SQLite and on PostgreSQL: every endpoint's success and its errors, and what
deleting a user does to the segments and escalation rules that name them."""

from __future__ import annotations

from store.configuration import load_policy
from tests.api_fixtures import ApiEnv, created, new_segment, new_user, new_workspace, refused, unique


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


async def test_deactivating_a_user(api: ApiEnv) -> None:
    """A deactivated user signs in no more, their tokens are refused, and they
    manage no segment; brought back, their tokens work again."""
    workspace_id = await new_workspace(api)
    ann = await new_user(api, "ann")
    await new_segment(api, workspace_id, "retail", ann)
    [user] = [u for u in (await api.http.get("/api/users")).json() if u["username"] == ann]
    assert user["active"] is True and user["deactivated_at"] is None
    ann_headers = api.headers_for(ann)
    assert (await api.http.get("/api/me", headers=ann_headers)).status_code == 200

    response = await api.http.patch(f"/api/users/{user['id']}", json={"active": False})
    assert response.status_code == 200, response.text
    assert response.json()["active"] is False and response.json()["deactivated_at"]
    await refused(api.http.get("/api/me", headers=ann_headers), 401)
    [segment] = (await api.http.get("/api/segments", params={"workspace": workspace_id})).json()
    assert segment["managers"] == []
    assert load_policy(api.engine, workspace_id).segment_managers["retail"] == []
    await refused(
        api.http.put(f"/api/segments/{segment['id']}/managers", json=[{"username": ann}]), 422, ann, "deactivated"
    )

    await refused(api.http.post(
        "/api/escalation-rules", json={"workspace_id": workspace_id, "after_seconds": 60, "assignee": ann}
    ), 422, f"assignee '{ann}' is deactivated")

    response = await api.http.patch(f"/api/users/{user['id']}", json={"active": True})
    assert response.status_code == 200 and response.json()["active"] is True
    assert (await api.http.get("/api/me", headers=ann_headers)).status_code == 200

    # Not while escalation rules escalate to them; not oneself; never null.
    await created(api.http.post(
        "/api/escalation-rules", json={"workspace_id": workspace_id, "after_seconds": 60, "assignee": ann}
    ))
    await refused(api.http.patch(f"/api/users/{user['id']}", json={"active": False}), 409, "escalation rule")
    me = (await api.http.get("/api/me")).json()
    await refused(api.http.patch(f"/api/users/{me['id']}", json={"active": False}), 422, "yourself")
    await refused(api.http.patch(f"/api/users/{user['id']}", json={"active": None}), 422, "cannot be null")
