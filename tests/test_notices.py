"""Closing the loop, end to end over real HTTP, the dev server and a real SMTP
server: the new owner and the escalation's assignee hear of it; the customer
of a resolved ticket gets signed links that close it (solved) or reopen it (not
solved); a customer's mail reply reopens an answered ticket."""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from api.intake.adapters import sign_cxloop
from domain.notices import CustomerAction, sign_customer_link
from tests.api_fixtures import ApiEnv, name_in


async def create(api: ApiEnv, workspace: str, **fields) -> dict:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "customer_name": "Pat",
            "segment": "b2b", "comment": "Phoned about a late delivery", **fields}
    response = await api.http.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def change(api: ApiEnv, ticket: dict, **fields) -> dict:
    response = await api.http.patch(f"/api/tickets/{ticket['id']}", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


async def mail_about(api: ApiEnv, reference: str, subject_part: str, timeout: float = 20):
    """The one mail whose subject names the ticket and says `subject_part`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in api.mailbox.messages if reference in m["Subject"] and subject_part in m["Subject"]]
        if found:
            assert len(found) == 1, [m["Subject"] for m in found]
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail '{subject_part}' about {reference}: {[m['Subject'] for m in api.mailbox.messages]}")


def body_of(mail) -> str:
    """The text of a mail (its text/plain part: a customer's mail is text and HTML)."""
    text = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    return text.get_payload(decode=True).decode()


def links_in(mail) -> dict[str, str]:
    text = body_of(mail)
    solved = re.search(r"Yes, it is solved:\s+(\S+)", text).group(1)
    not_solved = re.search(r"No, it is not solved:\s+(\S+)", text).group(1)
    return {"confirm": urlsplit(solved).path, "not-solved": urlsplit(not_solved).path}


async def test_owner_and_assignee_hear_of_it(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    assert ticket["owner"] is None  # b2b has two managers
    await change(api, ticket, owner=name_in(workspace, "bob"), comment="Bob knows the account")
    assigned = await mail_about(api, ticket["reference"], "assigned to you")
    assert assigned["To"] == "bob@example.com"
    assert "Bob knows the account" in body_of(assigned)
    assert f"/dashboard/tickets/{ticket['id']}" in body_of(assigned)

    await change(api, ticket, status="escalated", owner=name_in(workspace, "cy"), comment="Needs a lead")
    escalated = await mail_about(api, ticket["reference"], "escalated to you")
    assert escalated["To"] == "cy@example.com" and "Needs a lead" in body_of(escalated)
    # Taking a ticket oneself tells nobody.
    await api.http.patch(f"/api/tickets/{ticket['id']}", json={"owner": name_in(workspace, "bob"), "comment": "mine"},
                         headers=api.headers_for(name_in(workspace, "bob")))
    await asyncio.sleep(1)
    assert len([m for m in api.mailbox.messages if ticket["reference"] in m["Subject"]]) == 2


async def test_customer_confirms_the_ticket_is_solved(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, customer_email="confirm@example.com")
    await change(api, ticket, status="resolved", comment="Refund issued")
    mail = await mail_about(api, ticket["reference"], "Is your request solved?")
    # The comment is the team's internal record: never the customer's to read.
    assert mail["To"] == "confirm@example.com" and "Refund issued" not in body_of(mail)
    links = links_in(mail)

    # Opening the link only shows a button (mail scanners open links too).
    page = await api.http.get(links["confirm"])
    assert page.status_code == 200 and "Yes, it is solved" in page.text
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "resolved"

    done = await api.http.post(links["confirm"])
    assert done.status_code == 200 and "is closed" in done.text
    closed = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert closed["status"] == "closed"
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert (events[-1]["actor"], events[-1]["new"]) == ("confirm@example.com", "closed")
    # Used again, or the other link: nothing changes.
    again = await api.http.post(links["not-solved"])
    assert again.status_code == 409 and "nothing was changed" in again.text


async def test_customer_says_it_is_not_solved(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, customer_email="notsolved@example.com")
    await change(api, ticket, status="resolved", comment="Replacement sent")
    links = links_in(await mail_about(api, ticket["reference"], "Is your request solved?"))
    answer = await api.http.post(links["not-solved"], data={"message": "The replacement is broken too"})
    assert answer.status_code == 200 and "open again" in answer.text
    reopened = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert reopened["status"] == "open"
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert events[-1]["actor"] == "notsolved@example.com"
    assert events[-1]["comment"] == "The replacement is broken too"


async def test_forged_and_expired_links_change_nothing(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, customer_email="forged@example.com")
    await change(api, ticket, status="resolved", comment="Done")
    secret = api.settings.secret_key
    expired = sign_customer_link(secret, ticket["id"], CustomerAction.CONFIRM, datetime.now(UTC) - timedelta(seconds=1))
    forged = sign_customer_link("not the secret", ticket["id"], CustomerAction.CONFIRM, datetime.now(UTC) + timedelta(days=1))
    valid = sign_customer_link(secret, ticket["id"], CustomerAction.CONFIRM, datetime.now(UTC) + timedelta(days=1))
    tampered = valid[:-2] + ("AA" if not valid.endswith("AA") else "BB")
    for token in (expired, forged, tampered, "nonsense"):
        for method in ("GET", "POST"):
            answer = await api.http.request(method, f"/customer/tickets/{token}")
            assert answer.status_code == 404 and "This link is not valid" in answer.text, (token, method)
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "resolved"


async def test_a_customer_over_the_link_rate_reads_a_page_in_their_language(api: ApiEnv) -> None:
    """Past the customer links' rate (60 a minute per address), the customer
    reads a page asking them to wait, in their language, with Retry-After:
    not the API's JSON."""
    transport = httpx.ASGITransport(app=api.http._transport.app, client=("198.51.100.23", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test",
                                 headers={"Accept-Language": "de"}) as browser:
        answers = [await browser.get("/customer/tickets/not-a-link") for _ in range(61)]
    assert {answer.status_code for answer in answers[:60]} == {404}
    busy = answers[60]
    assert busy.status_code == 429 and busy.headers["content-type"].startswith("text/html")
    assert "Einen Moment, bitte" in busy.text and int(busy.headers["Retry-After"]) >= 1


async def post_mail(api: ApiEnv, **mail) -> dict:
    body = json.dumps({"to": "support@example.com", **mail}).encode()
    timestamp = int(time.time())
    response = await api.http.post("/api/intake/email", content=body, headers={
        "Content-Type": "application/json", "X-Cxloop-Timestamp": str(timestamp),
        "X-Cxloop-Signature": sign_cxloop(api.settings.inbound_email_secret, timestamp, body)})
    assert response.status_code == 202, response.text
    return response.json()


async def test_customer_mail_reply_reopens_an_answered_ticket(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, customer_email="Reply@Example.com")
    await change(api, ticket, status="answered", comment="Asked for the order number")
    reply = {"message_id": f"<reply-{ticket['id']}@mail.example.com>", "from": "reply@example.com",
             "subject": f"Re: [{ticket['reference']}] We received your request", "text": "It is 12345",
             "workspace_id": workspace}
    accepted = await post_mail(api, **reply)
    assert accepted["ticket_id"] == ticket["id"] and accepted["reference"] == ticket["reference"]
    reopened = (await api.http.get(f"/api/tickets/{ticket['id']}")).json()
    assert reopened["status"] == "open"
    # Delivered twice: one reply.
    await post_mail(api, **reply)
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    replies = [e for e in events if e["kind"] == "customer_replied"]
    assert len(replies) == 1 and replies[0]["comment"] == "It is 12345"
    # Someone else quoting the reference gets a ticket of their own.
    other = await post_mail(api, **{**reply, "message_id": "<other@mail.example.com>", "from": "eve@example.com"})
    assert other["ticket_id"] != ticket["id"]
