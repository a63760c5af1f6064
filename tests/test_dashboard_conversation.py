"""The conversation with the customer on the ticket page, in a real browser
(Chromium through Playwright) against the app served by uvicorn, with the
outbox's mailer sending to a real SMTP server.

A reply is written from a template filled in the customer's language,
edited, sent (one Idempotency-Key per reply: a retry after a lost answer
is the same reply) and shown in the conversation with its mail's delivery;
the mail reaches the customer without the internal note, which is in the
internal tab only. The reply form and the internal one are told apart by
their words and their colours; a closed ticket offers no reply. The list
and the kanban say who spoke last, after a reply and after the customer's
mail. In English and in German.

Screenshots land in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import update
from sqlalchemy.orm import Session

from activities.mail import MailActivities
from activities.mailer import Mailer
from activities.notices import NoticeActivities
from api.dashboard import i18n
from api.intake.adapters import sign_cxloop
from store import outbox
from store.models import User
from tests.api_fixtures import Mailbox, eventually
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page, no_script_errors
from tests.test_customer_locale import parts_of
from tests.test_mail_privacy import raw

pytestmark = pytest.mark.dev_server

TEMPLATE_BODIES = {
    "en": "Dear {customer_name},\n\nabout {reference}: a new lid is on its way.\n\n{agent_name}, {workspace_name}",
    "de": "Liebe(r) {customer_name},\n\nzu {reference}: ein neuer Deckel ist unterwegs.\n\n{agent_name}, {workspace_name}",
}


@pytest.fixture(scope="module")
async def mailbox(dashboard: DashboardEnv, smtp_server) -> AsyncIterator[Mailbox]:
    """The worker process's mailer beside the dashboard's worker: the
    outbox's mails go to the session's SMTP server."""
    controller, mailbox = smtp_server
    mail = MailActivities(controller.hostname, controller.port, "cxloop <no-reply@cxloop.test>",
                          wording=i18n, engine=dashboard.engine)
    notices = NoticeActivities(dashboard.engine, mail, dashboard.settings.secret_key, dashboard.settings.public_url)
    async with Mailer(dashboard.engine, notices, poll_interval=0.1):
        yield mailbox


async def mail_to(mailbox: Mailbox, address: str) -> object:
    async def arrived():
        return mailbox.to(address)

    [mail] = await eventually(arrived, f"the reply's mail to {address}")
    return mail


@dataclass
class Scene:
    agent: str  # username, signed in
    agent_name: str  # display name
    ticket: dict

    def template_text(self, language: str) -> str:
        """The template's text in `language`, filled in for this ticket and agent."""
        return TEMPLATE_BODIES[language].format(
            customer_name="Pat Lee", reference=self.ticket["reference"], agent_name=self.agent_name,
            workspace_name=f"Workspace {self.ticket['workspace_id']}")


async def set_up(dashboard: DashboardEnv, workspace: str, *, locale: str) -> Scene:
    """A reply template (English and German), an agent with a display name,
    and a ticket of a named customer who speaks `locale`."""
    answer = await dashboard.http.post("/api/reply-templates", json={
        "workspace_id": workspace, "name": "New lid", "bodies": TEMPLATE_BODIES})
    assert answer.status_code == 201, answer.text
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    agent_name = f"Dana {agent[-4:]}"
    dashboard.user(agent)
    with Session(dashboard.engine) as session, session.begin():
        session.execute(update(User).where(User.username == agent).values(display_name=agent_name))
    answer = await dashboard.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": f"pat-{uuid.uuid4().hex[:8]}@example.com",
        "customer_name": "Pat Lee", "customer_locale": locale, "segment": "retail",
        "customer_comment": "The lid cracked on day one.", "comment": "Phoned in"})
    assert answer.status_code == 201, answer.text
    return Scene(agent=agent, agent_name=agent_name, ticket=answer.json())


