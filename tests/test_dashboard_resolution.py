"""Resolution reasons, the customer's second score and the score filters in
the dashboard (issue 16), in a real browser (Chromium through Playwright)
against the app served by uvicorn, in English and German: an admin adds,
orders, relabels and retires reasons and requires one in the settings;
resolving in the editor without a reason is refused with the form's error,
with one it saves and the details show its label (the reply form too); the
list's score column and its NPS and score-range filters select exactly the
expected tickets, carried in the URL, the counts and the Excel link; a
detractor's second score and "Recovered" on the ticket page. Each effect
is checked through the API.

Screenshots land in test-artifacts/."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Page, expect

from domain.notices import CustomerAction, sign_customer_link
from domain.ticket import TicketStatus
from tests.api_fixtures import deliver, ticket_of
from tests.dashboard_fixtures import (
    ARTIFACTS,
    DashboardEnv,
    api_ticket,
    create_ticket,
    make_workspace,
    new_page,
    no_script_errors,
    read_only_tickets,
)
from tests.test_customer_locale import survey_with_locale

pytestmark = pytest.mark.dev_server


async def reasons_of(dashboard: DashboardEnv, workspace: str) -> list[dict]:
    answer = await dashboard.http.get("/api/resolution-reasons", params={"workspace": workspace})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def add_reason(dashboard: DashboardEnv, workspace: str, code: str, labels: dict[str, str]) -> dict:
    answer = await dashboard.http.post(
        "/api/resolution-reasons", json={"workspace_id": workspace, "code": code, "labels": labels}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.fixture(scope="module")
async def reasons_workspace(dashboard: DashboardEnv) -> str:
    """A workspace that requires a reason: "late-delivery" (English and
    German labels) and "wrong-item" (English only), made through the API;
    the settings screen's own test makes its reasons in the browser."""
    workspace = make_workspace(dashboard.engine)
    await add_reason(dashboard, workspace, "late-delivery", {"en": "Late delivery", "de": "Verspätete Lieferung"})
    await add_reason(dashboard, workspace, "wrong-item", {"en": "Wrong item"})
    required = await dashboard.http.patch(f"/api/workspaces/{workspace}", json={"resolution_reason_required": True})
    assert required.status_code == 200, required.text
    return workspace


# The editor's words in each language, and the reason select's choices as
# each test's workspace has them (labels in the reader's language, else English).
ENGLISH = {
    "reason": "Resolution reason", "comment": "Comment", "update": "Update ticket",
    "hint": "This workspace requires a reason to resolve a ticket.",
    "refused": "Not changed: a resolution reason is required to resolve a ticket",
    "options": ["Choose a reason", "Wrong item sent", "Late delivery"], "label": "Late delivery",
}
GERMAN = {
    "reason": "Lösungsgrund", "comment": "Kommentar", "update": "Ticket aktualisieren",
    "hint": "Dieser Arbeitsbereich verlangt einen Grund, um ein Ticket zu lösen.",
    "refused": "Nicht geändert: zum Lösen eines Tickets ist ein Lösungsgrund nötig",
    # German labels, English where a reason has none.
    "options": ["Grund wählen", "Verspätete Lieferung", "Wrong item"], "label": "Verspätete Lieferung",
}


async def resolve_in_editor(page: Page, dashboard: DashboardEnv, ticket_id: str, words: dict, code: str) -> None:
    """Resolve a new ticket in the editor of a workspace that requires a
    reason: the select appears with Resolved; without a reason the change is
    refused in the form and nothing changes; with `code` it is saved and the
    details show its label."""
    await page.goto(dashboard.url(f"/dashboard/tickets/{ticket_id}"))
    editor = page.locator("#ticket-form")
    reason = editor.get_by_label(words["reason"])
    await expect(reason).to_be_hidden()
    await editor.get_by_label("Status").select_option("resolved")
    await expect(reason).to_be_visible()
    await expect(editor).to_contain_text(words["hint"])
    assert await reason.locator("option").all_inner_texts() == words["options"]

    await editor.get_by_label(words["comment"]).fill("Refund issued")
    await editor.get_by_role("button", name=words["update"]).click()
    await expect(editor.locator(".form-error")).to_have_text(words["refused"])
    assert (await api_ticket(dashboard, ticket_id))["status"] == "new"

    await reason.select_option(code)
    async with page.expect_navigation():
        await editor.get_by_role("button", name=words["update"]).click()
    await expect(page.locator('dd[data-field="resolution_reason"]')).to_have_text(words["label"])
    resolved = await api_ticket(dashboard, ticket_id)
    assert (resolved["status"], resolved["resolution_reason"]) == ("resolved", code)


