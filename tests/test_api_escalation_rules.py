"""The escalation-rule endpoints over real HTTP (the ASGI app), a real dev server
and worker, on SQLite and on PostgreSQL: every endpoint's success and its
errors, and the enabled rules in the workspace's policy."""

from __future__ import annotations

from datetime import timedelta

from store.configuration import load_policy
from tests.api_fixtures import ApiEnv, created, new_segment, new_user, new_workspace, refused, rolled_out


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