async def messages_of(dashboard: DashboardEnv, ticket: dict) -> list[dict]:
    answer = await dashboard.http.get(f"/api/tickets/{ticket['id']}/messages")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def customer_writes(dashboard: DashboardEnv, ticket: dict, in_reply_to: str, text: str) -> None:
    """The customer's answer, as the inbound-mail service posts it (signed)."""
    body = json.dumps({
        "message_id": f"<{uuid.uuid4().hex}@mail.example.com>", "from": ticket["customer_email"], "text": text,
        "workspace_id": ticket["workspace_id"], "in_reply_to": in_reply_to, "subject": "Re: your answer"}).encode()
    stamp = int(time.time())
    answer = await dashboard.http.post("/api/intake/email", content=body, headers={
        "X-Cxloop-Timestamp": str(stamp),
        "X-Cxloop-Signature": sign_cxloop(dashboard.settings.inbound_email_secret, stamp, body)})
    assert answer.status_code == 202, answer.text
    assert answer.json()["ticket_id"] == ticket["id"]


async def reload_until_sent(page: Page, message) -> None:
    """The mail leaves a settle second after the reply: reload (bounded) until the badge says so."""
    badge = message.locator("[data-delivery-badge]")
    for _ in range(40):
        if await message.get_attribute("data-delivery") == "sent":
            return
        await asyncio.sleep(0.25)
        await page.reload()
    await expect(message).to_have_attribute("data-delivery", "sent")
    await expect(badge).to_be_visible()


async def who_spoke_last(page: Page, dashboard: DashboardEnv, ticket: dict, expected: str, text: str) -> None:
    """The list's row and the kanban's card of the ticket say who spoke last, with the time in the title."""
    workspace = ticket["workspace_id"]
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={workspace}"))
    badge = page.locator(f"tr[data-ticket-id='{ticket['id']}'] [data-last-word]")
    await expect(badge).to_have_attribute("data-last-word", expected)
    await expect(badge).to_have_text(text)
    assert await badge.get_attribute("title")  # the time, on hover
    await page.goto(dashboard.url(f"/dashboard/kanban?workspace={workspace}"))
    card = page.locator(f".card[data-ticket-id='{ticket['id']}'] [data-last-word]")
    await expect(card).to_have_attribute("data-last-word", expected)
    await expect(card).to_have_text(text)


