"""Survey intake end to end: signed webhooks (cxloop's own and Typeform's),
responses kept whole, action-alert rules, idempotent and durable intake,
web-form and inbound-mail tickets with their automatic reply, over real HTTP,
a real dev server and worker, on SQLite and PostgreSQL, with a real SMTP
server receiving the mail."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from limits import parse as parse_rate
from sqlalchemy import update
from sqlalchemy.orm import Session

from activities.intake import IntakeActivities
from api.app import create_app
from api.intake.adapters import SIGNATURE_MAX_AGE_SECONDS, sign_cxloop, sign_typeform
from domain.contracts import ResponseRecord
from domain.responses import MappedResponse, SurveyResponse
from store.models import Segment, SegmentManager, User
from tests.api_fixtures import ApiEnv, deliver, eventually, name_in, ticket_of
from worker import build_worker

MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "customer_name": "name",
           "segment": "hidden:segment"}


async def make_survey(api: ApiEnv, workspace: str, adapter: str = "cxloop", mapping: dict | None = None) -> dict:
    response = await api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "adapter": adapter,
        "field_mapping": mapping or MAPPING, "default_segment": "retail",
    })
    assert response.status_code == 201, response.text
    return response.json()


def cxloop_body(response_id: str | None = None, score: int | str = 3, **answers) -> bytes:
    return json.dumps({
        "response_id": response_id or uuid.uuid4().hex,
        "submitted_at": "2026-11-20T10:00:00Z",
        "answers": {"nps": score, "why": "Delivery was late", "email": "pat@example.com", "name": "Pat",
                    "plan": "pro", **answers},
        "hidden": {"segment": "retail"},
    }).encode()


async def test_signed_detractor_becomes_a_ticket_with_its_response(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    accepted = await deliver(api, survey, cxloop_body("resp-1", score=2))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["duplicate"] is False
    key = accepted.json()["response_id"]
    ticket = await ticket_of(api, key)
    assert (ticket["source"], ticket["score"], ticket["customer_comment"]) == ("survey", 2, "Delivery was late")
    assert (ticket["customer_email"], ticket["customer_name"], ticket["segment"]) == ("pat@example.com", "Pat", "retail")
    assert ticket["priority"] == "high" and ticket["owner"] == name_in(workspace, "ann")
    assert ticket["survey_id"] == survey["id"] and ticket["response_id"] == key
    # Reported when the ticket was made; the response's submission kept beside it.
    assert ticket["submitted_at"].startswith("2026-11-20T10:00:00")
    assert ticket["reported_at"] == ticket["created_at"]
    stored = (await api.http.get(f"/api/responses/{key}")).json()
    assert stored["platform_response_id"] == "resp-1" and stored["ticket_id"] == ticket["id"]
    assert {a["key"]: a["value"] for a in stored["answers"]} == {
        "nps": 2, "why": "Delivery was late", "email": "pat@example.com", "name": "Pat", "plan": "pro"}
    assert stored["hidden"] == {"segment": "retail"}
    events = (await api.http.get(f"/api/tickets/{key}/events")).json()
    assert events[0]["actor"] == f"alert-rule:{survey['id']}-detractor"
    assert "Detractors (score 0-6): score 2 in 0-6" in events[0]["comment"]


async def test_promoter_is_kept_without_a_ticket(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    key = (await deliver(api, survey, cxloop_body(score=9))).json()["response_id"]

    async def stored():
        response = await api.http.get(f"/api/responses/{key}")
        return response.json() if response.status_code == 200 else None
    assert (await eventually(stored, f"response {key} stored"))["ticket_id"] is None
    await asyncio.sleep(0.5)
    assert (await api.http.get(f"/api/tickets/{key}")).status_code == 404


@pytest.mark.parametrize("case", ["no headers", "wrong secret", "stale", "future", "tampered", "not digits"])
async def test_signature_refusals_write_nothing(api: ApiEnv, workspace: str, case: str) -> None:
    survey = await make_survey(api, workspace)
    body = cxloop_body("refused")
    now = int(time.time())
    # A minute beyond the window: the server reads its clock a little later, and
    # int() above floors, so a bound of one second would flake at second boundaries.
    outside = SIGNATURE_MAX_AGE_SECONDS + 60
    if case == "no headers":
        response = await api.http.post(f"/api/webhooks/surveys/{survey['id']}", content=body)
    elif case == "wrong secret":
        response = await deliver(api, survey, body, secret="not-the-secret")
    elif case == "stale":
        response = await deliver(api, survey, body, timestamp=now - outside)
    elif case == "future":
        response = await deliver(api, survey, body, timestamp=now + outside)
    elif case == "tampered":
        signature = sign_cxloop(survey["webhook_secret"], now, body)
        response = await api.http.post(
            f"/api/webhooks/surveys/{survey['id']}", content=body.replace(b"3", b"9"),
            headers={"X-Cxloop-Timestamp": str(now), "X-Cxloop-Signature": signature})
    else:
        response = await api.http.post(
            f"/api/webhooks/surveys/{survey['id']}", content=body,
            headers={"X-Cxloop-Timestamp": "yesterday", "X-Cxloop-Signature": "sha256=00"})
    assert response.status_code == 401, response.text
    assert response.json()["detail"]
    key_response = await api.http.get("/api/tickets/counts", params={"workspace": workspace})
    assert key_response.json()["total"] == 0


async def test_bad_deliveries_get_clear_4xx(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    response = await api.http.post("/api/webhooks/surveys/no-such-survey", content=b"{}")
    assert response.status_code == 404 and response.json() == {"detail": "unknown survey"}
    response = await deliver(api, survey, b"this is not json")
    assert response.status_code == 422 and "not JSON" in response.json()["detail"]
    response = await deliver(api, survey, b"[1, 2]")
    assert response.status_code == 422 and "object" in response.json()["detail"]
    no_email = json.dumps({"response_id": "r-x", "answers": {"nps": 3}}).encode()
    response = await deliver(api, survey, no_email)
    assert response.status_code == 422 and "customer_email" in response.json()["detail"]
    bad_score = cxloop_body(score=11)
    response = await deliver(api, survey, bad_score)
    assert response.status_code == 422 and "score" in response.json()["detail"]
    huge = cxloop_body(why="x" * (1024 * 1024))
    response = await deliver(api, survey, huge)
    assert response.status_code == 413
    assert (await api.http.get("/api/tickets/counts", params={"workspace": workspace})).json()["total"] == 0


@pytest.mark.parametrize("language, no_email, unmapped, not_a_number, eleven", [
    (None, "the response has no customer_email (mapped to 'email')",
     "the response has no customer_email (not mapped)",
     "score must be a number from 0 to 10, not 'ten'",
     "score must be a whole number from 0 to 10, not 11"),
    ("de", "der Antwort fehlt customer_email (zugeordnet zu 'email')",
     "der Antwort fehlt customer_email (nicht zugeordnet)",
     "score muss eine Zahl von 0 bis 10 sein, nicht 'ten'",
     "score muss eine ganze Zahl von 0 bis 10 sein, nicht 11"),
    ("ja", "回答に customer_email がありません（'email' に対応付け）",
     "回答に customer_email がありません（対応付けなし）",
     "score は 0 から 10 の数値である必要があります（'ten' は不可）",
     "score は 0 から 10 の整数である必要があります（11 は不可）"),
])
async def test_a_response_no_ticket_can_be_made_of_is_refused_in_the_senders_language(
    api: ApiEnv, workspace: str, language: str | None, no_email: str, unmapped: str, not_a_number: str, eleven: str
) -> None:
    survey = await make_survey(api, workspace)
    unmapped_survey = await make_survey(api, workspace, mapping={**MAPPING, "customer_email": None})
    cases = [
        (survey, json.dumps({"response_id": "r-x", "answers": {"nps": 3}}).encode(), no_email),
        (unmapped_survey, cxloop_body(), unmapped),
        (survey, cxloop_body(score="ten"), not_a_number),
        (survey, cxloop_body(score=11), eleven),
    ]
    for target, body, expected in cases:
        response = await deliver(api, target, body, language=language)
        assert response.status_code == 422, response.text
        assert response.json() == {"detail": expected}
        assert response.headers["Content-Language"] == (language or "en")
    assert (await api.http.get("/api/tickets/counts", params={"workspace": workspace})).json()["total"] == 0


def typeform_payload(token: str, score: int) -> dict:
    """A `form_response` webhook as Typeform documents it (Webhooks API,
    example payload): answers typed by kind, fields identified by id and ref."""
    return {
        "event_id": "01HZX3E6TRN8R1B5K5Q9F0ABCD",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "token": token,
            "landed_at": "2026-11-20T09:58:11Z",
            "submitted_at": "2026-11-20T10:00:00Z",
            "hidden": {"segment": "b2b", "account": "ACME-42"},
            "definition": {
                "id": "lT4Z3j",
                "title": "How did we do?",
                "fields": [
                    {"id": "Aa1", "title": "How likely are you to recommend us?", "type": "nps", "ref": "nps_score"},
                    {"id": "Bb2", "title": "What could we do better?", "type": "long_text", "ref": "feedback"},
                    {"id": "Cc3", "title": "Your email", "type": "email", "ref": "contact_email"},
                    {"id": "Dd4", "title": "Which product?", "type": "multiple_choice", "ref": "product"},
                    {"id": "Ee5", "title": "Channels used", "type": "multiple_choice", "ref": "channels"},
                    {"id": "Ff6", "title": "Would you buy again?", "type": "yes_no", "ref": "again"},
                ],
            },
            "answers": [
                {"type": "number", "number": score, "field": {"id": "Aa1", "type": "nps", "ref": "nps_score"}},
                {"type": "text", "text": "Support never called back",
                 "field": {"id": "Bb2", "type": "long_text", "ref": "feedback"}},
                {"type": "email", "email": "lee@example.com",
                 "field": {"id": "Cc3", "type": "email", "ref": "contact_email"}},
                {"type": "choice", "choice": {"label": "Mixer"},
                 "field": {"id": "Dd4", "type": "multiple_choice", "ref": "product"}},
                {"type": "choices", "choices": {"labels": ["Phone", "Chat"]},
                 "field": {"id": "Ee5", "type": "multiple_choice", "ref": "channels"}},
                {"type": "boolean", "boolean": False, "field": {"id": "Ff6", "type": "yes_no", "ref": "again"}},
            ],
        },
    }


async def test_typeform_payload_and_signature(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace, adapter="typeform", mapping={
        "score": "nps_score", "comment": "feedback", "customer_email": "contact_email", "segment": "hidden:segment"})
    body = json.dumps(typeform_payload("tok-123", 4)).encode()
    url = f"/api/webhooks/surveys/{survey['id']}"
    refused = await api.http.post(url, content=body, headers={"Typeform-Signature": sign_typeform("wrong", body)})
    assert refused.status_code == 401
    response = await api.http.post(url, content=body,
                                   headers={"Typeform-Signature": sign_typeform(survey["webhook_secret"], body)})
    assert response.status_code == 202, response.text
    ticket = await ticket_of(api, response.json()["response_id"])
    assert (ticket["score"], ticket["customer_email"], ticket["segment"]) == (4, "lee@example.com", "b2b")
    assert ticket["customer_comment"] == "Support never called back" and ticket["owner"] is None  # two managers
    stored = (await api.http.get(f"/api/responses/{ticket['response_id']}")).json()
    answers = {a["key"]: (a["type"], a["value"], a["title"]) for a in stored["answers"]}
    assert answers["product"] == ("choice", "Mixer", "Which product?")
    assert answers["channels"][1] == ["Phone", "Chat"] and answers["again"][1] is False
    assert stored["hidden"] == {"segment": "b2b", "account": "ACME-42"}
    assert stored["platform_response_id"] == "tok-123"


async def test_duplicate_and_concurrent_deliveries_make_one_ticket(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    body = cxloop_body("twice")
    first = await deliver(api, survey, body)
    key = first.json()["response_id"]
    await ticket_of(api, key)
    again = await deliver(api, survey, body)
    assert again.status_code == 202 and again.json()["duplicate"] is True

    concurrent_body = cxloop_body("at-once")
    answers = await asyncio.gather(*(deliver(api, survey, concurrent_body) for _ in range(6)))
    assert {a.status_code for a in answers} == {202}
    # One delivery started the intake; each other one is told it is a duplicate.
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 5
    concurrent_key = answers[0].json()["response_id"]
    await ticket_of(api, concurrent_key)
    await asyncio.sleep(0.5)
    counts = (await api.http.get("/api/tickets/counts", params={"workspace": workspace})).json()
    assert counts["total"] == 2


async def test_worker_down_delays_but_loses_nothing(api: ApiEnv, workspace: str) -> None:
    """An API whose task queue has no worker yet accepts the delivery (202);
    the ticket appears once a worker starts."""
    survey = await make_survey(api, workspace)
    task_queue = f"cxloop-late-{uuid.uuid4().hex[:6]}"
    settings = api.settings.model_copy(update={"task_queue": task_queue})
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://late.test",
                                     headers=api.headers_for(api.admin_username)) as http:
            body = cxloop_body("while-down")
            timestamp = int(time.time())
            accepted = await http.post(
                f"/api/webhooks/surveys/{survey['id']}", content=body,
                headers={"X-Cxloop-Timestamp": str(timestamp),
                         "X-Cxloop-Signature": sign_cxloop(survey["webhook_secret"], timestamp, body)})
            assert accepted.status_code == 202
            key = accepted.json()["response_id"]
            await asyncio.sleep(1)
            assert (await http.get(f"/api/tickets/{key}")).status_code == 404
            async with build_worker(api.temporal, task_queue, engine=api.engine,
                                    activity_executor=ThreadPoolExecutor(4)):
                ticket = await ticket_of(api, key)
                assert ticket["status"] == "new"


async def test_assignment_modes_through_intake(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    with Session(api.engine) as session, session.begin():
        session.execute(update(Segment).where(Segment.workspace_id == workspace, Segment.name == "b2b")
                        .values(assignment_mode="round_robin"))
    owners = []
    for i in range(3):
        body = json.dumps({"response_id": f"rr-{i}", "answers": {"nps": 1, "email": "x@example.com"},
                           "hidden": {"segment": "b2b"}}).encode()
        key = (await deliver(api, survey, body)).json()["response_id"]
        owners.append((await ticket_of(api, key))["owner"])
    bob, cy = name_in(workspace, "bob"), name_in(workspace, "cy")
    assert owners == [bob, cy, bob]
    with Session(api.engine) as session, session.begin():
        session.execute(update(Segment).where(Segment.workspace_id == workspace, Segment.name == "b2b")
                        .values(assignment_mode="least_loaded"))
    body = json.dumps({"response_id": "ll-1", "answers": {"nps": 1, "email": "x@example.com"},
                       "hidden": {"segment": "b2b"}}).encode()
    key = (await deliver(api, survey, body)).json()["response_id"]
    assert (await ticket_of(api, key))["owner"] == cy  # bob has two open tickets, cy one


async def test_capped_manager_is_skipped_in_round_robin(api: ApiEnv, workspace: str) -> None:
    """Round robin reads the managers' open tickets only once one has a cap;
    then a manager at the cap is passed over."""
    survey = await make_survey(api, workspace)
    bob, cy = name_in(workspace, "bob"), name_in(workspace, "cy")
    with Session(api.engine) as session, session.begin():
        session.execute(update(Segment).where(Segment.workspace_id == workspace, Segment.name == "b2b")
                        .values(assignment_mode="round_robin"))

    async def owner_of_next(number: int) -> str | None:
        body = json.dumps({"response_id": f"cap-{number}", "answers": {"nps": 1, "email": "x@example.com"},
                           "hidden": {"segment": "b2b"}}).encode()
        return (await ticket_of(api, (await deliver(api, survey, body)).json()["response_id"]))["owner"]

    assert [await owner_of_next(0), await owner_of_next(1)] == [bob, cy]
    with Session(api.engine) as session, session.begin():
        cy_id = session.query(User.id).filter(User.username == cy).scalar_subquery()
        session.execute(update(SegmentManager).where(SegmentManager.user_id == cy_id).values(max_open_tickets=1))
    # Bob's turn, then cy's: she holds one open ticket already, so bob again.
    assert [await owner_of_next(2), await owner_of_next(3)] == [bob, bob]


async def test_an_unavailable_only_manager_gets_no_new_ticket(api: ApiEnv, workspace: str) -> None:
    """Retail's only manager is on leave: the survey's ticket stays unassigned
    rather than falling to her as a manual ticket's would."""
    survey = await make_survey(api, workspace)
    ann = name_in(workspace, "ann")
    with Session(api.engine) as session, session.begin():
        ann_id = session.query(User.id).filter(User.username == ann).scalar_subquery()
        session.execute(update(SegmentManager).where(SegmentManager.user_id == ann_id).values(available=False))
    key = (await deliver(api, survey, cxloop_body("on-leave"))).json()["response_id"]
    assert (await ticket_of(api, key))["owner"] is None
    with Session(api.engine) as session, session.begin():
        session.execute(update(SegmentManager).where(SegmentManager.user_id == ann_id).values(available=True))
    key = (await deliver(api, survey, cxloop_body("back"))).json()["response_id"]
    assert (await ticket_of(api, key))["owner"] == ann


