"""The survey endpoints over real HTTP (the ASGI app), a real dev server and
worker, on SQLite and on PostgreSQL: every endpoint's success and its errors,
webhook secrets, and deleting a survey (not while responses are on record; its
escalation rules go with it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from store.models import SurveyResponse
from tests.api_fixtures import ApiEnv, created, new_segment, new_user, new_workspace, refused, unique


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