# --- the settings, then the editor (English) --------------------------------------------------


async def test_an_admin_sets_up_reasons_and_the_editor_requires_one(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    await page.goto(dashboard.url(f"/dashboard/settings?workspace={ws}"))
    section = page.locator("#resolution-reasons")
    await expect(section.get_by_role("heading", name="Resolution reasons")).to_be_visible()
    await expect(section).to_contain_text("No resolution reasons.")
    form = section.locator("form.boxed")

    # A code the API would refuse is said at once, in the browser's words.
    await form.get_by_label("Code").fill("Late Delivery")
    await form.get_by_label("Label in English").fill("Late delivery")
    await form.get_by_role("button", name="Create reason").click()
    await expect(form.locator(".form-error")).to_contain_text("Code")
    assert await reasons_of(dashboard, ws) == []

    for code, english, german in (
        ("late-delivery", "Late delivery", "Verspätete Lieferung"),
        ("wrong-item", "Wrong item", ""),
        ("duplicate", "Duplicate", "Duplikat"),
    ):
        form = page.locator("#resolution-reasons form.boxed")
        await form.get_by_label("Code").fill(code)
        await form.get_by_label("Label in English").fill(english)
        await form.get_by_label("Label in Deutsch").fill(german)
        async with page.expect_navigation():
            await form.get_by_role("button", name="Create reason").click()
    items = page.locator("#resolution-reasons li[data-resolution-reason]")
    await expect(items).to_have_count(3)
    assert [(r["code"], r["labels"]) for r in await reasons_of(dashboard, ws)] == [
        ("late-delivery", {"en": "Late delivery", "de": "Verspätete Lieferung"}),
        ("wrong-item", {"en": "Wrong item"}),
        ("duplicate", {"en": "Duplicate", "de": "Duplikat"}),
    ]

    # Order: "Wrong item" up, to the top.
    async with page.expect_navigation():
        await page.get_by_role("button", name="Move Wrong item up").click()
    await expect(items.first).to_have_attribute("data-resolution-reason", "wrong-item")
    assert [r["code"] for r in await reasons_of(dashboard, ws)] == ["wrong-item", "late-delivery", "duplicate"]

    # Labels: "Wrong item" becomes "Wrong item sent", with a German label.
    item = page.locator('#resolution-reasons li[data-resolution-reason="wrong-item"]')
    await item.get_by_text("Edit Wrong item").click()
    edit = item.locator("form")
    await edit.get_by_label("Label in English").fill("Wrong item sent")
    await edit.get_by_label("Label in Deutsch").fill("Falscher Artikel")
    async with page.expect_navigation():
        await edit.get_by_role("button", name="Save reason").click()
    await expect(item.get_by_role("heading")).to_have_text("Wrong item sent")

    # Retire "Duplicate": kept, marked, offered no more.
    item = page.locator('#resolution-reasons li[data-resolution-reason="duplicate"]')
    async with page.expect_navigation():
        await item.get_by_role("button", name="Retire").click()
    await expect(item.locator("[data-retired]")).to_have_text("Retired")
    await expect(item.get_by_role("button", name="Use again")).to_be_visible()
    by_code = {r["code"]: r for r in await reasons_of(dashboard, ws)}
    assert by_code["wrong-item"]["labels"] == {"en": "Wrong item sent", "de": "Falscher Artikel"}
    assert by_code["duplicate"]["retired"] is True

    # Require one: saved at once.
    switch = page.get_by_label("Require a resolution reason to resolve a ticket")
    await switch.check()
    await expect(page.locator("#toast")).to_have_text("Saved.")
    workspace = await dashboard.http.get(f"/api/workspaces/{ws}")
    assert workspace.json()["resolution_reason_required"] is True
    await section.screenshot(path=str(ARTIFACTS / "settings-resolution-reasons.png"))

    # The editor: the select appears with Resolved, the active reasons in order.
    ticket = await create_ticket(dashboard, ws)
    await resolve_in_editor(page, dashboard, ticket["id"], ENGLISH, "late-delivery")

    # The list shows it under the status.
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    row = page.locator(f'tr[data-ticket-id="{ticket["id"]}"]')
    await expect(row.locator("[data-resolution-reason]")).to_have_text("Late delivery")
    no_script_errors(page)


# --- the editor and the reply form in German ------------------------------------------------


async def test_resolving_in_german_in_the_editor_and_the_reply_form(
    browser, dashboard: DashboardEnv, reasons_workspace: str
) -> None:
    ws = reasons_workspace
    edited = await create_ticket(dashboard, ws)
    replied = await create_ticket(dashboard, ws, customer_email=f"pat-{uuid.uuid4().hex[:8]}@example.com")
    page = await new_page(browser, dashboard, locale="de-DE")
    try:
        await resolve_in_editor(page, dashboard, edited["id"], GERMAN, "late-delivery")

        # The reply form: the select while the status after sending is Gelöst.
        await page.goto(dashboard.url(f"/dashboard/tickets/{replied['id']}"))
        reply = page.locator("#reply-form")
        reply_reason = reply.get_by_label("Lösungsgrund")
        await expect(reply_reason).to_be_hidden()
        await reply.locator("textarea[name=body]").fill("Ihre Lieferung ist unterwegs.")
        await reply.get_by_label("Status nach dem Senden").select_option("resolved")
        await expect(reply_reason).to_be_visible()
        await reply.get_by_role("button", name="Antwort senden").click()
        await expect(reply.locator(".form-error")).to_have_text(
            "Nicht gesendet: zum Lösen eines Tickets ist ein Lösungsgrund nötig"
        )
        await reply_reason.select_option("wrong-item")
        async with page.expect_navigation():
            await reply.get_by_role("button", name="Antwort senden").click()
        await expect(page.locator('dd[data-field="resolution_reason"]')).to_have_text("Wrong item")
        answered = await api_ticket(dashboard, replied["id"])
        assert (answered["status"], answered["resolution_reason"]) == ("resolved", "wrong-item")

        # The settings in German.
        await page.goto(dashboard.url(f"/dashboard/settings?workspace={ws}"))
        section = page.locator("#resolution-reasons")
        await expect(section.get_by_role("heading", name="Lösungsgründe")).to_be_visible()
        await expect(section.get_by_label("Zum Lösen eines Tickets einen Lösungsgrund verlangen")).to_be_checked()
        await expect(section.get_by_role("button", name="Grund anlegen")).to_be_visible()
        no_script_errors(page)
    finally:
        await page.context.close()


# --- the list: the score column and the score filters -----------------------------------------


SCORES = (None, 0, 6, 7, 8, 9, 10)


@pytest.fixture(scope="module")
async def scored(dashboard: DashboardEnv, reasons_workspace: str) -> dict[int | None, str]:
    """Tickets written straight into the read model, one per score (and one
    without); the one scored 8 is resolved with a reason. Score -> id."""
    now = datetime.now(UTC)
    specs = [
        {"score": score, "customer_email": f"score-{score}@example.com", "reported_at": now - timedelta(minutes=i)}
        for i, score in enumerate(SCORES)
    ]
    specs[SCORES.index(8)] |= {"status": TicketStatus.RESOLVED, "resolution_reason": "wrong-item"}
    states = read_only_tickets(reasons_workspace, specs)
    dashboard.store.bulk_insert_states(states)
    return {state.score: state.id for state in states}


async def shown(page: Page) -> set[str]:
    return set(await page.locator("table.tickets tbody tr").evaluate_all("rows => rows.map(r => r.dataset.ticketId)"))


def export_params(href: str | None) -> dict[str, list[str]]:
    assert href
    return parse_qs(urlsplit(href).query)


async def test_the_score_column_and_filters_in_english(
    dashboard: DashboardEnv, reasons_workspace: str, scored: dict, page: Page
) -> None:
    ws = reasons_workspace
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    for score, ticket_id in scored.items():
        cell = page.locator(f'tr[data-ticket-id="{ticket_id}"] td.score-cell')
        await expect(cell).to_have_text("—" if score is None else str(score))
    await expect(page.locator(f'tr[data-ticket-id="{scored[8]}"] [data-resolution-reason]')).to_have_text("Wrong item")

    filters = page.get_by_role("search", name="Filters")
    await filters.get_by_label("NPS category").select_option("detractor")
    async with page.expect_navigation():
        await filters.get_by_role("button", name="Apply filters").click()
    assert await shown(page) == {scored[0], scored[6]}
    assert parse_qs(urlsplit(page.url).query)["nps"] == ["detractor"]
    await expect(page.locator("[data-status=total] .count-value")).to_have_text("2")
    assert export_params(await page.locator("#download-excel").get_attribute("href"))["nps"] == ["detractor"]

    # A range instead of the category: 7 to 9, through a reload.
    await filters.get_by_label("NPS category").select_option("")
    await filters.get_by_label("Lowest score").fill("7")
    await filters.get_by_label("Highest score").fill("9")
    async with page.expect_navigation():
        await filters.get_by_role("button", name="Apply filters").click()
    await page.reload()
    assert await shown(page) == {scored[7], scored[8], scored[9]}
    await expect(filters.get_by_label("Lowest score")).to_have_value("7")
    await expect(page.locator("[data-status=total] .count-value")).to_have_text("3")
    await expect(page.locator("[data-status=resolved] .count-value")).to_have_text("1")
    params = export_params(await page.locator("#download-excel").get_attribute("href"))
    assert (params["score_min"], params["score_max"], params.get("nps")) == (["7"], ["9"], None)
    # The export link asks the API for exactly these tickets.
    exported = await dashboard.http.get(await page.locator("#download-excel").get_attribute("href"))
    assert exported.status_code == 200, exported.text

    # The range and a category together; the kanban keeps them.
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}&score_min=7&score_max=9&nps=promoter"))
    assert await shown(page) == {scored[9]}
    await page.get_by_role("link", name="Kanban").click()
    await expect(page.locator(".card")).to_have_count(1)
    no_script_errors(page)


