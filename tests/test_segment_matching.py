"""Segments named by a ticket's source (issue 14, defect 5): a survey
response's hidden field, a web form, an inbound mail and a manual ticket name
a segment as people say it ("retail" for "Retail"), or one the workspace does
not have ("Wholesale"). A known one is matched ignoring case and space; an
unknown one never makes a ticket in a segment that does not exist: it goes
to the survey's default segment (else the workspace's first), keeps what the
source said as its origin segment, and its first log line says why.

Over real HTTP through the app, a real dev server and worker, on SQLite and
PostgreSQL (tests/api_fixtures.py)."""

from __future__ import annotations

import json
import random
import time
import uuid

import httpx

from api.intake.adapters import sign_cxloop
from domain.segments import choose_segment, match_segment
from tests.api_fixtures import ApiEnv, created, deliver, name_in, refused, ticket_of

MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "segment": "hidden:segment"}


async def survey_in(api: ApiEnv, workspace: str, default_segment: str | None) -> dict:
    body = {"workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "field_mapping": MAPPING}
    if default_segment is not None:
        body["default_segment"] = default_segment
    return await created(api.http.post("/api/surveys", json=body))


async def respond(api: ApiEnv, survey: dict, segment: str) -> str:
    """A detractor's signed response naming `segment`; its ticket's id."""
    body = json.dumps({
        "response_id": uuid.uuid4().hex, "submitted_at": "2026-11-20T10:00:00Z",
        "answers": {"nps": 2, "why": "Late again", "email": "pat@example.com"},
        "hidden": {"segment": segment},
    }).encode()
    answer = await deliver(api, survey, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["response_id"]


async def creation_comment(api: ApiEnv, ticket_id: str) -> str:
    events = (await api.http.get(f"/api/tickets/{ticket_id}/events")).json()
    assert events[0]["kind"] == "created"
    return events[0]["comment"]


async def web_form(api: ApiEnv, workspace: str, segment: str) -> str:
    """A web form naming `segment`, from an address of its own (the form is
    rate limited per address); its ticket's id."""
    app = api.http._transport.app
    address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as client:
        answer = await client.post("/api/intake/form", json={
            "workspace_id": workspace, "customer_email": "sam@example.com", "message": "The lid cracked.",
            "segment": segment})
    assert answer.status_code == 202, answer.text
    return answer.json()["ticket_id"]


async def mail(api: ApiEnv, workspace: str, segment: str) -> str:
    body = json.dumps({"message_id": f"<{uuid.uuid4()}@mail.example.com>", "from": "kim@example.com",
                       "subject": "Refund?", "text": "Where is my refund?", "workspace_id": workspace,
                       "segment": segment}).encode()
    timestamp = int(time.time())
    answer = await api.http.post("/api/intake/email", content=body, headers={
        "X-Cxloop-Timestamp": str(timestamp),
        "X-Cxloop-Signature": sign_cxloop(api.settings.inbound_email_secret, timestamp, body)})
    assert answer.status_code == 202, answer.text
    return answer.json()["ticket_id"]


# --- the rule, pure -------------------------------------------------------------------


def test_a_segment_is_matched_ignoring_case_and_space() -> None:
    segments = ["Retail", "b2b", "support"]
    assert match_segment(" retail ", segments) == "Retail"
    assert match_segment("B2B", segments) == "b2b"
    assert match_segment("Wholesale", segments) is None
    # Two segments that differ in case only: the exact one wins.
    assert match_segment("retail", ["Retail", "retail"]) == "retail"
    assert choose_segment("Wholesale", segments, default="retail", unnamed="unsorted").model_dump() == {
        "segment": "Retail", "unknown_named": "Wholesale"}
    assert choose_segment("Wholesale", segments, default=None, unnamed="unsorted").model_dump() == {
        "segment": "b2b", "unknown_named": "Wholesale"}
    # Nothing named (a form, a mail): the survey's default, else the first
    # segment; "unsorted" only where the workspace has no segment at all.
    assert choose_segment(None, segments, default=None, unnamed="unsorted").model_dump() == {
        "segment": "b2b", "unknown_named": None}
    assert choose_segment(None, segments, default="RETAIL", unnamed="unsorted").segment == "Retail"
    assert choose_segment(None, segments, default="gone", unnamed="unsorted").segment == "b2b"
    assert choose_segment(None, [], default=None, unnamed="unsorted").segment == "unsorted"


# --- survey responses -------------------------------------------------------------------


async def test_a_response_naming_a_segment_in_another_case_gets_that_segment(api: ApiEnv, workspace: str) -> None:
    survey = await survey_in(api, workspace, default_segment="support")
    ticket = await ticket_of(api, await respond(api, survey, " RETAIL "))
    # The workspace's segment, with its manager: seen by the team that works it.
    assert (ticket["segment"], ticket["origin_segment"], ticket["owner"]) == (
        "retail", "retail", name_in(workspace, "ann"))


async def test_a_response_naming_an_unknown_segment_goes_to_the_surveys_default(api: ApiEnv, workspace: str) -> None:
    survey = await survey_in(api, workspace, default_segment="support")
    ticket_id = await respond(api, survey, "Wholesale")
    ticket = await ticket_of(api, ticket_id)
    assert (ticket["segment"], ticket["owner"]) == ("support", name_in(workspace, "dee"))
    assert ticket["origin_segment"] == "Wholesale"
    comment = await creation_comment(api, ticket_id)
    assert "The response named segment 'Wholesale', which this workspace does not have" in comment
    assert "the ticket went to 'support'" in comment
    # The segment's manager finds it in their list.
    dee = api.headers_for(name_in(workspace, "dee"))
    listed = (await api.http.get("/api/tickets", params={"workspace": workspace}, headers=dee)).json()["items"]
    assert ticket_id in [t["id"] for t in listed]


async def test_without_a_survey_default_an_unknown_segment_goes_to_the_workspaces_first(
    api: ApiEnv, workspace: str
) -> None:
    survey = await survey_in(api, workspace, default_segment=None)
    ticket_id = await respond(api, survey, "Wholesale")
    ticket = await ticket_of(api, ticket_id)
    # b2b, retail, support: the first by name.
    assert (ticket["segment"], ticket["origin_segment"]) == ("b2b", "Wholesale")
    assert "the ticket went to 'b2b'" in await creation_comment(api, ticket_id)


# --- web forms and inbound mail ------------------------------------------------------------


async def test_a_web_form_naming_a_segment_is_matched_or_sent_to_a_known_one(api: ApiEnv, workspace: str) -> None:
    known = await ticket_of(api, await web_form(api, workspace, "Support"))
    assert (known["segment"], known["origin_segment"], known["owner"]) == (
        "support", "support", name_in(workspace, "dee"))

    unknown_id = await web_form(api, workspace, "Wholesale")
    unknown = await ticket_of(api, unknown_id)
    assert (unknown["segment"], unknown["origin_segment"]) == ("b2b", "Wholesale")
    comment = await creation_comment(api, unknown_id)
    assert "The web form named segment 'Wholesale'" in comment and "went to 'b2b'" in comment


async def test_a_mail_naming_an_unknown_segment_goes_to_a_known_one(api: ApiEnv, workspace: str) -> None:
    ticket_id = await mail(api, workspace, "wholesale")
    ticket = await ticket_of(api, ticket_id)
    assert (ticket["segment"], ticket["origin_segment"]) == ("b2b", "wholesale")
    assert "The mail named segment 'wholesale'" in await creation_comment(api, ticket_id)
    retail = await ticket_of(api, await mail(api, workspace, "Retail"))
    assert (retail["segment"], retail["owner"]) == ("retail", name_in(workspace, "ann"))


# --- manual tickets -----------------------------------------------------------------------


async def test_a_manual_ticket_matches_its_segment_ignoring_case_and_refuses_an_unknown_one(
    api: ApiEnv, workspace: str
) -> None:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "comment": "Phoned in"}
    ticket = await created(api.http.post("/api/tickets", json={**body, "segment": "RETAIL"}))
    assert (ticket["segment"], ticket["origin_segment"], ticket["owner"]) == (
        "retail", "retail", name_in(workspace, "ann"))
    detail = await refused(api.http.post("/api/tickets", json={**body, "segment": "Wholesale"}), 422,
                           "unknown segment 'Wholesale'", workspace)
    assert isinstance(detail, str)
    german = await refused(api.http.post("/api/tickets", json={**body, "segment": "Wholesale"},
                                         headers={"Accept-Language": "de"}), 422, "Wholesale")
    assert german != detail
