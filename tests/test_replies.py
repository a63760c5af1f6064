"""Replies to the customer (POST /api/tickets/{id}/replies) and the
conversation (GET /api/tickets/{id}/messages), through the real API, the dev
server, both read models and a real SMTP server.

A reply is logged as a public message and mailed to the customer by the
outbox's mailer: in the customer's language, from the workspace's sender,
text and HTML, with a Message-ID of ours; the internal comment stays in the
log and never reaches the mail.
"""

from __future__ import annotations

import asyncio
import uuid
from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest

from api.dashboard.i18n import translations
from tests.api_fixtures import ApiEnv, Mailbox, SmtpServer, created, eventually, refused
from tests.test_customer_locale import SIGNATURE, parts_of, subject, with_identity
from tests.test_mail_privacy import raw

pytestmark = pytest.mark.dev_server


async def new_ticket(api: ApiEnv, workspace: str, locale: str = "en", **fields) -> dict:
    customer = f"pat-{uuid.uuid4().hex[:8]}@example.com"
    return await created(api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": customer, "customer_name": "Pat", "segment": "retail",
        "customer_locale": locale, "customer_comment": "The lid cracked on day one.", "comment": "Phoned in",
        **fields,
    }))


async def mails_to(api: ApiEnv, address: str, count: int) -> list:
    async def arrived() -> list | None:
        mails = api.mailbox.to(address)
        return mails if len(mails) >= count else None

    return await eventually(arrived, f"{count} mail(s) to {address}")


async def thread(api: ApiEnv, ticket: dict) -> list[dict]:
    answer = await api.http.get(f"/api/tickets/{ticket['id']}/messages")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_reply_reaches_the_customer_in_german_and_the_internal_comment_stays_inside(
    api: ApiEnv, workspace: str
) -> None:
    await with_identity(api, workspace)
    ticket = await new_ticket(api, workspace, locale="de")
    internal = f"Ersatz aus Leeds verschickt ({uuid.uuid4().hex[:6]})"
    body = "Liebe Pat,\n\nwir haben Ihnen heute einen neuen Deckel geschickt.\n\nViele Grüße\nAnn"

    answer = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies",
                                         json={"body": body, "comment": internal}))
    assert answer["ticket"]["status"] == "answered"
    message = answer["message"]
    assert (message["direction"], message["kind"], message["body"], message["locale"]) == ("out", "reply", body, "de")
    assert message["author"] == api.admin_username and message["delivery"] in ("queued", "sent")

    [mail] = await mails_to(api, ticket["customer_email"], 1)
    assert subject(mail) == translations("de").gettext("[{reference}] Our answer to your request").format(
        reference=ticket["reference"])
    assert subject(mail) == f"[{ticket['reference']}] Unsere Antwort auf Ihre Anfrage"
    assert parseaddr(str(make_header(decode_header(mail["From"])))) == ("ACME Kundendienst", "care@acme.example")
    assert parseaddr(mail["Reply-To"])[1] == "inbound@acme.example"
    assert mail["Message-ID"] == message["message_id"]
    parts = parts_of(mail)
    assert set(parts) == {"text/plain", "text/html"}
    assert parts["text/plain"].startswith(body) and parts["text/plain"].rstrip().endswith(SIGNATURE)
    assert "neuen Deckel" in parts["text/html"] and 'lang="de"' in parts["text/html"]
    everything = raw(mail)
    assert internal not in everything and "Leeds" not in everything and ticket["id"] not in everything

    # The conversation: the customer's feedback, then the reply, sent.
    messages = await eventually(
        lambda: when(thread(api, ticket), lambda m: m[-1]["delivery"] == "sent"), "the reply marked sent"
    )
    assert [(m["seq"], m["direction"], m["kind"]) for m in messages] == [
        (0, "in", "feedback"), (message["seq"], "out", "reply")]
    assert messages[0]["body"] == "The lid cracked on day one." and messages[0]["delivery"] == "received"
    assert all(internal not in m["body"] for m in messages)
    # The log keeps the internal comment, as the status change's.
    log = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["kind"], e["field"], e["comment"]) for e in log[1:]] == [
        ("replied", None, body), ("changed", "status", internal)]


async def when(pending, condition):
    value = await pending
    return value if condition(value) else None


