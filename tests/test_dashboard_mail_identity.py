"""The settings' customer-mail section in a real browser (Debian's Chromium
driven by Playwright) against the app served by uvicorn: an admin sets the
workspace's customers' default language and time zone and its mail identity
(sender, Reply-To, signature) by filling the form, and the effect is checked
through the API; emptied sender fields fall back to the server's sender; a
refusal reads in the reader's language; the section speaks German at a
phone's width.

Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page, no_script_errors

pytestmark = pytest.mark.dev_server


async def workspace_json(dashboard: DashboardEnv, workspace: str) -> dict:
    answer = await dashboard.http.get(f"/api/workspaces/{workspace}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_admin_sets_the_workspaces_mail_identity(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    await page.goto(dashboard.url(f"/dashboard/settings?workspace={ws}#mail"))
    section = page.locator("#mail")
    await expect(section).to_contain_text(dashboard.settings.mail_from)
    await section.get_by_label("Customers' default language").select_option("de")
    await section.get_by_label("Time zone of dates in mails").select_option("Europe/Berlin")
    await section.get_by_label("Sender name").fill("ACME Kundendienst")
    await section.get_by_label("Sender address").fill("care@acme.example")
    await section.get_by_label("Reply-To (the inbound address)").fill("inbound@acme.example")
    await section.get_by_label("Signature").fill("ACME GmbH\nKundendienst")
    # Saved, the page reloads to show what is stored (and says so).
    async with page.expect_navigation():
        await section.get_by_role("button", name="Save customer mail").click()
    await expect(page.locator(".toast, [role=status]").filter(has_text="Saved.")).to_be_visible()
    shown = await workspace_json(dashboard, ws)
    assert {k: shown[k] for k in ("default_locale", "time_zone", "mail_sender_name", "mail_sender_address",
                                  "mail_reply_to", "mail_signature")} == {
        "default_locale": "de", "time_zone": "Europe/Berlin", "mail_sender_name": "ACME Kundendienst",
        "mail_sender_address": "care@acme.example", "mail_reply_to": "inbound@acme.example",
        "mail_signature": "ACME GmbH\nKundendienst"}
    # The page shows what is saved.
    await expect(section.get_by_label("Signature")).to_have_value("ACME GmbH\nKundendienst")
    await expect(section.get_by_label("Customers' default language")).to_have_value("de")
    await section.screenshot(path=str(ARTIFACTS / "settings-mail.png"))

    # An address the browser can tell is none: said before sending, nothing changed.
    await section.get_by_label("Sender address").fill("not an address")
    await section.get_by_role("button", name="Save customer mail").click()
    await expect(section.locator(".form-error")).to_contain_text("Sender address")
    assert (await workspace_json(dashboard, ws))["mail_sender_address"] == "care@acme.example"

    # Emptied, the sender is the server's again.
    await section.get_by_label("Sender name").fill("")
    await section.get_by_label("Sender address").fill("")
    # The reload, not the toast: the first save's "Saved." may still be showing.
    async with page.expect_navigation():
        await section.get_by_role("button", name="Save customer mail").click()
    await expect(page.locator(".toast, [role=status]").filter(has_text="Saved.")).to_be_visible()
    await expect(section.get_by_label("Sender name")).to_have_value("")
    shown = await workspace_json(dashboard, ws)
    assert shown["mail_sender_name"] is None and shown["mail_sender_address"] is None
    assert shown["mail_reply_to"] == "inbound@acme.example"
    no_script_errors(page)


async def test_the_mail_section_speaks_german_at_a_phones_width(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    phone = await new_page(browser, dashboard, width=390, height=844, locale="de", is_mobile=True, has_touch=True)
    try:
        await phone.goto(dashboard.url(f"/dashboard/settings?workspace={ws}#mail"))
        section = phone.locator("#mail")
        await expect(phone.locator("html")).to_have_attribute("lang", "de")
        text = await section.inner_text()
        for english in ("Customer mail", "Sender name", "Signature", "Save customer mail"):
            assert english not in text, english
        overflow = await phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the settings are {overflow}px wider than the phone"
        # A refusal of the API (a time zone it does not know), in German: the option is forged.
        await section.locator("select[name=time_zone]").evaluate(
            "select => { select.add(new Option('Mars/Olympus', 'Mars/Olympus', true, true)); }")
        await section.locator("button[type=submit]").click()
        error = section.locator(".form-error")
        await expect(error).to_be_visible()
        assert "Not changed" not in await error.inner_text()
        assert (await workspace_json(dashboard, ws))["time_zone"] == "UTC"
        await section.screenshot(path=str(ARTIFACTS / "settings-mail-phone-de.png"))
        no_script_errors(phone)
    finally:
        await phone.context.close()
