"""The customer's answers thread back to their ticket (POST /api/intake/email).

Every mail of ours carries a Message-ID the outbox keeps; an inbound mail is
matched by its In-Reply-To, then its References, then the `[CX-…]` reference
in its subject, and only when it comes from the ticket's customer. Someone
else's mail starts a ticket of its own; an answer to a closed ticket opens a
new one that names the old; the same mail twice is one message.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from api.intake.adapters import sign_cxloop
from tests.api_fixtures import ApiEnv, created, eventually, ticket_of
from tests.test_replies import mails_to, new_ticket, thread, when

pytestmark = pytest.mark.dev_server


async def inbound(api: ApiEnv, workspace: str, sender: str, text: str, **headers: str) -> dict:
    body = json.dumps({
        "message_id": f"<{uuid.uuid4().hex}@mail.example.com>", "from": sender, "text": text,
        "workspace_id": workspace, "segment": "retail", **headers,
    }).encode()
    return await post_signed(api, body)


async def post_signed(api: ApiEnv, body: bytes) -> dict:
    timestamp = int(time.time())
    answer = await api.http.post("/api/intake/email", content=body, headers={
        "X-Cxloop-Timestamp": str(timestamp),
        "X-Cxloop-Signature": sign_cxloop(api.settings.inbound_email_secret, timestamp, body)})
    assert answer.status_code == 202, answer.text
    return answer.json()


async def replied_ticket(api: ApiEnv, workspace: str) -> tuple[dict, str]:
    """A ticket answered by a reply; the reply mail's Message-ID."""
    ticket = await new_ticket(api, workspace)
    reply = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies", json={"body": "Does it work now?"}))
    [mail] = await mails_to(api, ticket["customer_email"], 1)
    assert mail["Message-ID"] == reply["message"]["message_id"]
    return reply["ticket"], mail["Message-ID"]


async def test_the_customers_answer_threads_by_in_reply_to_and_reopens_the_ticket(
    api: ApiEnv, workspace: str
) -> None:
    ticket, message_id = await replied_ticket(api, workspace)
    assert ticket["status"] == "answered"
    # No reference in the subject: the header alone finds the ticket.
    accepted = await inbound(api, workspace, ticket["customer_email"], "Still broken, sorry.",
                             subject="Re: your answer", in_reply_to=message_id)
    assert (accepted["ticket_id"], accepted["reference"]) == (ticket["id"], ticket["reference"])
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "open"
    # (The reply is marked sent a moment after the mail server took it.)
    messages = await eventually(lambda: when(thread(api, ticket), lambda m: m[1]["delivery"] == "sent"),
                                "the reply marked sent")
    assert [(m["direction"], m["kind"], m["delivery"]) for m in messages] == [
        ("in", "feedback", "received"), ("out", "reply", "sent"), ("in", "customer_mail", "received")]
    assert messages[-1]["body"] == "Still broken, sorry."
    assert messages[-1]["author"] == ticket["customer_email"]


async def test_the_same_mail_twice_is_one_message(api: ApiEnv, workspace: str) -> None:
    ticket, message_id = await replied_ticket(api, workspace)
    body = json.dumps({
        "message_id": f"<{uuid.uuid4().hex}@mail.example.com>", "from": ticket["customer_email"],
        "text": "Thanks!", "workspace_id": workspace, "references": f"<older@mail.example.com> {message_id}",
    }).encode()
    first = await post_signed(api, body)
    second = await post_signed(api, body)
    assert first["ticket_id"] == second["ticket_id"] == ticket["id"]
    assert [m["kind"] for m in await thread(api, ticket)] == ["feedback", "reply", "customer_mail"]


async def test_someone_elses_answer_starts_a_ticket_of_their_own(api: ApiEnv, workspace: str) -> None:
    ticket, message_id = await replied_ticket(api, workspace)
    stranger = f"someone-{uuid.uuid4().hex[:6]}@example.com"
    accepted = await inbound(api, workspace, stranger, "I got this mail too?", in_reply_to=message_id,
                             subject=f"Re: [{ticket['reference']}] Our answer to your request")
    assert accepted["ticket_id"] != ticket["id"]
    theirs = await ticket_of(api, accepted["ticket_id"])
    assert theirs["customer_email"] == stranger
    assert [m["kind"] for m in await thread(api, ticket)] == ["feedback", "reply"]
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "answered"


async def test_an_answer_to_a_closed_ticket_opens_a_new_one_that_names_it(api: ApiEnv, workspace: str) -> None:
    ticket, message_id = await replied_ticket(api, workspace)
    for step in ("resolved", "closed"):
        answer = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": step, "comment": "done"})
        assert answer.status_code == 200, answer.text
    accepted = await inbound(api, workspace, ticket["customer_email"], "It broke again.", in_reply_to=message_id)
    assert accepted["ticket_id"] != ticket["id"]
    follow_up = await ticket_of(api, accepted["ticket_id"])
    log = (await api.http.get(f"/api/tickets/{follow_up['id']}/events")).json()
    assert f"It answers {ticket['reference']}, which is closed." in log[0]["comment"]
    assert follow_up["customer_comment"] == "It broke again."
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "closed"


async def test_the_reference_in_the_subject_still_threads_a_mail_without_headers(
    api: ApiEnv, workspace: str
) -> None:
    ticket, _ = await replied_ticket(api, workspace)
    accepted = await inbound(api, workspace, ticket["customer_email"].upper(), "Any news?",
                             subject=f"Re: [{ticket['reference']}] Our answer to your request")
    assert accepted["ticket_id"] == ticket["id"]
    assert [m["kind"] for m in await thread(api, ticket)][-1] == "customer_mail"
