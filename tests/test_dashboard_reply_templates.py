"""The reply templates' settings screen in a real browser (Chromium through
Playwright) against the app served by uvicorn: an admin creates a template
with texts in two languages, sees an unknown placeholder refused by name,
edits and deletes it; each effect checked through the API. A manager is
not shown the settings.

Screenshots land in test-artifacts/."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from store.models import UserRole
from tests.api_fixtures import name_in
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page, no_script_errors

pytestmark = pytest.mark.dev_server


async def templates_of(dashboard: DashboardEnv, workspace: str) -> list[dict]:
    answer = await dashboard.http.get("/api/reply-templates", params={"workspace": workspace})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_admin_creates_edits_and_deletes_a_reply_template(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    asked: list[str] = []

    async def accept(dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await page.goto(dashboard.url(f"/dashboard/settings?workspace={ws}"))
    section = page.locator("#reply-templates")
    await expect(section.get_by_role("heading", name="Reply templates")).to_be_visible()
    await expect(section).to_contain_text("{customer_name}")
    form = section.locator("form.boxed")
    await form.get_by_label("Name").fill("Sorry for the wait")
    await form.get_by_label("Text in English").fill("Dear {customer}, about {reference}")
    await form.get_by_label("Text in Deutsch").fill("Hallo {customer_name}, zu {reference}")
    # An unknown placeholder: refused, named, nothing saved.
    await form.get_by_role("button", name="Create template").click()
    await expect(form.locator(".form-error")).to_contain_text("{customer}")
    assert await templates_of(dashboard, ws) == []

    await form.get_by_label("Text in English").fill("Dear {customer_name}, about {reference}")
    async with page.expect_navigation():
        await form.get_by_role("button", name="Create template").click()
    item = page.locator("#reply-templates li", has_text="Sorry for the wait")
    await expect(item.locator(".rule-summary")).to_have_text("English · Deutsch")
    [made] = await templates_of(dashboard, ws)
    assert made["bodies"] == {"en": "Dear {customer_name}, about {reference}", "de": "Hallo {customer_name}, zu {reference}"}
    await page.screenshot(path=str(ARTIFACTS / "settings-reply-templates.png"), full_page=True)

    # Edit: a Japanese text instead of the German one, a new name.
    await item.get_by_text("Edit Sorry for the wait").click()
    edit = item.locator("form")
    await expect(edit.get_by_label("Text in Deutsch")).to_have_value("Hallo {customer_name}, zu {reference}")
    await edit.get_by_label("Name").fill("Sorry, again")
    await edit.get_by_label("Text in Deutsch").fill("")
    await edit.get_by_label("Text in 日本語").fill("{customer_name} 様、{reference} の件です。")
    async with page.expect_navigation():
        await edit.get_by_role("button", name="Save template").click()
    item = page.locator("#reply-templates li", has_text="Sorry, again")
    await expect(item.locator(".rule-summary")).to_have_text("English · 日本語")
    [changed] = await templates_of(dashboard, ws)
    assert (changed["id"], changed["name"]) == (made["id"], "Sorry, again")
    assert set(changed["bodies"]) == {"en", "ja"}

    async with page.expect_navigation():
        await item.get_by_role("button", name="Delete").click()
    assert asked == ["Delete this reply template?"]
    await expect(page.locator("#reply-templates")).to_contain_text("No reply templates.")
    assert await templates_of(dashboard, ws) == []
    no_script_errors(page)


async def test_the_screen_in_german(browser, dashboard: DashboardEnv, dashboard_workspace: str) -> None:
    page = await new_page(browser, dashboard, locale="de-DE")
    try:
        await page.goto(dashboard.url(f"/dashboard/settings?workspace={dashboard_workspace}"))
        section = page.locator("#reply-templates")
        await expect(section.get_by_role("heading", name="Antwortvorlagen")).to_be_visible()
        await expect(section.get_by_role("button", name="Vorlage anlegen")).to_be_visible()
        no_script_errors(page)
    finally:
        await page.context.close()


async def test_a_manager_gets_no_settings(browser, dashboard: DashboardEnv, dashboard_workspace: str) -> None:
    manager = name_in(dashboard_workspace, "ann")
    dashboard.user(manager, UserRole.MANAGER)
    page = await new_page(browser, dashboard, username=manager)
    try:
        answer = await page.goto(dashboard.url(f"/dashboard/settings?workspace={dashboard_workspace}"))
        assert answer.status == 403
        await expect(page.locator("#reply-templates")).to_have_count(0)
    finally:
        await page.context.close()
