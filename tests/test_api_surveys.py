"""The survey endpoints over real HTTP (the ASGI app), a real dev server and
worker, on SQLite and on PostgreSQL: every endpoint's success and its errors,
field mappings checked when saved, the default mapping, webhook secrets and
their rotation, the signed test response, and deleting a survey (not while
responses are on record; its escalation rules go with it)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from api.intake.adapters import sign_cxloop
from store.models import SurveyResponse
from tests.api_fixtures import (
    ApiEnv,
    created,
    eventually,
    name_in,
    new_segment,
    new_user,
    new_workspace,
    refused,
    unique,
)

MAPPING = {"score": "q_nps", "comment": "q_why", "customer_email": "hidden:email", "segment": "hidden:segment"}


async def test_surveys(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    await new_segment(api, workspace_id, "retail")
    await new_segment(api, workspace_id, "b2b")
    body = {
        "workspace_id": workspace_id,
        "name": "Post-delivery NPS",
        "adapter": "typeform",
        "field_mapping": MAPPING,
        "default_segment": "retail",
    }
    survey = await created(api.http.post("/api/surveys", json=body))
    assert {k: survey[k] for k in body} == body
    assert len(survey["webhook_secret"]) >= 32
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json() == survey
    plain = await created(api.http.post("/api/surveys", json={"workspace_id": workspace_id, "name": "CSAT"}))
    assert (plain["adapter"], plain["default_segment"]) == ("cxloop", None)
    assert plain["field_mapping"] == {"score": "nps", "comment": "comment", "customer_email": "email",
                                      "customer_name": "name", "segment": "hidden:segment"}
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


# --- field mappings, checked when saved ------------------------------------------------


async def test_a_field_mapping_names_only_cxloops_fields(api: ApiEnv) -> None:
    workspace_id = await new_workspace(api)
    body = {"workspace_id": workspace_id, "name": "NPS"}
    # The wrong way round (question key -> cxloop's field) is refused, naming the key.
    await refused(
        api.http.post("/api/surveys", json={**body, "field_mapping": {"q_nps": "score", "q_email": "customer_email"}}),
        422, "'q_nps' is not one of cxloop's fields", "score, comment, customer_email",
    )
    survey = await created(api.http.post("/api/surveys", json={**body, "field_mapping": MAPPING}))
    for mapping, named in (
        ({**MAPPING, "emial": "hidden:email"}, "'emial'"),
        ({**MAPPING, "required": ["customer_email", "phone"]}, "'phone'"),
        ({**MAPPING, "required": "customer_email"}, "'required'"),
        ({**MAPPING, "score": 7}, "'score'"),
        ({**MAPPING, "comment": "  "}, "'comment'"),
    ):
        await refused(api.http.patch(f"/api/surveys/{survey['id']}", json={"field_mapping": mapping}), 422, named)
        await refused(api.http.post("/api/surveys", json={**body, "field_mapping": mapping}), 422, named)
    # Nothing refused was kept.
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json()["field_mapping"] == MAPPING
    german = await api.http.post(
        "/api/surveys", json={**body, "field_mapping": {"nps": "score"}}, headers={"Accept-Language": "de"}
    )
    assert german.status_code == 422 and "'nps'" in german.json()["detail"]
    assert german.headers["content-language"] == "de"
    # What it does take: every field, hidden fields, null, and `required`.
    full = {"score": "nps", "comment": None, "customer_email": "hidden:email", "customer_name": "name",
            "segment": "hidden:segment", "required": ["customer_email", "score"]}
    response = await api.http.patch(f"/api/surveys/{survey['id']}", json={"field_mapping": full})
    assert response.status_code == 200, response.text
    assert response.json()["field_mapping"] == full


def signed(secret: str, payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    timestamp = int(time.time())
    return body, {"X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body),
                  "content-type": "application/json"}


async def test_a_survey_made_with_defaults_takes_a_typical_response(api: ApiEnv, workspace: str) -> None:
    """What the dashboard's "New survey" makes (a name, nothing else) takes a
    typical response of cxloop's own format: a ticket, not "no customer_email"."""
    survey = await created(api.http.post("/api/surveys", json={"workspace_id": workspace, "name": "NPS"}))
    body, headers = signed(survey["webhook_secret"], {
        "response_id": uuid.uuid4().hex,
        "answers": {"nps": 2, "comment": "The parcel came late", "email": "pat@example.com", "name": "Pat"},
        "hidden": {"segment": "retail"},
    })
    accepted = await api.http.post(f"/api/webhooks/surveys/{survey['id']}", content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text

    async def ticket() -> dict | None:
        answer = await api.http.get(f"/api/tickets/{accepted.json()['response_id']}")
        return answer.json() if answer.status_code == 200 else None

    made = await eventually(ticket, "the response's ticket")
    assert (made["customer_email"], made["customer_name"], made["score"], made["segment"]) == (
        "pat@example.com", "Pat", 2, "retail"
    )
    assert made["customer_comment"] == "The parcel came late"


async def test_rotate_the_webhook_secret(api: ApiEnv, workspace: str) -> None:
    survey = await created(api.http.post("/api/surveys", json={"workspace_id": workspace, "name": "NPS"}))
    answer = await api.http.post(f"/api/surveys/{survey['id']}/webhook-secret")
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    assert rotated["webhook_secret"] != survey["webhook_secret"] and len(rotated["webhook_secret"]) >= 32
    assert (await api.http.get(f"/api/surveys/{survey['id']}")).json()["webhook_secret"] == rotated["webhook_secret"]
    payload = {"response_id": uuid.uuid4().hex, "answers": {"nps": 9, "email": "pat@example.com"}}
    body, headers = signed(survey["webhook_secret"], payload)
    await refused(api.http.post(f"/api/webhooks/surveys/{survey['id']}", content=body, headers=headers), 401)
    body, headers = signed(rotated["webhook_secret"], payload)
    assert (await api.http.post(f"/api/webhooks/surveys/{survey['id']}", content=body, headers=headers)).status_code == 202
    await refused(api.http.post("/api/surveys/nope/webhook-secret"), 404, "survey 'nope' not found")


async def test_send_a_test_response(api: ApiEnv, workspace: str) -> None:
    survey = await created(api.http.post(
        "/api/surveys", json={"workspace_id": workspace, "name": "NPS", "default_segment": "retail"}
    ))
    answer = await api.http.post(f"/api/surveys/{survey['id']}/test-response", json={"score": 2})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["status_code"], result["accepted"], result["detail"]) == (202, True, None)
    assert result["payload"]["answers"]["nps"] == 2
    ticket = (await api.http.get(f"/api/tickets/{result['ticket_id']}")).json()
    assert (ticket["source"], ticket["score"], ticket["segment"], ticket["reference"]) == (
        "survey", 2, "retail", result["reference"]
    )
    assert ticket["owner"] == name_in(workspace, "ann")
    assert any("Detractors" in reason and "met" in reason for reason in result["reasons"])
    stored = (await api.http.get(f"/api/responses/{result['response_id']}")).json()
    assert stored["ticket_id"] == ticket["id"]

    # A promoter: accepted, and the rules made no ticket.
    promoter = (await api.http.post(f"/api/surveys/{survey['id']}/test-response", json={"score": 10})).json()
    assert promoter["accepted"] is True and promoter["ticket_id"] is None
    assert any("not met" in reason for reason in promoter["reasons"])

    # A mapping without the customer's email: the webhook's refusal, in the reader's language.
    await api.http.patch(f"/api/surveys/{survey['id']}", json={"field_mapping": {"score": "nps"}})
    refusal = (await api.http.post(f"/api/surveys/{survey['id']}/test-response")).json()
    assert (refusal["status_code"], refusal["accepted"]) == (422, False)
    assert refusal["detail"] == "the response has no customer_email (not mapped)"
    await refused(api.http.post(f"/api/surveys/{survey['id']}/test-response", json={"score": 11}), 422)
    await refused(api.http.post("/api/surveys/nope/test-response"), 404)


async def test_a_test_response_in_typeforms_format(api: ApiEnv, workspace: str) -> None:
    """A Typeform survey's test response is Typeform's own webhook, signed as
    Typeform signs it, with the answers under the refs the mapping names."""
    survey = await created(api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": "Typeform NPS", "adapter": "typeform", "default_segment": "b2b",
        "field_mapping": {"score": "nps_ref", "customer_email": "email_ref", "comment": "hidden:why"},
    }))
    result = (await api.http.post(f"/api/surveys/{survey['id']}/test-response", json={"score": 1})).json()
    assert (result["status_code"], result["accepted"]) == (202, True), result
    form_response = result["payload"]["form_response"]
    assert {a["field"]["ref"]: a["type"] for a in form_response["answers"]} == {"nps_ref": "number", "email_ref": "email"}
    ticket = (await api.http.get(f"/api/tickets/{result['ticket_id']}")).json()
    assert (ticket["score"], ticket["segment"], ticket["customer_email"]) == (1, "b2b", "test.customer@example.com")
    assert ticket["customer_comment"] == "A test response sent from cxloop's survey settings."