async def test_survey_setup_is_read_again_after_its_max_age(api: ApiEnv, workspace: str) -> None:
    """A burst of responses reads a survey's alert rules once; a rule switched
    off in the API applies to responses received after at most the max age."""
    survey = await make_survey(api, workspace)
    max_age = 2.0
    intake = IntakeActivities(api.engine, survey_setup_max_age=timedelta(seconds=max_age))

    def rules_for_a_response() -> list[tuple[str, bool]]:
        response = SurveyResponse(survey_id=survey["id"], response_id=uuid.uuid4().hex,
                                  submitted_at=datetime.now(UTC))
        record = ResponseRecord(key=uuid.uuid4().hex, response=response,
                                mapped=MappedResponse(customer_email="pat@example.com"),
                                received_at=datetime.now(UTC))
        return [(rule.name, rule.enabled) for rule in intake.prepare_survey_intake(record).alert_rules]

    # Right after a period of max_age starts, so that the next reads fall in it.
    await asyncio.sleep(max_age - time.monotonic() % max_age)
    assert rules_for_a_response() == [("Detractors (score 0-6)", True)]
    rules_url = f"/api/surveys/{survey['id']}/alert-rules"
    rule_id = (await api.http.get(rules_url)).json()[0]["id"]
    assert (await api.http.patch(f"{rules_url}/{rule_id}", json={"enabled": False})).status_code == 200
    assert rules_for_a_response() == [("Detractors (score 0-6)", True)]  # read just now: still served
    await asyncio.sleep(max_age)
    assert rules_for_a_response() == [("Detractors (score 0-6)", False)]


