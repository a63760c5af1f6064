"""The customer's history in the ticket page (issue 15): a summary ("2
detractor responses this year") and the customer's other tickets and
responses, with links, in the reader's language and within their reach.

A real browser (Chromium through Playwright) against the app served by
uvicorn (tests/dashboard_fixtures.py); the tickets and responses are written
straight into the read model (no workflow needed to read them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect
from sqlalchemy.orm import Session

from domain.ticket import Source
from store.models import Survey, SurveyResponse as SurveyResponseRow, UserRole
from tests.api_fixtures import name_in
from tests.dashboard_fixtures import DashboardEnv, new_page, no_script_errors, read_only_tickets


def customer_with_history(dashboard: DashboardEnv, workspace: str, email: str):
    """This ticket (retail, from `email`), an earlier survey ticket of theirs in
    b2b with its detractor response, a detractor response that made no ticket
    and a promoter's; the current one last."""
    now = datetime.now(UTC)
    with Session(dashboard.engine) as session, session.begin():
        survey = Survey(workspace_id=workspace, name="NPS", webhook_secret="s" * 32)
        session.add(survey)
        session.flush()
        survey_id = survey.id
    earlier, current = read_only_tickets(workspace, [
        {"customer_email": email.upper(), "segment": "b2b", "source": Source.SURVEY, "score": 3,
         "reported_at": now - timedelta(minutes=30)},
        {"customer_email": email, "segment": "retail", "reported_at": now - timedelta(minutes=1)},
    ])
    earlier = earlier.model_copy(update={"survey_id": survey_id, "response_id": earlier.id})
    dashboard.store.bulk_insert_states([earlier, current])
    with Session(dashboard.engine) as session, session.begin():
        for key, score, minutes in ((earlier.id, 3, 31), (str(uuid.uuid4()), 1, 20), (str(uuid.uuid4()), 10, 10)):
            received = now - timedelta(minutes=minutes)
            session.add(SurveyResponseRow(
                id=key, survey_id=survey_id, received_at=received, score=score, customer_email=email,
                payload={"survey_id": survey_id, "response_id": key, "submitted_at": received.isoformat()},
            ))
    return earlier, current


async def test_the_ticket_page_shows_the_customers_history_in_german(browser, dashboard: DashboardEnv,
                                                                      dashboard_workspace: str) -> None:
    email = f"kim.{uuid.uuid4().hex[:6]}@example.com"
    earlier, current = customer_with_history(dashboard, dashboard_workspace, email)
    page = await new_page(browser, dashboard, locale="de-DE")
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets/{current.id}"))
        history = page.locator("[data-history]")
        await expect(history.get_by_role("heading")).to_have_text("Kundenhistorie")
        # The admin sees both detractor responses of this year, both tickets, all three responses.
        await expect(history.locator(".history-summary")).to_contain_text("2 Kritiker-Antworten in diesem Jahr")
        await expect(history.locator(".history-summary")).to_contain_text("2 Tickets")
        await expect(history.locator(".history-summary")).to_contain_text("3 Umfrageantworten")
        await expect(history.locator(f'[data-history-ticket="{current.id}"]')).to_contain_text("dieses Ticket")
        # The earlier ticket is a link to its page.
        await history.locator(f'[data-history-ticket="{earlier.id}"] a').click()
        await expect(page).to_have_url(dashboard.url(f"/dashboard/tickets/{earlier.id}"))
        await expect(page.locator("h1")).to_contain_text(earlier.reference)
        no_script_errors(page)
    finally:
        await page.context.close()


async def test_a_manager_sees_only_the_history_in_reach(browser, dashboard: DashboardEnv,
                                                        dashboard_workspace: str) -> None:
    email = f"kim.{uuid.uuid4().hex[:6]}@example.com"
    earlier, current = customer_with_history(dashboard, dashboard_workspace, email)
    manager = name_in(dashboard_workspace, "ann")  # manages retail, not b2b
    dashboard.user(manager, UserRole.MANAGER)
    page = await new_page(browser, dashboard, username=manager)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets/{current.id}"))
        history = page.locator("[data-history]")
        await expect(history.locator(".history-summary")).to_have_text("1 ticket · 0 survey responses")
        await expect(history.locator(f'[data-history-ticket="{earlier.id}"]')).to_have_count(0)
        await expect(history.locator("[data-history-response]")).to_have_count(0)
        no_script_errors(page)
    finally:
        await page.context.close()