async def test_the_score_filters_in_german_at_a_phone_width(
    browser, dashboard: DashboardEnv, reasons_workspace: str, scored: dict
) -> None:
    page = await new_page(browser, dashboard, locale="de-DE", width=390, height=844)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets?workspace={reasons_workspace}"))
        filters = page.get_by_role("search", name="Filter")
        await filters.get_by_label("NPS-Kategorie").select_option(label="Promotoren (9–10)")
        await filters.get_by_label("Niedrigste Bewertung").fill("10")
        async with page.expect_navigation():
            await filters.get_by_role("button", name="Filter anwenden").click()
        assert await shown(page) == {scored[10]}
        assert export_params(await page.locator("#download-excel").get_attribute("href"))["score_min"] == ["10"]
        # A range given the wrong way round is read the right way round.
        await page.goto(dashboard.url(f"/dashboard/tickets?workspace={reasons_workspace}&score_min=8&score_max=0"))
        assert await shown(page) == {scored[0], scored[6], scored[7], scored[8]}
        await expect(page.locator(f'tr[data-ticket-id="{scored[8]}"] [data-resolution-reason]')).to_have_text("Wrong item")
        # No sideways panning at a phone's width.
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        await page.screenshot(path=str(ARTIFACTS / "list-score-filters-de-phone.png"), full_page=True)
        no_script_errors(page)
    finally:
        await page.context.close()