async def test_web_form_ticket_and_auto_reply(api: ApiEnv, workspace: str) -> None:
    email = f"form-{uuid.uuid4().hex[:6]}@example.com"
    response = await api.http.post("/api/intake/form", json={
        "workspace_id": workspace, "customer_email": email, "customer_name": "Sam",
        "subject": "Broken lid", "message": "The lid cracked on day one.", "segment": "support"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    ticket = await ticket_of(api, accepted["ticket_id"])
    assert (ticket["source"], ticket["segment"], ticket["owner"]) == ("form", "support", name_in(workspace, "dee"))
    assert ticket["reference"] == accepted["reference"]
    mail = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(email)), f"a mail to {email}")
    assert accepted["reference"] in mail[0]["Subject"]
    text = next(part for part in mail[0].walk() if part.get_content_type() == "text/plain")
    text = text.get_payload(decode=True).decode()
    assert accepted["reference"] in text and "Hello Sam" in text
    assert (await api.http.post("/api/intake/form", json={"workspace_id": workspace, "customer_email": "bad",
                                                          "message": "x"})).status_code == 422


async def test_web_form_is_rate_limited(api: ApiEnv, workspace: str) -> None:
    """The limit a minute per client address (the shared test app's: see
    tests/api_fixtures.py): one more is 429 with Retry-After, while another
    address still gets through."""
    app = api.http._transport.app  # the same app, seen from other client addresses

    def from_address(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://cxloop.test")

    body = {"workspace_id": workspace, "customer_email": "flood@example.com", "message": "hi"}
    async with from_address("127.0.0.10") as flooder, from_address("127.0.0.20") as neighbour:
        # Refused bodies count too (and start nothing): all but the last.
        limit = parse_rate(api.settings.form_rate_limit).amount
        statuses = [(await flooder.post("/api/intake/form", json={})).status_code for _ in range(limit - 1)]
        assert statuses == [422] * (limit - 1)
        assert (await flooder.post("/api/intake/form", json=body)).status_code == 202
        refused = await flooder.post("/api/intake/form", json=body)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert (await neighbour.post("/api/intake/form", json=body)).status_code == 202


async def test_inbound_mail_ticket_signed_and_idempotent(api: ApiEnv, workspace: str) -> None:
    email = f"mail-{uuid.uuid4().hex[:6]}@example.com"
    body = json.dumps({"message_id": f"<{uuid.uuid4()}@mail.example.com>", "from": email, "from_name": "Kim",
                       "subject": "Refund?", "text": "Where is my refund?", "workspace_id": workspace}).encode()
    timestamp = int(time.time())

    async def post(secret: str) -> httpx.Response:
        return await api.http.post("/api/intake/email", content=body, headers={
            "X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body)})

    assert (await post("wrong")).status_code == 401
    first = await post(api.settings.inbound_email_secret)
    assert first.status_code == 202 and first.json()["duplicate"] is False
    ticket = await ticket_of(api, first.json()["ticket_id"])
    # It names no segment: the workspace's first, not one that nobody manages.
    assert (ticket["source"], ticket["segment"], ticket["customer_email"]) == ("email", "b2b", email)
    assert "Where is my refund?" in ticket["customer_comment"]
    second = await post(api.settings.inbound_email_secret)
    assert second.json() == {**first.json(), "duplicate": True}
    mails = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(email)), f"a mail to {email}")
    assert first.json()["reference"] in mails[0]["Subject"] and mails[0]["Subject"].endswith("Re: Refund?")
    await asyncio.sleep(0.5)
    assert len(api.mailbox.to(email)) == 1


async def test_received_at_is_recent(api: ApiEnv, workspace: str) -> None:
    survey = await make_survey(api, workspace)
    key = (await deliver(api, survey, cxloop_body())).json()["response_id"]

    async def stored():
        response = await api.http.get(f"/api/responses/{key}")
        return response.json() if response.status_code == 200 else None
    received = datetime.fromisoformat((await eventually(stored, f"response {key} stored"))["received_at"])
    assert abs((datetime.now(UTC) - received).total_seconds()) < 60


async def test_alert_rules_api_and_actions(api: ApiEnv, workspace: str) -> None:
    """Rules through the API: every criterion kind, met and not-met actions,
    the notify action's mail, and a switched-off rule."""
    survey = await make_survey(api, workspace)
    rules_url = f"/api/surveys/{survey['id']}/alert-rules"
    rules = (await api.http.get(rules_url)).json()
    assert [(r["name"], r["enabled"], r["criteria"]) for r in rules] == [
        ("Detractors (score 0-6)", True, [{"on": "score", "min": 0, "max": 6}])]
    # Switch the default off: only the rules below decide.
    switched = await api.http.patch(f"{rules_url}/{rules[0]['id']}", json={"enabled": False})
    assert switched.status_code == 200 and switched.json()["enabled"] is False

    lead = f"lead-{uuid.uuid4().hex[:6]}@example.com"
    vip = await api.http.post(rules_url, json={
        "name": "Unhappy pro customers",
        "criteria": [
            {"on": "score", "max": 8},
            {"on": "answer", "key": "plan", "op": "in", "values": ["pro", "enterprise"]},
            {"on": "segment", "op": "equals", "value": "retail"},
            {"on": "comment", "op": "any", "values": ["late", "broken"]},
        ],
        "when_met": [{"type": "create_ticket", "priority": "critical", "segment": "support"},
                     {"type": "notify", "recipients": [lead], "message": "Call them today"}],
        "when_not_met": [{"type": "create_ticket", "priority": "low"}],
    })
    assert vip.status_code == 201, vip.text

    met = (await deliver(api, survey, cxloop_body("vip-1", score=8))).json()["response_id"]
    ticket = await ticket_of(api, met)
    assert (ticket["priority"], ticket["segment"], ticket["owner"]) == ("critical", "support", name_in(workspace, "dee"))
    mail = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(lead)), f"a mail to {lead}")
    assert "Unhappy pro customers" in mail[0]["Subject"] and "Call them today" in mail[0].get_payload()
    assert ticket["reference"] in mail[0].get_payload()

    not_met = (await deliver(api, survey, cxloop_body("vip-2", score=8, plan="free"))).json()["response_id"]
    ticket = await ticket_of(api, not_met)
    assert (ticket["priority"], ticket["segment"]) == ("low", "retail")

    # Bad rules are refused with the reason; unknown ones are 404.
    for bad in (
        {"name": "x", "criteria": [{"on": "score", "min": 7, "max": 3}]},
        {"name": "x", "criteria": [{"on": "answer", "key": "plan", "op": "in", "values": []}]},
        {"name": "x", "when_met": [{"type": "nothing"}, {"type": "create_ticket"}]},
        {"name": "x", "criteria": [{"on": "weather", "op": "equals", "value": "rain"}]},
        {"name": ""},
    ):
        response = await api.http.post(rules_url, json=bad)
        assert response.status_code == 422, (bad, response.text)
    assert (await api.http.get(f"{rules_url}/nope")).status_code == 404
    assert (await api.http.get("/api/surveys/nope/alert-rules")).status_code == 404
    assert (await api.http.delete(f"{rules_url}/{vip.json()['id']}")).status_code == 204
    assert [r["name"] for r in (await api.http.get(rules_url)).json()] == ["Detractors (score 0-6)"]
