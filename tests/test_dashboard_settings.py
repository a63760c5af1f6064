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
import re
import time
import uuid

import httpx
import pytest
from playwright.async_api import Page, expect

from api.intake.adapters import sign_cxloop
from store import accounts, configuration
from store.models import UserRole
from tests.api_fixtures import eventually, name_in
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page, no_script_errors

pytestmark = pytest.mark.dev_server


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"settings-{name}.png"), full_page=True)


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
    async with page.expect_navigation():
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
    async with page.expect_navigation():
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


# --- users -----------------------------------------------------------------------------------


async def test_users_create_role_segments_password_deactivate(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    asked = accept_dialogs(page)
    username = f"erik-{uuid.uuid4().hex[:6]}"
    await settings(page, dashboard, ws)
    form = page.locator("#users form.boxed")
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Email").fill("erik@example.com")
    await form.get_by_label("Role").select_option("agent")
    await form.get_by_label("Password (10 characters or more; empty: API tokens only)").fill("first password 1")
    await form.get_by_label("b2b").check()
    await form.get_by_role("button", name="Create user").click()
    item = page.locator(f"#users li[data-user='{username}']")
    await expect(item).to_contain_text("erik@example.com")
    await expect(item.get_by_label("Role of " + username)).to_have_value("agent")
    await expect(item.get_by_label("b2b")).to_be_checked()
    [user] = [u for u in await api_json(dashboard, "/api/users") if u["username"] == username]
    assert (user["role"], user["email"], user["active"]) == ("agent", "erik@example.com", True)
    assert username in _managers(dashboard, ws)["b2b"]
    assert accounts.authenticate(dashboard.engine, username, "first password 1") is not None

    # The role, at once.
    async with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await item.get_by_label("Role of " + username).select_option("manager")
    assert (await patched.value).status == 200
    assert (await api_json(dashboard, f"/api/users/{user['id']}"))["role"] == "manager"

    # Segments: retail instead of b2b.
    await item.get_by_label("b2b").uncheck()
    await item.get_by_label("retail").check()
    async with page.expect_navigation():  # saved, the page shows what is stored
        await item.get_by_role("button", name="Save segments").click()
    await expect(page.locator("#toast")).to_have_text("Saved.")
    item = page.locator(f"#users li[data-user='{username}']")
    await expect(item.get_by_label("retail")).to_be_checked()
    managers = _managers(dashboard, ws)
    assert username in managers["retail"] and username not in managers["b2b"]
    assert name_in(ws, "ann") in managers["retail"]  # the others stay

    # A new password: too short is refused before it is sent, naming the field; then set.
    await item.get_by_text("Reset password").click()
    await item.get_by_label(f"New password for {username}").fill("short")
    await item.get_by_role("button", name="Set password").click()
    await expect(item.locator("form .form-error").last).to_contain_text(f"New password for {username}: ")
    await expect(item.locator("form .form-error").last).to_contain_text("10")
    assert accounts.authenticate(dashboard.engine, username, "first password 1") is not None
    await item.get_by_label(f"New password for {username}").fill("second password 2")
    await item.get_by_role("button", name="Set password").click()
    await expect(page.locator("#toast")).to_have_text(f"Password set; {username} is signed out everywhere.")
    assert accounts.authenticate(dashboard.engine, username, "second password 2") is not None
    assert accounts.authenticate(dashboard.engine, username, "first password 1") is None

    # Deactivate: asked first; signed in no more; no longer a manager.
    await item.get_by_role("button", name="Deactivate").click()
    item = page.locator(f"#users li[data-user='{username}']")
    await expect(item).to_contain_text("Deactivated")
    assert any(username in question for question in asked)
    assert (await api_json(dashboard, f"/api/users/{user['id']}"))["active"] is False
    assert accounts.authenticate(dashboard.engine, username, "second password 2") is None
    assert username not in _managers(dashboard, ws)["retail"]
    await item.get_by_role("button", name="Reactivate").click()
    await expect(page.locator(f"#users li[data-user='{username}']")).to_contain_text("Active")
    assert accounts.authenticate(dashboard.engine, username, "second password 2") is not None

    # A refusal in the API's words: the username is taken.
    form = page.locator("#users form.boxed")
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Email").fill("other@example.com")
    await form.get_by_role("button", name="Create user").click()
    await expect(form.locator(".form-error")).to_have_text(f"Not changed: username '{username}' is taken")
    no_script_errors(page)


def _managers(dashboard: DashboardEnv, workspace: str) -> dict[str, list[str]]:
    return {s.name: [m.username for m in s.managers] for s in configuration.list_segments(dashboard.engine, workspace)}


# --- API tokens ------------------------------------------------------------------------------


async def test_api_tokens_shown_once_and_revoked(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    accept_dialogs(page)
    owner = name_in(ws, "dee")
    await settings(page, dashboard, ws)
    form = page.locator("#tokens form")
    await form.get_by_label("For user").select_option(owner)
    await form.get_by_label("What it is for").fill("CRM sync")
    await form.get_by_role("button", name="Create token").click()
    shown = form.get_by_label("The new token")
    await expect(shown).to_have_value(re.compile(r"^cxl_"))
    secret = await shown.input_value()
    me = httpx.AsyncClient(base_url=dashboard.base_url, headers={"Authorization": f"Bearer {secret}"})
    async with me:
        answer = await me.get("/api/me")
        assert answer.status_code == 200 and answer.json()["username"] == owner

        # Listed (never the secret again), and revoked with a click.
        await page.reload()
        item = page.locator("#tokens li", has_text="CRM sync")
        await expect(item).to_contain_text(owner)
        assert secret not in await page.content()
        await item.get_by_role("button", name=f"Revoke CRM sync of {owner}").click()
        await expect(page.locator("#tokens li", has_text="CRM sync")).to_contain_text("Revoked")
        assert (await me.get("/api/me")).status_code == 401
    no_script_errors(page)


# --- alert rules -------------------------------------------------------------------------------


async def test_alert_rules_criteria_actions_switch_and_order(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    accept_dialogs(page)
    survey = configuration.create_survey(dashboard.engine, ws, "Onboarding CSAT", default_segment="retail")
    rules_url = f"/api/surveys/{survey.id}/alert-rules"
    await settings(page, dashboard, ws)
    article = page.locator("article.survey", has_text="Onboarding CSAT")

    # A new rule: angry customers on the big plans make a critical ticket in b2b, and the lead hears of it.
    await article.get_by_text("New alert rule").click()
    editor = article.locator("details.boxed form.rule-editor")
    await editor.get_by_label("Rule name").fill("Angry VIPs")
    first = editor.locator("[data-rows=criteria] > li").first
    await first.get_by_label("From").fill("0")
    await first.get_by_label("To").fill("4")
    await editor.get_by_role("button", name="Add condition").click()
    second = editor.locator("[data-rows=criteria] > li").nth(1)
    await second.get_by_label("Looks at").select_option("answer")
    await second.get_by_label("Question key").fill("plan")
    await second.get_by_label("Condition").select_option("in")
    await second.get_by_label("Value (several: separated by commas)").fill("enterprise, pro")
    await expect(second.get_by_label("From")).to_be_hidden()
    action = editor.locator("[data-rows=when_met] > li").first
    await action.get_by_label("Priority").select_option("critical")
    await action.get_by_label("In segment").select_option("b2b")
    await editor.locator("[data-rows=when_met] + button").click()
    notify = editor.locator("[data-rows=when_met] > li").nth(1)
    await notify.get_by_label("Action").select_option("notify")
    await expect(notify.get_by_label("Priority")).to_be_hidden()
    await notify.get_by_label("Recipients (users or addresses, separated by commas)").fill("not an address!")
    await editor.get_by_role("button", name="Add rule").click()
    # Refused in the API's words, and nothing saved.
    await expect(editor.locator(".form-error")).to_have_text(
        "Not changed: Recipients (users or addresses, separated by commas): "
        "'not an address!' is neither a username nor an email address"
    )
    assert len(await api_json(dashboard, rules_url)) == 1
    await notify.get_by_label("Recipients (users or addresses, separated by commas)").fill("cx-lead@example.com")
    await notify.get_by_label("Message").fill("VIP detractor")
    async with page.expect_navigation():
        await editor.get_by_role("button", name="Add rule").click()
    await expect(page.locator("article.survey", has_text="Onboarding CSAT").locator("li[data-rule]")).to_have_count(2)
    detractors, vips = await api_json(dashboard, rules_url)
    assert vips["name"] == "Angry VIPs" and vips["enabled"] is True
    assert vips["criteria"] == [
        {"on": "score", "min": 0, "max": 4},
        {"on": "answer", "key": "plan", "op": "in", "value": None, "values": ["enterprise", "pro"],
         "min": None, "max": None},
    ]
    assert vips["when_met"] == [
        {"type": "create_ticket", "priority": "critical", "segment": "b2b", "owner": None},
        {"type": "notify", "recipients": ["cx-lead@example.com"], "message": "VIP detractor"},
    ]

    # Order: the VIP rule first.
    article = page.locator("article.survey", has_text="Onboarding CSAT")
    async with page.expect_navigation():
        await article.get_by_role("button", name="Move Angry VIPs up").click()
    assert [r["name"] for r in await api_json(dashboard, rules_url)] == ["Angry VIPs", detractors["name"]]
    article = page.locator("article.survey", has_text="Onboarding CSAT")
    await expect(article.locator("li[data-rule] h5").first).to_have_text("Angry VIPs")

    # Off and on, at once.
    rule = article.locator(f"li[data-rule='{detractors['id']}']")
    async with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await rule.get_by_label(f"On ({detractors['name']})").uncheck()
    assert (await patched.value).status == 200
    assert (await api_json(dashboard, f"{rules_url}/{detractors['id']}"))["enabled"] is False

    # Edit the detractor rule: 0-5, and otherwise the team hears of it.
    await rule.get_by_text(f"Edit {detractors['name']}").click()
    editor = rule.locator("form.rule-editor")
    await editor.locator("[data-rows=criteria] > li").first.get_by_label("To").fill("5")
    otherwise = editor.locator("[data-rows=when_not_met] > li")
    await expect(otherwise).to_have_count(1)
    await expect(otherwise.get_by_label("Action")).to_have_value("nothing")
    await otherwise.get_by_label("Action").select_option("notify")
    await otherwise.get_by_label("Recipients (users or addresses, separated by commas)").fill("cx-team@example.com")
    async with page.expect_navigation():
        await editor.get_by_role("button", name="Save rule").click()
    edited = await api_json(dashboard, f"{rules_url}/{detractors['id']}")
    assert edited["criteria"] == [{"on": "score", "min": 0, "max": 5}]
    assert edited["when_not_met"] == [{"type": "notify", "recipients": ["cx-team@example.com"], "message": None}]
    assert edited["enabled"] is False
    await shot(page, "alert-rules")
    no_script_errors(page)


# --- escalation rules --------------------------------------------------------------------------


async def test_escalation_rules_in_minutes_hours_days(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    accept_dialogs(page)
    await settings(page, dashboard, ws)
    form = page.locator("#escalation form.boxed")
    await form.get_by_label("Name").fill("Detractors to the lead")
    await form.get_by_label("Segment").select_option("retail")
    await form.get_by_label("Escalate after").fill("30")
    await form.get_by_label("Unit").select_option("minutes")
    await form.get_by_label("Escalates to").select_option(name_in(ws, "dee"))
    async with page.expect_navigation():
        await form.get_by_role("button", name="Create rule").click()
    item = page.locator("#escalation li", has_text="Detractors to the lead")
    await expect(item).to_contain_text("After 30 minutes")
    [rule] = configuration.list_escalation_rules(dashboard.engine, ws)
    assert (rule.segment, rule.after_seconds, rule.assignee, rule.enabled) == (
        "retail", 30 * 60, name_in(ws, "dee"), True
    )

    # Edit: two days, every segment, to bob.
    await item.get_by_text("Edit Detractors to the lead").click()
    edit = item.locator("form")
    await expect(edit.get_by_label("Escalate after")).to_have_value("30")
    await expect(edit.get_by_label("Unit")).to_have_value("60")
    await edit.get_by_label("Escalate after").fill("2")
    await edit.get_by_label("Unit").select_option("days")
    await edit.get_by_label("Segment").select_option("")
    await edit.get_by_label("Escalates to").select_option(name_in(ws, "bob"))
    async with page.expect_navigation():
        await edit.get_by_role("button", name="Save rule").click()
    item = page.locator("#escalation li", has_text="Detractors to the lead")
    await expect(item).to_contain_text("After 2 days")
    rule = (await api_json(dashboard, f"/api/escalation-rules/{rule.id}"))
    assert (rule["after_seconds"], rule["segment"], rule["assignee"]) == (2 * 86400, None, name_in(ws, "bob"))

    # Off, then deleted.
    async with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await item.get_by_label("Detractors to the lead enabled").uncheck()
    assert (await patched.value).status == 200
    assert configuration.list_escalation_rules(dashboard.engine, ws)[0].enabled is False
    # A wait of nothing: said before anything is sent, naming the field.
    form = page.locator("#escalation form.boxed")
    await form.get_by_label("Escalate after").fill("0")
    await form.get_by_role("button", name="Create rule").click()
    await expect(form.locator(".form-error")).to_contain_text("Escalate after: ")
    assert len(configuration.list_escalation_rules(dashboard.engine, ws)) == 1
    async with page.expect_navigation():
        await item.get_by_role("button", name="Delete").click()
    await expect(page.locator("#escalation")).to_contain_text("No escalation rules.")
    assert configuration.list_escalation_rules(dashboard.engine, ws) == []
    no_script_errors(page)


# --- segments and their managers -----------------------------------------------------------------


async def test_segments_assignment_and_managers(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    await settings(page, dashboard, ws)
    b2b = page.locator("#segments li[data-segment=b2b]")
    async with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        await b2b.get_by_label("Who gets a new ticket").select_option("least_loaded")
    assert (await patched.value).status == 200
    segments = {s.name: s for s in configuration.list_segments(dashboard.engine, ws)}
    assert segments["b2b"].assignment_mode.value == "least_loaded"

    # Managers: cy off, dee on with a cap, bob away.
    await b2b.get_by_label(f"Remove {name_in(ws, 'cy')}").check()
    await b2b.get_by_label(f"Available ({name_in(ws, 'bob')})").uncheck()
    await b2b.get_by_label("Add manager").select_option(name_in(ws, "dee"))
    async with page.expect_navigation():
        await b2b.get_by_role("button", name="Save managers").click()
    b2b = page.locator("#segments li[data-segment=b2b]")
    await expect(b2b.locator("[data-manager-row]")).to_have_count(2)
    await b2b.get_by_label(f"Max. open tickets of {name_in(ws, 'dee')}").fill("5")
    async with page.expect_navigation():
        await b2b.get_by_role("button", name="Save managers").click()
    managers = {m.username: m for s in configuration.list_segments(dashboard.engine, ws) if s.name == "b2b"
                for m in s.managers}
    assert set(managers) == {name_in(ws, "bob"), name_in(ws, "dee")}
    assert managers[name_in(ws, "bob")].available is False
    assert managers[name_in(ws, "dee")].max_open_tickets == 5

    # A new segment; a duplicate is refused in words.
    form = page.locator("#segments form.boxed")
    await form.get_by_label("Name").fill("wholesale")
    await form.get_by_label("Who gets a new ticket").select_option("round_robin")
    await form.get_by_label("Manager").select_option(name_in(ws, "ann"))
    async with page.expect_navigation():
        await form.get_by_role("button", name="Create segment").click()
    await expect(page.locator("#segments li[data-segment=wholesale]")).to_be_visible()
    wholesale = next(s for s in configuration.list_segments(dashboard.engine, ws) if s.name == "wholesale")
    assert wholesale.assignment_mode.value == "round_robin"
    assert [m.username for m in wholesale.managers] == [name_in(ws, "ann")]
    form = page.locator("#segments form.boxed")
    await form.get_by_label("Name").fill("retail")
    await form.get_by_role("button", name="Create segment").click()
    await expect(form.locator(".form-error")).to_contain_text(f"Not changed: workspace '{ws}' already has a segment 'retail'")
    no_script_errors(page)


# --- every language, a phone's width ------------------------------------------------------------


@pytest.mark.parametrize("locale", ["de", "es", "hu", "ja"])
async def test_settings_speak_the_readers_language_at_a_phones_width(
    dashboard: DashboardEnv, dashboard_workspace: str, browser, locale: str
) -> None:
    ws = dashboard_workspace
    survey = configuration.create_survey(dashboard.engine, ws, "NPS", default_segment="retail")
    configuration.create_escalation_rule(
        dashboard.engine, ws, {"name": "Late", "after_seconds": 7200, "assignee": name_in(ws, "ann")}
    )
    phone = await new_page(browser, dashboard, width=390, height=844, locale=locale, is_mobile=True, has_touch=True)
    try:
        await settings(phone, dashboard, ws)
        await expect(phone.locator("html")).to_have_attribute("lang", locale)
        # Open everything that folds, as someone editing would: of the users
        # (every user of the test session is listed) the first one's alone.
        for summary in await phone.locator("details > summary:not(#users li:not(:first-child) summary)").all():
            await summary.click()
        # Wider than the layout viewport, the page would pan (and a phone zooms
        # out to show it all: its innerWidth would grow with it).
        overflow = await phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"the settings are {overflow}px wider than the phone in {locale}"
        assert await phone.evaluate("window.innerWidth") == 390
        text = await phone.locator("main").inner_text()
        for english in ("Send a test response", "Webhook secret", "Create user", "New API token",
                        "Escalate after", "Who gets a new ticket", "The only manager, if there is one",
                        "Customer email", "make a ticket", "Required", "2 hours"):
            assert english not in text, (locale, english)
        if locale == "de":
            # A refusal, in the reader's language (the API's detail). Once: a
            # test response goes through the webhook and the worker, and the
            # API's refusals are checked in every language by
            # tests/test_error_language.py and the catalogs' completeness test.
            article = phone.locator("article.survey", has_text="NPS")
            await phone.evaluate(
                "([url, token]) => fetch(url, {method: 'PATCH', headers: {'Content-Type': 'application/json', "
                "'X-CSRF-Token': token}, body: JSON.stringify({field_mapping: {score: 'nps'}})})",
                [f"/api/surveys/{survey.id}", await phone.locator("meta[name=csrf-token]").get_attribute("content")],
            )
            await article.locator("form[data-test-url] button[type=submit]").click()
            result = article.locator(".test-result")
            await expect(result).to_contain_text("422", timeout=30_000)
            assert "the response has no" not in await result.inner_text()
        await shot(phone, f"phone-{locale}")
        no_script_errors(phone)
    finally:
        await phone.context.close()
