"""Opening a ticket in the dashboard (issue 14, defect 6), in a real browser
(Debian's Chromium driven by Playwright) against the app served by uvicorn,
a real worker and the shared dev server (tests/dashboard_fixtures.py).

The new-ticket dialog offers exactly where the reader may open a ticket
(domain/access.py): an admin every segment, a manager the segments they
manage, an agent the segments they work in, with themselves as the owner.
Every refusal is worded for a person: a field the API finds invalid gets the
dialog's own message under it, never pydantic's text, and any other refusal
shows the API's detail in the reader's language.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import Segment, SegmentManager, UserRole
from tests.api_fixtures import name_in
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page

pytestmark = pytest.mark.dev_server

# Pydantic's words for the fields the dialog sends: none may reach a person.
PYDANTIC_WORDS = re.compile(r"value is not a valid|String should|Field required|body\.|customer_email:")


def agent_in(env: DashboardEnv, workspace: str, *segments: str) -> str:
    """A new agent who works in `segments` (a segment_managers membership)."""
    username = name_in(workspace, f"agent-{uuid.uuid4().hex[:4]}")
    user_id = env.user(username, UserRole.AGENT)
    with Session(env.engine) as session, session.begin():
        for name in segments:
            segment_id = session.scalar(
                select(Segment.id).where(Segment.workspace_id == workspace, Segment.name == name)
            )
            session.add(SegmentManager(segment_id=segment_id, user_id=user_id))
    return username


async def open_dialog(page: Page, env: DashboardEnv, workspace: str):
    await page.goto(env.url(f"/dashboard/tickets?workspace={workspace}"))
    await page.get_by_role("button", name=re.compile("New ticket|Neues Ticket")).click()
    dialog = page.locator("#new-ticket-dialog")
    await expect(dialog).to_be_visible()
    return dialog


async def segment_choices(dialog) -> list[str]:
    return await dialog.locator("select[name=segment] option").evaluate_all("options => options.map(o => o.value)")


async def test_an_agent_opens_a_ticket_in_their_segment_as_its_owner(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    agent = agent_in(dashboard, ws, "retail")
    page = await new_page(browser, dashboard, username=agent)
    try:
        dialog = await open_dialog(page, dashboard, ws)
        # Only the segment they work in; the owner is them, not a choice.
        assert await segment_choices(dialog) == ["retail"]
        owner = dialog.get_by_label("Ticket owner")
        await expect(owner).to_be_disabled()
        await expect(owner).to_have_value(agent)
        await expect(dialog).to_contain_text("Tickets you open are yours.")
        await dialog.get_by_label("Customer email").fill("walk-in@example.com")
        await dialog.get_by_label(re.compile("^Comment")).fill("Came to the shop about a refund")
        await page.screenshot(path=str(ARTIFACTS / "dashboard-new-ticket-agent.png"))
        await dialog.get_by_role("button", name="Create ticket").click()
        await page.wait_for_url(re.compile(r"/dashboard/tickets/[0-9a-f-]{36}$"))
        ticket = (await dashboard.http.get(f"/api/tickets/{page.url.rsplit('/', 1)[1]}")).json()
        assert (ticket["segment"], ticket["owner"], ticket["customer_email"]) == (
            "retail", agent, "walk-in@example.com")
        assert page.script_errors == []
    finally:
        await page.context.close()


async def test_a_manager_is_offered_the_segments_they_manage_and_their_managers(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    page = await new_page(browser, dashboard, username=name_in(ws, "bob"))
    try:
        dialog = await open_dialog(page, dashboard, ws)
        assert await segment_choices(dialog) == ["b2b"]
        owners = await dialog.get_by_label("Ticket owner").locator("option").evaluate_all(
            "options => options.map(o => o.value)")
        assert owners == ["", name_in(ws, "bob"), name_in(ws, "cy")]
        await expect(dialog.get_by_label("Ticket owner")).to_be_enabled()
    finally:
        await page.context.close()


async def test_an_agent_in_no_segment_is_told_why_they_cannot_open_one(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    agent = agent_in(dashboard, ws)  # works nowhere
    page = await new_page(browser, dashboard, username=agent)
    try:
        dialog = await open_dialog(page, dashboard, ws)
        assert await segment_choices(dialog) == []
        await expect(dialog.locator("[data-no-segment]")).to_have_text(
            "You work in no segment of this workspace, so you cannot open tickets here. "
            "An admin can add you to a segment.")
        await expect(dialog.get_by_role("button", name="Create ticket")).to_be_disabled()
    finally:
        await page.context.close()


async def test_invalid_fields_are_said_under_each_field_not_in_pydantics_words(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    dialog = await open_dialog(page, dashboard, dashboard_workspace)
    email_error = dialog.locator('[data-error-for="customer_email"]')
    comment_error = dialog.locator('[data-error-for="comment"]')
    # Nothing typed: both required fields say what they need.
    await dialog.get_by_role("button", name="Create ticket").click()
    await expect(email_error).to_have_text("Enter the customer's email address, like name@example.com.")
    await expect(comment_error).to_have_text("Say why the ticket is opened, in at most 10,000 characters.")
    await expect(dialog.get_by_label("Customer email")).to_have_attribute("aria-invalid", "true")
    # An address the browser takes but the API refuses (no domain): the
    # API's 422 lists the field; the dialog says it in its own words.
    await dialog.get_by_label("Customer email").fill("pat@localhost")
    await expect(email_error).to_be_hidden()
    await dialog.get_by_label(re.compile("^Comment")).fill("Phoned in")
    await dialog.get_by_role("button", name="Create ticket").click()
    await expect(email_error).to_have_text("Enter the customer's email address, like name@example.com.")
    await expect(comment_error).to_be_hidden()
    assert not PYDANTIC_WORDS.search(await dialog.inner_text())
    assert page.script_errors == []


async def test_a_refusal_shows_the_apis_detail_in_the_readers_language(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    """The agent's membership ends while the dialog is open: the API refuses
    (403) and the dialog says why, in German for a German reader."""
    ws = dashboard_workspace
    agent = agent_in(dashboard, ws, "support")
    page = await new_page(browser, dashboard, username=agent, locale="de-DE")
    try:
        dialog = await open_dialog(page, dashboard, ws)
        assert await segment_choices(dialog) == ["support"]
        with Session(dashboard.engine) as session, session.begin():
            user_id = dashboard.user(agent, UserRole.AGENT)
            session.execute(delete(SegmentManager).where(SegmentManager.user_id == user_id))
        await dialog.locator("input[name=customer_email]").fill("pat@example.com")
        await dialog.locator("textarea[name=comment]").fill("Rief an")
        await dialog.locator("button[type=submit]").click()
        error = dialog.locator(".form-error")
        await expect(error).to_be_visible()
        text = await error.inner_text()
        assert text.startswith("Das Ticket wurde nicht eröffnet:"), text
        assert "Segment" in text and ws in text and "You work" not in text, text
        assert not PYDANTIC_WORDS.search(text)
    finally:
        await page.context.close()