async def test_a_reply_from_a_template_in_english(
    browser, dashboard: DashboardEnv, dashboard_workspace: str, mailbox: Mailbox
) -> None:
    scene = await set_up(dashboard, dashboard_workspace, locale="de")
    ticket = scene.ticket
    page = await new_page(browser, dashboard, username=scene.agent)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
        reply_panel, internal_panel = page.locator(".reply-panel"), page.locator(".internal-panel")
        # Told apart by their words...
        await expect(reply_panel.get_by_role("heading")).to_have_text("Public Reply to customer")
        await expect(reply_panel).to_contain_text(f"The customer receives this by mail at {ticket['customer_email']}.")
        await expect(reply_panel).to_contain_text("The customer's language: Deutsch.")
        await expect(internal_panel.get_by_role("heading")).to_have_text("Internal Comment or change")
        await expect(internal_panel).to_contain_text("Only your team sees this.")
        # ...and by their colours.
        accents = [await panel.evaluate("e => getComputedStyle(e).borderTopColor")
                   for panel in (reply_panel, internal_panel)]
        assert accents[0] != accents[1], accents
        send = reply_panel.get_by_role("button", name="Send reply")
        update_button = internal_panel.get_by_role("button", name="Update ticket")
        assert await send.evaluate("e => getComputedStyle(e).backgroundColor") != await update_button.evaluate(
            "e => getComputedStyle(e).backgroundColor")

        # The conversation starts with the customer's feedback, on the left.
        conversation = page.locator("#panel-conversation")
        await expect(page.get_by_role("tab", name="Conversation")).to_have_attribute("aria-selected", "true")
        first = conversation.locator(".message").first
        await expect(first).to_have_class("message message-in")
        await expect(first).to_contain_text("Pat Lee")
        await expect(first).to_contain_text("The lid cracked on day one.")

        # Nothing to send yet: said, nothing sent.
        form = page.locator("#reply-form")
        await send.click()
        await expect(form.locator(".form-error")).to_have_text("Write the reply first.")

        # The template, in the customer's German, filled in for this ticket and this agent.
        await form.get_by_label("Template").select_option(label="New lid")
        text = form.get_by_label("Reply", exact=False)
        expected = scene.template_text("de")
        await expect(text).to_have_value(expected)
        await expect(form.locator(".template-hint")).to_be_hidden()
        # Edited before sending; the status stays "Answered"; a note for the team.
        await text.fill(expected.replace("ein neuer Deckel", "ein neuer, stabilerer Deckel"))
        await expect(form.get_by_label("Status after sending")).to_have_value("answered")
        note = f"Shipped from Leeds {uuid.uuid4().hex[:6]}"
        await form.get_by_label("Internal note (optional)").fill(note)

        # The first answer is lost on its way back: the person sends again, and
        # the same Idempotency-Key makes it the same reply.
        keys: list[str] = []

        async def lose_the_first_answer(route) -> None:
            keys.append(route.request.headers.get("idempotency-key", ""))
            if len(keys) == 1:
                await route.fetch()  # the server made the reply...
                await route.abort()  # ...but the browser never hears of it
            else:
                await route.continue_()

        await page.route("**/replies", lose_the_first_answer)
        await send.click()
        await expect(form.locator(".form-error")).to_contain_text("Not sent:")
        async with page.expect_navigation():
            await send.click()
        assert len(keys) == 2 and keys[0] == keys[1] and keys[0], keys
        await page.unroute("**/replies")

        # The reply, on the right, by the agent's name, with its delivery.
        reply = conversation.locator(".message-out")
        await expect(reply).to_have_count(1)
        await expect(reply).to_contain_text("ein neuer, stabilerer Deckel")
        await expect(reply.locator(".message-author")).to_have_text(scene.agent_name)
        badges = {"queued": "Queued", "sent": "Sent"}
        await expect(reply.locator("[data-delivery-badge]")).to_have_text(
            badges[await reply.get_attribute("data-delivery")])
        await expect(page.locator("#toast")).to_have_text("Reply sent: the customer receives it by mail.")
        await expect(reply).to_be_focused()
        await reload_until_sent(page, reply)
        await expect(reply.locator("[data-delivery-badge]")).to_have_text("Sent")
        # The note is not part of the conversation.
        await expect(conversation).not_to_contain_text(note)
        await page.screenshot(path=str(ARTIFACTS / "ticket-conversation.png"), full_page=True)

        # The mail: the edited text, once, without the note.
        mail = await mail_to(mailbox, ticket["customer_email"])
        assert "ein neuer, stabilerer Deckel" in parts_of(mail)["text/plain"]
        assert note not in raw(mail) and "Leeds" not in raw(mail)
        [sent] = [m for m in await messages_of(dashboard, ticket) if m["kind"] == "reply"]
        assert sent["message_id"] == mail["Message-ID"]
        assert (await dashboard.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "answered"

        # The note is in the internal tab (keyboard: the arrow moves between tabs).
        internal_tab = page.get_by_role("tab", name="Internal comments & log")
        await page.get_by_role("tab", name="Conversation").focus()
        await page.keyboard.press("ArrowRight")
        await expect(internal_tab).to_be_focused()
        await expect(internal_tab).to_have_attribute("aria-selected", "true")
        internal = page.locator("#panel-internal")
        await expect(internal).to_be_visible()
        await expect(conversation).to_be_hidden()
        await expect(internal.locator(".comments")).to_contain_text(note)
        await expect(internal.locator(".comments")).not_to_contain_text("stabilerer Deckel")
        await expect(internal.locator("table.log")).to_contain_text("Replied to the customer")
        # The choice of tab survives a reload.
        await page.reload()
        await expect(internal).to_be_visible()

        # Who spoke last: we did; then the customer answers the mail.
        await who_spoke_last(page, dashboard, ticket, "out", "We replied")
        await customer_writes(dashboard, ticket, mail["Message-ID"], "Thanks, it arrived!")
        await who_spoke_last(page, dashboard, ticket, "in", "Customer replied")
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}#conversation"))
        last = conversation.locator(".message").last
        await expect(last).to_have_class("message message-in")
        await expect(last).to_contain_text("Thanks, it arrived!")
        await expect(last).to_contain_text("By mail")

        # Closed: no reply form, the reason instead.
        for status in ("resolved", "closed"):
            answer = await dashboard.http.patch(f"/api/tickets/{ticket['id']}", json={"status": status, "comment": "done"})
            assert answer.status_code == 200, answer.text
        await page.reload()
        await expect(page.locator("#reply-form")).to_have_count(0)
        await expect(reply_panel).to_contain_text("This ticket is closed: the customer can no longer be answered here.")
        # The conversation stays readable.
        await expect(conversation.locator(".message")).to_have_count(3)
        no_script_errors(page)
    finally:
        await page.context.close()


