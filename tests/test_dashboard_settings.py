"""The settings screens in a real browser (Debian's Chromium driven by
Playwright) against the app served by uvicorn, a real worker and the shared
dev server: an admin sets up users, API tokens, segments, a survey with its
webhook and alert rules, and escalation rules, as a person would (filling the
forms, clicking), sees the result on the page, and each test checks the
effect through the API or the database.

Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from api.intake.adapters import sign_cxloop
from store import accounts, configuration
from store.models import UserRole
from tests.api_fixtures import eventually, name_in
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page

pytestmark = pytest.mark.dev_server


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"settings-{name}.png"), full_page=True)


def no_script_errors(page: Page) -> None:
    assert page.script_errors == [], page.script_errors


async def settings(page: Page, dashboard: DashboardEnv, workspace: str, section: str = "") -> None:
    await page.goto(dashboard.url(f"/dashboard/settings?workspace={workspace}{section}"))


def accept_dialogs(page: Page) -> list[str]:
    """Confirm every window.confirm; the questions asked, in order."""
    asked: list[str] = []

    async def accept(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return asked


async def api_json(dashboard: DashboardEnv, path: str) -> dict | list:
    answer = await dashboard.http.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- surveys: mapping, webhook, secret, a test response ---------------------------------


async def test_a_survey_made_in_the_dashboard_receives_responses(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    asked = accept_dialogs(page)
    await settings(page, dashboard, ws)
    new_survey = page.locator("#surveys form.boxed")
    await new_survey.get_by_label("Name").fill("Post-purchase NPS")
    await new_survey.get_by_label("Default segment").select_option("retail")
    await new_survey.get_by_role("button", name="Create survey").click()
    article = page.locator("article.survey", has_text="Post-purchase NPS")
    await expect(article).to_be_visible()
    [survey] = configuration.list_surveys(dashboard.engine, ws)
    assert survey.field_mapping == configuration.DEFAULT_FIELD_MAPPING
    assert survey.default_segment == "retail"

    # What to paste into the platform: the URL and the secret, as the API has them.
    url = await article.get_by_label("Webhook URL").input_value()
    assert url == f"{dashboard.settings.public_url}/api/webhooks/surveys/{survey.id}"
    secret = await article.get_by_label("Webhook secret").input_value()
    assert secret == (await api_json(dashboard, f"/api/surveys/{survey.id}"))["webhook_secret"]
    await article.get_by_label("Webhook secret").locator("..").get_by_role("button", name="Copy").click()
    await expect(page.locator("#toast")).to_have_text("Copied.")

    # The platform delivers a typical response, signed with what the page showed.
    body = json.dumps({
        "response_id": uuid.uuid4().hex,
        "answers": {"nps": 4, "comment": "Too slow", "email": "pat@example.com", "name": "Pat"},
    }).encode()
    timestamp = int(time.time())
    # (CXLOOP_PUBLIC_URL names the address the platform reaches; here, the test's server.)
    async with httpx.AsyncClient() as platform:
        delivered = await platform.post(dashboard.url(url.removeprefix(dashboard.settings.public_url)), content=body, headers={
            "X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body),
            "content-type": "application/json"})
    assert delivered.status_code == 202, delivered.text
    ticket_id = delivered.json()["response_id"]
    made = await eventually(lambda: _ticket(dashboard, ticket_id), "the delivered response's ticket")
    assert (made["customer_email"], made["score"], made["segment"]) == ("pat@example.com", 4, "retail")

    # The mapping, with the question keys: the email now comes in a hidden field.
    await article.get_by_label("Customer email", exact=True).fill("hidden:mail")
    await article.get_by_label("Required (Score (0-10))").check()
    await article.get_by_role("button", name="Save survey").click()
    await expect(page.locator("#toast")).to_have_text("Saved.")
    mapping = (await api_json(dashboard, f"/api/surveys/{survey.id}"))["field_mapping"]
    assert mapping["customer_email"] == "hidden:mail"
    assert sorted(mapping["required"]) == ["customer_email", "score"]
    article = page.locator("article.survey", has_text="Post-purchase NPS")
    # Keys seen in its responses are offered.
    await expect(article.locator("datalist option[value=nps]")).to_have_count(1)

    # A test response goes through the signed webhook and makes a ticket.
    await article.get_by_label("Score of the test response").fill("2")
    await article.get_by_role("button", name="Send a test response").click()
    result = article.locator(".test-result")
    await expect(result).to_contain_text("Accepted (202): the response made ticket CX-", timeout=30_000)
    reference = (await result.inner_text()).split("ticket ")[1].split(".")[0]
    await shot(page, "survey-test-response")
    await result.get_by_role("link", name="Open the ticket").click()
    await expect(page.locator("h1")).to_contain_text(reference)
    [test_ticket] = [t for t in (await api_json(dashboard, f"/api/tickets?workspace={ws}"))["items"]
                     if t["reference"] == reference]
    assert (test_ticket["source"], test_ticket["score"], test_ticket["customer_email"]) == (
        "survey", 2, "test.customer@example.com"
    )

    # Without the email's mapping, the test shows the webhook's refusal.
    await settings(page, dashboard, ws)
    article = page.locator("article.survey", has_text="Post-purchase NPS")
    await article.get_by_label("Customer email", exact=True).fill("")
    await article.get_by_role("button", name="Save survey").click()
    await expect(page.locator("#toast")).to_have_text("Saved.")
    article = page.locator("article.survey", has_text="Post-purchase NPS")
    await article.get_by_role("button", name="Send a test response").click()
    await expect(article.locator(".test-result")).to_have_text(
        "Refused (422): the response has no customer_email (not mapped)", timeout=30_000
    )

    # A new secret: shown at once; the old one is refused, the new one works.
    await article.get_by_role("button", name="New secret").click()
    await expect(article.get_by_label("Webhook secret")).not_to_have_value(secret)
    rotated = await article.get_by_label("Webhook secret").input_value()
    assert rotated == (await api_json(dashboard, f"/api/surveys/{survey.id}"))["webhook_secret"]
    assert any("new secret" in question for question in asked)
    no_script_errors(page)


async def _ticket(dashboard: DashboardEnv, ticket_id: str) -> dict | None:
    answer = await dashboard.http.get(f"/api/tickets/{ticket_id}")
    return answer.json() if answer.status_code == 200 else None