# --- the second score ------------------------------------------------------------------------


async def test_a_recovered_detractor_on_the_ticket_page(browser, dashboard: DashboardEnv, reasons_workspace: str) -> None:
    """A detractor's survey response (score 2), resolved with a reason,
    confirmed through the customer's signed link with a 9."""
    survey = await survey_with_locale(dashboard, reasons_workspace)
    body = json.dumps({"response_id": uuid.uuid4().hex, "submitted_at": datetime.now(UTC).isoformat(),
                       "answers": {"nps": 2, "why": "Late", "email": f"vera-{uuid.uuid4().hex[:8]}@example.com",
                                   "name": "Vera"}}).encode()
    accepted = await deliver(dashboard, survey, body)
    assert accepted.status_code == 202, accepted.text
    ticket = await ticket_of(dashboard, accepted.json()["response_id"])
    resolved = await dashboard.http.patch(f"/api/tickets/{ticket['id']}", json={
        "status": "resolved", "resolution_reason": "late-delivery", "comment": "Voucher sent"})
    assert resolved.status_code == 200, resolved.text
    token = sign_customer_link(dashboard.settings.secret_key, ticket["id"], CustomerAction.CONFIRM,
                               datetime.now(UTC) + timedelta(days=1))
    confirmed = await dashboard.http.post(f"/customer/tickets/{token}", data={"recovery_score": "9"})
    assert confirmed.status_code == 200, confirmed.text
    closed = await api_ticket(dashboard, ticket["id"])
    assert (closed["status"], closed["recovery_score"], closed["recovered"]) == ("closed", 9, True)

    for locale, words in (("en-US", ("Score after resolution", "Recovered", "Late delivery")),
                          ("de-DE", ("Bewertung nach der Lösung", "Zurückgewonnen", "Verspätete Lieferung"))):
        page = await new_page(browser, dashboard, locale=locale)
        try:
            await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
            details = page.locator("dl.details")
            await expect(details.locator('dd[data-field="score"]')).to_have_text("2")
            await expect(details.locator("dt", has_text=words[0])).to_be_visible()
            second = details.locator('dd[data-field="recovery_score"]')
            await expect(second).to_contain_text("9")
            await expect(second.locator("[data-recovered]")).to_have_text(words[1])
            await expect(details.locator('dd[data-field="resolution_reason"]')).to_have_text(words[2])
            no_script_errors(page)
        finally:
            await page.context.close()