async def test_a_reply_in_german_falls_back_to_the_english_text(
    browser, dashboard: DashboardEnv, dashboard_workspace: str, mailbox: Mailbox
) -> None:
    # A Spanish customer: the template has no Spanish text, the workspace speaks English.
    scene = await set_up(dashboard, dashboard_workspace, locale="es")
    ticket = scene.ticket
    page = await new_page(browser, dashboard, username=scene.agent, locale="de-DE")
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
        reply_panel = page.locator(".reply-panel")
        await expect(reply_panel.get_by_role("heading")).to_have_text("Öffentlich Antwort an den Kunden")
        await expect(reply_panel).to_contain_text("Der Kunde erhält dies per E-Mail")
        await expect(page.locator(".internal-panel")).to_contain_text("Nur Ihr Team sieht dies.")
        form = page.locator("#reply-form")
        await form.get_by_role("button", name="Antwort senden").click()
        await expect(form.locator(".form-error")).to_have_text("Schreiben Sie zuerst die Antwort.")

        await form.get_by_label("Vorlage").select_option(label="New lid")
        text = form.get_by_label("Antwort", exact=False)
        await expect(text).to_have_value(scene.template_text("en"))
        await expect(form.locator(".template-hint")).to_have_text(
            "Diese Vorlage hat keinen Text auf Español: ausgefüllt auf English.")
        await text.press("Control+End")
        await text.press_sequentially("\nP.S. Sorry!")
        # Kept open: the customer is still waiting for the lid.
        await form.get_by_label("Status nach dem Senden").select_option("open")
        note = f"Bei Leeds bestellt {uuid.uuid4().hex[:6]}"
        await form.get_by_label("Interne Notiz (optional)").fill(note)
        async with page.expect_navigation():
            await form.get_by_role("button", name="Antwort senden").click()

        conversation = page.locator("#panel-conversation")
        reply = conversation.locator(".message-out")
        await expect(reply).to_contain_text("P.S. Sorry!")
        badges = {"queued": "In der Warteschlange", "sent": "Gesendet"}
        await expect(reply.locator("[data-delivery-badge]")).to_have_text(
            badges[await reply.get_attribute("data-delivery")])
        mail = await mail_to(mailbox, ticket["customer_email"])
        assert "P.S. Sorry!" in parts_of(mail)["text/plain"] and note not in raw(mail)
        assert (await dashboard.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "open"
        await reload_until_sent(page, reply)
        await expect(reply.locator("[data-delivery-badge]")).to_have_text("Gesendet")
        await expect(conversation).not_to_contain_text(note)
        await page.get_by_role("tab", name="Interne Kommentare und Protokoll").click()
        await expect(page.locator("#panel-internal .comments")).to_contain_text(note)

        # At a phone's width the page does not pan sideways.
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
        await page.screenshot(path=str(ARTIFACTS / "ticket-conversation-phone-de.png"), full_page=True)
        await page.set_viewport_size({"width": 1280, "height": 900})

        # A mail the server refused for good: the badge and the reason.
        [delivery] = [d for d in outbox.deliveries(dashboard.engine, ticket["id"]) if d.to_customer]
        outbox.mark_failed(dashboard.engine, delivery.key, "550 mailbox unavailable")
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
        await expect(reply.locator("[data-delivery-badge]")).to_have_text("Nicht zugestellt")
        await expect(reply.locator(".delivery-error")).to_have_text("Nicht zugestellt: 550 mailbox unavailable")

        # Who spoke last, in German.
        await who_spoke_last(page, dashboard, ticket, "out", "Wir haben geantwortet")
        await customer_writes(dashboard, ticket, mail["Message-ID"], "¡Gracias!")
        await who_spoke_last(page, dashboard, ticket, "in", "Kunde hat geantwortet")
        await page.screenshot(path=str(ARTIFACTS / "kanban-who-spoke-last-de.png"))

        # Spam takes no reply either.
        answer = await dashboard.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "spam", "comment": "x"})
        assert answer.status_code == 200, answer.text
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
        await expect(page.locator("#reply-form")).to_have_count(0)
        await expect(reply_panel.locator(".notice")).to_be_visible()
        no_script_errors(page)
    finally:
        await page.context.close()