async def test_a_reply_can_resolve_or_keep_the_status(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    kept = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies",
                                       json={"body": "We are on it.", "status": None}))
    assert kept["ticket"]["status"] == "new"
    log = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [e["kind"] for e in log] == ["created", "replied"]

    done = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies",
                                       json={"body": "A new lid is on its way.", "status": "resolved"}))
    assert done["ticket"]["status"] == "resolved"
    # Both replies, then "Is your request solved?" with its links.
    mails = await mails_to(api, ticket["customer_email"], 3)
    subjects = sorted(subject(mail) for mail in mails)
    assert subjects.count(f"[{ticket['reference']}] Our answer to your request") == 2
    assert f"[{ticket['reference']}] Is your request solved?" in subjects
    log = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["kind"], e["comment"]) for e in log[3:]] == [("changed", "Replied to the customer.")]


async def test_the_same_reply_sent_twice_with_one_key_is_one_reply(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = {"Idempotency-Key": f"reply-{uuid.uuid4().hex}"}
    body = {"body": "Sorry for the wait: it is fixed.", "comment": "retry test"}
    first = await api.http.post(f"/api/tickets/{ticket['id']}/replies", json=body, headers=key)
    second = await api.http.post(f"/api/tickets/{ticket['id']}/replies", json=body, headers=key)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json() == second.json()
    await mails_to(api, ticket["customer_email"], 1)
    await asyncio.sleep(1.5)  # past the outbox's settle second and the mailer's polls
    assert len(api.mailbox.to(ticket["customer_email"])) == 1
    assert [m["kind"] for m in await thread(api, ticket)] == ["feedback", "reply"]
    other = await api.http.post(f"/api/tickets/{ticket['id']}/replies", json={**body, "body": "Other"}, headers=key)
    assert other.status_code == 422, other.text


async def test_bad_replies_are_refused_with_a_reason(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    url = f"/api/tickets/{ticket['id']}/replies"
    await refused(api.http.post(url, json={"body": "   "}), 422)
    await refused(api.http.post(url, json={}), 422)
    await refused(api.http.post(url, json={"body": "x" * 20_001}), 422)
    await refused(api.http.post(url, json={"body": "Hi", "status": "closed"}), 422)
    await refused(api.http.post(url, json={"body": "Hi", "template_id": "no-such-template"}), 422, "no-such-template")
    await refused(api.http.post("/api/tickets/no-such-ticket/replies", json={"body": "Hi"}), 404)
    # Spam and deleted tickets take no reply.
    spam = await new_ticket(api, workspace)
    assert (await api.http.patch(f"/api/tickets/{spam['id']}",
                                 json={"status": "spam", "comment": "bot"})).status_code == 200
    await refused(api.http.post(f"/api/tickets/{spam['id']}/replies", json={"body": "Hi"}), 409, "spam")
    assert (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()[-1]["kind"] == "created"
    assert api.mailbox.to(ticket["customer_email"]) == []


async def test_a_reply_from_a_template_of_the_workspace(api: ApiEnv, workspace: str) -> None:
    template = await created(api.http.post("/api/reply-templates", json={
        "workspace_id": workspace, "name": f"Sorry {uuid.uuid4().hex[:6]}",
        "bodies": {"en": "Hello {customer_name}, sorry about {reference}."}}))
    ticket = await new_ticket(api, workspace)
    answer = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies", json={
        "body": f"Hello Pat, sorry about {ticket['reference']}.", "template_id": template["id"]}))
    assert answer["message"]["body"] == f"Hello Pat, sorry about {ticket['reference']}."


async def test_a_reply_while_the_mail_server_is_away_is_queued_then_sent(
    api: ApiEnv, workspace: str, smtp_server: tuple[SmtpServer, Mailbox]
) -> None:
    server, _ = smtp_server
    ticket = await new_ticket(api, workspace)
    server.stop()
    try:
        answer = await created(api.http.post(f"/api/tickets/{ticket['id']}/replies",
                                             json={"body": "Sorry for the trouble."}))
        assert answer["message"]["delivery"] == "queued"
        # The mailer tried and failed: still queued, with why.
        waiting = await eventually(
            lambda: when(thread(api, ticket), lambda m: m[-1]["error"] is not None), "a failed attempt"
        )
        assert waiting[-1]["delivery"] == "queued" and "refused" in waiting[-1]["error"].lower()
    finally:
        server.start()
    [mail] = await mails_to(api, ticket["customer_email"], 1)
    assert mail["Message-ID"] == answer["message"]["message_id"]
    sent = await eventually(lambda: when(thread(api, ticket), lambda m: m[-1]["delivery"] == "sent"), "sent")
    assert sent[-1]["error"] is None
