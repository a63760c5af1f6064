"""What a customer's mail may carry: never the team's internal comment, never
a machine id; always a text and an HTML part. Over real HTTP, the dev server
and a real SMTP server (tests/api_fixtures.py's Mailbox), on both databases."""

from __future__ import annotations

import asyncio
import re
import uuid

from tests.api_fixtures import ApiEnv, eventually


def parts_of(mail) -> dict[str, str]:
    """Each text part of a received mail by its content type, decoded."""
    return {
        part.get_content_type(): part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        for part in mail.walk()
        if part.get_content_maintype() == "text"
    }


def raw(mail) -> str:
    """Everything the customer's mail client holds: headers and every part."""
    return "\n".join([*(f"{name}: {value}" for name, value in mail.items()), *parts_of(mail).values()])


async def mail_to(api: ApiEnv, address: str) -> object:
    mails = await eventually(lambda: asyncio.sleep(0, result=api.mailbox.to(address)), f"a mail to {address}")
    assert len(mails) == 1, [m["Subject"] for m in mails]
    return mails[0]


async def test_the_resolving_comment_never_reaches_the_customer(api: ApiEnv, workspace: str) -> None:
    customer = f"her-{uuid.uuid4().hex[:8]}@example.com"
    created = await api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": customer, "customer_name": "Ilse", "segment": "retail",
        "comment": "Phoned in: the app crashes at start"})
    assert created.status_code == 201, created.text
    ticket = created.json()
    internal = f"Called her, reinstalled the app ({uuid.uuid4().hex[:6]})"
    resolved = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "resolved", "comment": internal})
    assert resolved.status_code == 200, resolved.text

    mail = await mail_to(api, customer)
    parts = parts_of(mail)
    assert mail.get_content_type() == "multipart/alternative"
    assert set(parts) == {"text/plain", "text/html"}
    everything = raw(mail)
    assert "reinstalled" not in everything and internal not in everything
    # Still the mail that closes the loop: the request is solved, with both links.
    assert ticket["reference"] in mail["Subject"] and "Is your request solved?" in mail["Subject"]
    for part in parts.values():
        assert "solved" in part and ticket["reference"] in part
        assert len(set(re.findall(r"/customer/tickets/[\w.-]+", part))) == 2
    assert "Hello Ilse" in parts["text/plain"]
    # No machine id: neither the ticket's id nor its workflow's.
    assert ticket["id"] not in everything


async def test_the_automatic_reply_is_text_and_html_without_machine_ids(api: ApiEnv, workspace: str) -> None:
    customer = f"form-{uuid.uuid4().hex[:8]}@example.com"
    answer = await api.http.post("/api/intake/form", json={
        "workspace_id": workspace, "customer_email": customer, "customer_name": "Sam",
        "subject": "Broken lid", "message": "The lid cracked on day one.", "segment": "support"})
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    mail = await mail_to(api, customer)
    parts = parts_of(mail)
    assert set(parts) == {"text/plain", "text/html"}
    for part in parts.values():
        assert accepted["reference"] in part and "Sam" in part
    assert accepted["ticket_id"] not in raw(mail)
