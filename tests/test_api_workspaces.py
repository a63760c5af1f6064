"""The workspace endpoints over real HTTP (the ASGI app), a real dev server and
worker, on SQLite and on PostgreSQL: every endpoint's success and its errors,
and no deleting a workspace while it holds configuration."""

from __future__ import annotations

from tests.api_fixtures import ApiEnv, created, new_segment, refused, unique


async def test_workspaces(api: ApiEnv) -> None:
    workspace_id = unique("ws")
    body = await created(api.http.post("/api/workspaces", json={"id": workspace_id, "name": "ACME Europe"}))
    # A new workspace writes to customers in English, dates in UTC, from the
    # server's default sender (tests/test_customer_locale.py changes these).
    mail_defaults = {"default_locale": "en", "time_zone": "UTC", "mail_sender_name": None,
                     "mail_sender_address": None, "mail_reply_to": None, "mail_signature": None,
                     # Resolving needs no resolution reason (tests/test_resolution_reasons.py).
                     "resolution_reason_required": False}
    assert body == {"id": workspace_id, "name": "ACME Europe", **mail_defaults}
    generated = await created(api.http.post("/api/workspaces", json={"name": "  Unnamed  "}))
    assert generated["id"] and generated["name"] == "Unnamed"

    listed = (await api.http.get("/api/workspaces")).json()
    assert body in listed and generated in listed
    assert (await api.http.get(f"/api/workspaces/{workspace_id}")).json() == body
    response = await api.http.patch(f"/api/workspaces/{workspace_id}", json={"name": "ACME EMEA"})
    assert response.status_code == 200
    assert response.json() == {"id": workspace_id, "name": "ACME EMEA", **mail_defaults}

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
