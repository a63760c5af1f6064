"""The dashboard in a real browser (Debian's Chromium driven by Playwright)
against the app served by uvicorn, a real worker and the shared dev server,
on a SQLite read model: what a manager does all day, done as they do it.

Screenshots of each view land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from playwright.async_api import Page, expect

from api.dashboard import catalogs
from api.dashboard.i18n import LOCALES, choose_locale
from api.tickets.export import COLUMNS
from domain.ticket import Priority, TicketStatus
from store import configuration
from store.models import UserRole
from tests.api_fixtures import name_in, signed_delivery
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

pytestmark = pytest.mark.dev_server


async def shot(page: Page, name: str, full_page: bool = False) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=full_page)


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query, keep_blank_values=True)


# --- list: filters, counts, pages, sorting, workspaces ---------------------------------


async def test_filters_live_in_the_url_and_survive_a_reload(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    now = datetime.now(UTC)
    dashboard.store.bulk_insert_states(
        read_only_tickets(
            ws,
            [
                {
                    "segment": "b2b",
                    "status": TicketStatus.OPEN,
                    "customer_email": "anna@corp.example",
                    "reported_at": now - timedelta(hours=1),
                },
                {
                    "segment": "b2b",
                    "status": TicketStatus.OPEN,
                    "customer_email": "ben@corp.example",
                    "reported_at": now - timedelta(hours=2),
                },
                {
                    "segment": "b2b",
                    "status": TicketStatus.NEW,
                    "customer_email": "carl@corp.example",
                    "reported_at": now - timedelta(hours=3),
                },
                {
                    "segment": "retail",
                    "status": TicketStatus.OPEN,
                    "customer_email": "dora@shop.example",
                    "reported_at": now - timedelta(hours=4),
                },
                {
                    "segment": "retail",
                    "status": TicketStatus.ESCALATED,
                    "customer_email": "emil@shop.example",
                    "priority": Priority.CRITICAL,
                    "reported_at": now - timedelta(days=2),
                },
                # Older than the default month: shown only with a wider date range.
                {
                    "segment": "b2b",
                    "status": TicketStatus.OPEN,
                    "customer_email": "old@corp.example",
                    "reported_at": now - timedelta(days=45),
                },
            ],
        )
    )
    other = make_workspace(dashboard.engine, name="Other workspace")
    dashboard.store.bulk_insert_states(
        read_only_tickets(other, [{"customer_email": "elsewhere@example.com"}])
    )

    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    filters = page.get_by_role("search", name="Filters")
    rows = page.locator("table.tickets tbody tr")
    await expect(rows).to_have_count(5)  # the last month by default
    await expect(page.locator("[data-status=total] .count-value")).to_have_text("5")
    await expect(page.locator("[data-status=open] .count-value")).to_have_text("3")

    await filters.get_by_label("Segment", exact=True).select_option("b2b")
    await filters.get_by_label("Status", exact=True).select_option("open")
    await filters.get_by_label("Search").fill("corp")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(2)
    query = query_of(page)
    assert query["workspace"] == [ws] and query["segment"] == ["b2b"] and query["status"] == ["open"]
    assert query["q"] == ["corp"] and "from" in query
    await expect(page.locator("[data-status=open]")).to_have_attribute("aria-current", "true")

    filtered_url = page.url
    await page.reload()
    assert page.url == filtered_url
    await expect(rows).to_have_count(2)
    await expect(filters.get_by_label("Segment", exact=True)).to_have_value("b2b")
    await expect(filters.get_by_label("Status", exact=True)).to_have_value("open")
    await expect(filters.get_by_label("Search")).to_have_value("corp")
    await expect(rows.first).to_contain_text("anna@corp.example")
    await shot(page, "list-filtered", full_page=True)

    # A wider date range finds the old ticket too; the counts follow the filters.
    await filters.get_by_label("From").fill((now - timedelta(days=60)).date().isoformat())
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows).to_have_count(3)
    await expect(page.locator("[data-status=open] .count-value")).to_have_text("3")
    await expect(page.locator("[data-status=new] .count-value")).to_have_text("1")

    # A count is a link to that status, keeping the other filters.
    await page.locator("a[data-status=new]").click()
    await expect(rows).to_have_count(1)
    assert query_of(page)["status"] == ["new"] and query_of(page)["segment"] == ["b2b"]

    await page.get_by_role("link", name="Reset").click()
    assert query_of(page) == {"workspace": [ws]}
    await expect(rows).to_have_count(5)

    # The workspace selector: every view shows the chosen workspace's tickets.
    await page.get_by_label("Workspace").select_option(other)
    await page.get_by_role("button", name="Switch").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("elsewhere@example.com")
    assert query_of(page)["workspace"] == [other]
    no_script_errors(page)


async def test_list_pages_and_sorts(dashboard: DashboardEnv, dashboard_workspace: str, page: Page) -> None:
    ws = dashboard_workspace
    now = datetime.now(UTC)
    priorities = list(Priority)
    dashboard.store.bulk_insert_states(
        read_only_tickets(
            ws,
            [
                {
                    "customer_email": f"c{i:02d}@example.com",
                    "reported_at": now - timedelta(minutes=i),
                    "priority": priorities[i % 4],
                }
                for i in range(60)
            ],
        )
    )
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    seen: list[str] = []
    for expected_rows in (25, 25, 10):
        emails = await page.locator("table.tickets tbody td.email").all_inner_texts()
        assert len(emails) == expected_rows
        seen += emails
        next_link = page.get_by_role("link", name="Next page")
        if expected_rows == 25:
            await next_link.click()
            await expect(page.locator(".pager")).to_contain_text(f"Page {len(seen) // 25 + 1}")
        else:
            await expect(next_link).to_have_count(0)
    assert seen == [f"c{i:02d}@example.com" for i in range(60)]  # newest first, none twice

    await page.get_by_role("link", name="First page").click()
    await page.get_by_role("link", name=re.compile("^Priority")).click()
    assert query_of(page)["sort"] == ["-priority"]
    await expect(page.locator("th[aria-sort=descending]")).to_contain_text("Priority")
    await expect(
        page.locator("table.tickets tbody tr").first.locator(".pill.priority-critical")
    ).to_have_count(1)
    await page.get_by_role("link", name=re.compile("^Priority")).click()
    assert query_of(page)["sort"] == ["priority"]
    await expect(page.locator("table.tickets tbody tr").first.locator(".pill.priority-low")).to_have_count(1)
    # Paging keeps the sort.
    await page.get_by_role("link", name="Next page").click()
    assert query_of(page)["sort"] == ["priority"] and "cursor" in query_of(page)
    await page.get_by_role("link", name=re.compile("^Reported on")).click()
    assert "sort" not in query_of(page) and "cursor" not in query_of(page)  # the default: newest first
    # A stale or mangled page link starts again at the first page, and says so.
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}&cursor=bogus&page=4"))
    await expect(page.locator(".notice")).to_contain_text("no longer valid")
    await expect(page.locator("table.tickets tbody tr")).to_have_count(25)
    await expect(page.locator(".pager")).to_contain_text("Page 1")
    no_script_errors(page)


async def test_open_a_customer_response(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    survey = configuration.create_survey(
        dashboard.engine,
        ws,
        "Post-delivery NPS",
        field_mapping={
            "score": "nps",
            "comment": "why",
            "customer_email": "email",
            "segment": "hidden:segment",
        },
        default_segment="retail",
    )
    body = json.dumps(
        {
            "response_id": uuid.uuid4().hex,
            "submitted_at": datetime.now(UTC).isoformat(),
            "answers": {
                "nps": 2,
                "why": "The parcel arrived crushed",
                "email": "zoe@example.com",
                "plan": "pro",
            },
            "hidden": {"segment": "retail"},
        }
    ).encode()
    accepted = await signed_delivery(dashboard.http, survey.id, survey.webhook_secret, body)
    assert accepted.status_code == 202, accepted.text
    response_id = accepted.json()["response_id"]
    for _ in range(200):  # the survey's ticket is made by its workflow, shortly after
        if dashboard.store.get(response_id) is not None:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the survey response did not become a ticket")

    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    await page.get_by_role("link", name=f"Customer response {response_id}").click()
    dialog = page.locator("#response-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("The parcel arrived crushed")
    await expect(dialog.locator("table.answers")).to_contain_text("plan")
    await expect(dialog.locator("table.answers")).to_contain_text("pro")
    await expect(dialog).to_contain_text("zoe@example.com")
    await shot(page, "response-dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    # Its own page too, for a link shared or opened in a new tab.
    await page.goto(dashboard.url(f"/dashboard/responses/{response_id}"))
    await expect(page.locator("h1")).to_have_text("Customer response")
    await expect(page.locator("main")).to_contain_text("The parcel arrived crushed")
    no_script_errors(page)


# --- the ticket editor -------------------------------------------------------------------


async def test_edit_a_ticket(dashboard: DashboardEnv, dashboard_workspace: str, browser) -> None:
    ws = dashboard_workspace
    ticket = await create_ticket(dashboard, ws, segment="b2b", customer_comment="Wrong size delivered")
    # The log names the signed-in user.
    page = await new_page(browser, dashboard, username="Dana Lead")
    await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
    await expect(page.locator(".details")).to_contain_text("Wrong size delivered")

    form = page.locator("#ticket-form")
    owner = form.get_by_label("Ticket owner")
    # The owner is one of the segment's managers; one manager is pre-selected.
    assert await owner.locator("option").all_inner_texts() == [
        "Unassigned",
        name_in(ws, "bob"),
        name_in(ws, "cy"),
    ]
    await form.get_by_label("Segment").select_option("retail")
    assert await owner.locator("option").all_inner_texts() == ["Unassigned", name_in(ws, "ann")]
    await expect(owner).to_have_value(name_in(ws, "ann"))
    await form.get_by_label("Segment").select_option("b2b")
    await owner.select_option(name_in(ws, "cy"))
    await form.get_by_label("Status").select_option("open")
    await form.get_by_label("Priority").select_option("high")

    # Refused without a comment: nothing is sent.
    await form.get_by_role("button", name="Update ticket").click()
    await expect(form.locator(".form-error")).to_have_text("A comment is required.")
    assert (await api_ticket(dashboard, ticket["id"]))["version"] == ticket["version"]

    # A quick reason fills the comment; then it is accepted.
    await form.get_by_role("button", name="Called the customer").click()
    await expect(form.get_by_label("Comment")).to_have_value("Called the customer")
    await form.get_by_role("button", name="Update ticket").click()
    log = page.locator("table.log")
    await expect(log).to_contain_text("Status: New → Open")
    await expect(log).to_contain_text("Priority: Medium → High")
    await expect(log.locator("tbody tr").first).to_contain_text("Dana Lead")
    await expect(page.locator(".comments")).to_contain_text("Called the customer")
    changed = await api_ticket(dashboard, ticket["id"])
    assert (changed["status"], changed["priority"], changed["owner"]) == ("open", "high", name_in(ws, "cy"))

    # Postponed asks when it wakes up, and the ticket then says so.
    await form.get_by_label("Status").select_option("postponed")
    snooze = form.get_by_label("Snooze until")
    await expect(snooze).to_be_visible()
    wake = (datetime.now(UTC) + timedelta(days=3)).replace(hour=9, minute=30, second=0, microsecond=0)
    await snooze.fill(wake.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("Comment").fill("Customer is travelling")
    await form.get_by_role("button", name="Update ticket").click()
    await expect(page.locator("[data-timer=wake]")).to_be_visible()
    snoozed = await api_ticket(dashboard, ticket["id"])
    assert snoozed["status"] == "postponed" and datetime.fromisoformat(snoozed["wake_at"]) == wake
    await shot(page, "ticket-editor", full_page=True)

    # Only a comment: added to the ticket without a change.
    await form.get_by_label("Comment").fill("Left a voicemail")
    await form.get_by_role("button", name="Update ticket").click()
    await expect(page.locator(".comments li").first).to_contain_text("Left a voicemail")
    no_script_errors(page)
    await page.context.close()


async def test_create_a_ticket(dashboard: DashboardEnv, dashboard_workspace: str, page: Page) -> None:
    ws = dashboard_workspace
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    await page.get_by_role("button", name="New ticket").click()
    dialog = page.locator("#new-ticket-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Customer email").fill("newcomer@example.com")
    await dialog.get_by_label("Segment").select_option("retail")
    await expect(dialog.get_by_label("Ticket owner")).to_have_value(name_in(ws, "ann"))
    await dialog.get_by_label("Segment").select_option("b2b")
    await dialog.get_by_label("Ticket owner").select_option(name_in(ws, "bob"))
    await dialog.get_by_label("Priority").select_option("critical")
    await dialog.get_by_label("Status").select_option("open")
    await dialog.get_by_label("Customer comment").fill("Invoice charged twice")
    await dialog.get_by_role("button", name="Create ticket").click()
    await expect(dialog.locator('[data-error-for="comment"]')).to_have_text(
        "Say why the ticket is opened, in at most 10,000 characters."
    )
    await dialog.get_by_label(re.compile("^Comment")).fill("Phoned in by the customer")
    await shot(page, "new-ticket")
    await dialog.get_by_role("button", name="Create ticket").click()
    await page.wait_for_url(re.compile(r"/dashboard/tickets/[0-9a-f-]{36}$"))
    await expect(page.locator("h1")).to_contain_text("newcomer@example.com")
    created = await api_ticket(dashboard, page.url.rsplit("/", 1)[1])
    assert (
        created["workspace_id"],
        created["segment"],
        created["owner"],
        created["priority"],
        created["status"],
    ) == (ws, "b2b", name_in(ws, "bob"), "critical", "open")
    await expect(page.locator("table.log")).to_contain_text("Phoned in by the customer")
    no_script_errors(page)


# --- kanban ---------------------------------------------------------------------------------


async def test_kanban_drag_and_keyboard(dashboard: DashboardEnv, dashboard_workspace: str, browser) -> None:
    ws = dashboard_workspace
    # A manager's wide screen: every column in view, as they drag between them.
    page = await new_page(browser, dashboard, width=1920, height=1080)
    try:
        await _kanban(dashboard, ws, page)
    finally:
        await page.context.close()


async def _kanban(dashboard: DashboardEnv, ws: str, page: Page) -> None:
    first = await create_ticket(dashboard, ws, customer_email="drag@example.com")
    second = await create_ticket(dashboard, ws, customer_email="keys@example.com")
    await page.goto(dashboard.url(f"/dashboard/kanban?workspace={ws}"))

    def column(status: str):
        return page.locator(f".kanban-column[data-status={status}]")

    def card(ticket: dict):
        return page.locator(f".card[data-ticket-id='{ticket['id']}']")

    await expect(column("new").locator(".card")).to_have_count(2)
    dialog = page.locator("#move-dialog")

    async def drag(ticket: dict, status: str) -> None:
        await card(ticket).hover()
        await page.mouse.down()
        target = column(status).locator(".cards")
        await target.hover()
        await target.hover(position={"x": 20, "y": 20})
        await page.mouse.up()

    # A real mouse drag to Open: asks for the comment, then moves.
    await drag(first, "open")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Move ticket").click()
    await expect(dialog.locator(".form-error")).to_have_text("A comment is required.")
    await dialog.get_by_label("Comment").fill("Picked up")
    await dialog.get_by_role("button", name="Move ticket").click()
    await expect(dialog).to_be_hidden()
    await expect(column("open").locator(".card")).to_have_count(1)
    await expect(column("open").locator("[data-count]")).to_have_text("1")
    assert (await api_ticket(dashboard, first["id"]))["status"] == "open"

    # A move the lifecycle refuses (new -> closed): the (folded) Closed column
    # does not take the card, and nothing asks for a comment.
    await card(second).hover()
    await page.mouse.down()
    await column("closed").hover()
    await column("closed").hover(position={"x": 10, "y": 10})
    await page.mouse.up()
    await expect(dialog).to_be_hidden()
    toast = page.locator("#toast")
    await expect(column("new").locator(".card")).to_have_count(1)
    await expect(column("closed").locator(".card")).to_have_count(0)
    await shot(page, "kanban-refused")
    assert (await api_ticket(dashboard, second["id"]))["status"] == "new"

    # Cancelling a drag leaves the card where it was.
    await drag(second, "answered")
    await page.keyboard.press("Escape")
    await expect(column("new").locator(".card")).to_have_count(1)

    # The keyboard path: "Move to" on the card, Enter, type, Enter.
    select = card(second).locator(".move-select")
    await select.focus()
    await select.select_option("answered")
    await page.keyboard.press("Tab")
    await expect(card(second).get_by_role("button", name="Move")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Comment")).to_be_focused()
    await page.keyboard.type("Replied by mail")
    await dialog.get_by_role("button", name="Move ticket").press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(toast).to_have_text("Moved to Answered.")
    await expect(column("answered").locator(".card")).to_have_count(1)
    await expect(column("new").locator(".card")).to_have_count(0)
    assert (await api_ticket(dashboard, second["id"]))["status"] == "answered"
    await shot(page, "kanban")
    no_script_errors(page)


# --- feed -------------------------------------------------------------------------------


async def test_feed_shows_api_changes_live(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    ticket = await create_ticket(dashboard, ws, customer_email="live@example.com")
    await page.goto(dashboard.url(f"/dashboard/feed?workspace={ws}"))
    feed = page.locator("#feed")
    await expect(feed.locator(".feed-item")).to_have_count(1)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    await page.evaluate("window.__notReloaded = true")

    remark = f"Refund approved {uuid.uuid4().hex[:6]}"
    response = await dashboard.http.patch(
        f"/api/tickets/{ticket['id']}",
        json={"status": "resolved", "comment": remark},
        headers=dashboard.token_headers("api-client"),
    )
    assert response.status_code == 200, response.text
    newest = feed.locator(".feed-item").first
    await expect(newest).to_contain_text(remark)
    await expect(newest).to_contain_text("api-client")
    await expect(newest).to_contain_text("Status: New → Resolved")
    assert await page.evaluate("window.__notReloaded") is True
    await expect(feed.locator(".feed-item")).to_have_count(2)  # nothing twice
    await shot(page, "feed")
    no_script_errors(page)


# --- export -------------------------------------------------------------------------------


async def test_download_excel_of_what_the_filters_show(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page, tmp_path
) -> None:
    ws = dashboard_workspace
    now = datetime.now(UTC).replace(microsecond=0)
    dashboard.store.bulk_insert_states(
        read_only_tickets(
            ws,
            [
                {
                    "segment": "b2b",
                    "customer_email": "one@example.com",
                    "reported_at": now - timedelta(hours=1),
                },
                {
                    "segment": "b2b",
                    "customer_email": "two@example.com",
                    "reported_at": now - timedelta(hours=2),
                },
                {
                    "segment": "retail",
                    "customer_email": "three@example.com",
                    "reported_at": now - timedelta(hours=3),
                },
            ],
        )
    )
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}&segment=b2b"))
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download Excel").click()
    download = await download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    sheet = openpyxl.load_workbook(path, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [title for title, _ in COLUMNS]
    assert [row[3] for row in rows[1:]] == ["one@example.com", "two@example.com"]
    assert {row[5] for row in rows[1:]} == {"b2b"}


# --- signing in ---------------------------------------------------------------------------


async def test_sign_in_see_only_ones_tickets_and_sign_out(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    mine = await create_ticket(dashboard, ws, segment="retail", customer_email="mine@example.com")
    theirs = await create_ticket(dashboard, ws, segment="support", customer_email="theirs@example.com")
    password = "ann's long password"
    dashboard.user(name_in(ws, "ann"), UserRole.MANAGER, password=password)

    page = await new_page(browser, None)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        await page.get_by_label("Username").fill(name_in(ws, "ann"))
        await page.get_by_label("Password").fill("not it")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
        await page.get_by_label("Username").fill(name_in(ws, "ann"))
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        # Back where she was going, seeing her segment's ticket only.
        await expect(page).to_have_url(re.compile(rf"/dashboard/tickets\?workspace={ws}$"))
        rows = page.locator("table.tickets tbody")
        await expect(rows).to_contain_text(mine["reference"])
        await expect(rows).not_to_contain_text(theirs["reference"])
        await expect(page.get_by_role("link", name="Settings")).to_have_count(0)
        # A change from the page carries the session's CSRF token.
        await page.goto(dashboard.url(f"/dashboard/tickets/{mine['id']}"))
        form = page.locator("#ticket-form")
        await form.get_by_label("Status").select_option("open")
        await form.get_by_label("Comment").fill("Signed in and on it")
        await form.get_by_role("button", name="Update ticket").click()
        await expect(page.locator("table.log tbody tr").first).to_contain_text(name_in(ws, "ann"))
        assert (await api_ticket(dashboard, mine["id"]))["status"] == "open"
        # Another segment's ticket is not there for her.
        response = await page.goto(dashboard.url(f"/dashboard/tickets/{theirs['id']}"))
        assert response.status == 404
        await page.get_by_text("Preferences").click()
        await expect(page.locator("#signed-in-as")).to_have_text(f"Signed in as {name_in(ws, 'ann')}")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(re.compile(r"/login$"))
        await page.goto(dashboard.url("/dashboard/tickets"))
        await expect(page).to_have_url(re.compile(r"/login\?next="))
        no_script_errors(page)
    finally:
        await page.context.close()


# --- languages, time zones, phones -------------------------------------------------------------


async def test_switch_language_and_time_zone(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    reported = (datetime.now(UTC) - timedelta(days=1)).replace(hour=10, minute=5, second=0, microsecond=0)
    dashboard.store.bulk_insert_states(
        read_only_tickets(ws, [{"reported_at": reported, "status": TicketStatus.OPEN}])
    )
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    date_cell = page.locator("table.tickets tbody tr").first.locator("time")
    await expect(date_cell).to_have_text(re.compile(r"10:05\sAM$"))

    await page.get_by_text("Preferences").click()
    await page.get_by_label("Language").select_option("de")
    await page.get_by_label("Time zone").select_option("Europe/Berlin")
    await page.get_by_role("button", name="Apply", exact=True).click()
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.get_by_role("button", name="Filter anwenden")).to_be_visible()
    await expect(page.get_by_role("link", name="Excel herunterladen")).to_be_visible()
    await expect(page.locator("[data-status=open] .count-label")).to_have_text("Offen")
    await expect(page.locator("table.tickets thead")).to_contain_text("Gemeldet am")
    assert query_of(page)["workspace"] == [ws]  # the view stays
    berlin = reported.astimezone(ZoneInfo("Europe/Berlin"))
    german_months = [
        "Jan.",
        "Feb.",
        "März",
        "Apr.",
        "Mai",
        "Juni",
        "Juli",
        "Aug.",
        "Sept.",
        "Okt.",
        "Nov.",
        "Dez.",
    ]
    await expect(date_cell).to_have_text(
        f"{berlin.day}. {german_months[berlin.month - 1]} {berlin.year} {berlin:%H:%M}"
    )
    await shot(page, "list-german")

    # Without a choice, the browser's language decides.
    japanese = await new_page(page.context.browser, dashboard, locale="ja-JP")
    try:
        await japanese.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
        await expect(japanese.locator("html")).to_have_attribute("lang", "ja")
        await expect(japanese.get_by_role("button", name="絞り込む")).to_be_visible()
        await expect(japanese.locator("table.tickets tbody time").first).to_contain_text("年")
    finally:
        await japanese.context.close()


async def test_phone_width_list_is_usable(dashboard: DashboardEnv, dashboard_workspace: str, browser) -> None:
    ws = dashboard_workspace
    dashboard.store.bulk_insert_states(
        read_only_tickets(
            ws,
            [
                {
                    "customer_email": f"a.very.long.customer.address.{i}@subsidiary.example.com",
                    "customer_comment": "The parcel arrived two weeks late and the box was crushed; "
                    "nobody answered the phone.",
                }
                for i in range(3)
            ],
        )
    )
    phone = await new_page(browser, dashboard, width=390, height=844, is_mobile=True, has_touch=True)
    try:
        for path in ("tickets", "kanban", "feed"):
            await phone.goto(dashboard.url(f"/dashboard/{path}?workspace={ws}"))
            overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"/dashboard/{path} is {overflow}px wider than the phone"
        await phone.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
        row = phone.locator("table.tickets tbody tr").first
        assert await row.evaluate("r => getComputedStyle(r).display") == "block"  # a card per ticket
        box = await row.bounding_box()
        assert box is not None and box["width"] <= 390
        email = row.locator("td.email")
        await email.scroll_into_view_if_needed()
        await expect(email).to_be_visible()
        label = await email.evaluate("c => getComputedStyle(c, '::before').content")
        assert "Customer email" in label
        await expect(row.get_by_role("link")).to_have_count(1)  # the ticket, reachable
        await phone.get_by_role("button", name="Apply filters").scroll_into_view_if_needed()
        await expect(phone.get_by_role("button", name="Apply filters")).to_be_in_viewport()
        await phone.evaluate("window.scrollTo(0, 0)")
        await shot(phone, "list-phone")
        await row.scroll_into_view_if_needed()
        await shot(phone, "list-phone-cards")
        no_script_errors(phone)
    finally:
        await phone.context.close()


# --- catalogs (no browser) ----------------------------------------------------------------------


def test_every_message_is_translated() -> None:
    template = catalogs.extract()
    assert len(template) > 100
    for locale in LOCALES:
        if locale != "en":
            assert catalogs.missing(locale, template) == [], locale


@pytest.mark.parametrize(
    "cookie, header, expected",
    [
        (None, "de-CH,de;q=0.9,en;q=0.8", "de"),
        (None, "fr-FR,es;q=0.5", "es"),
        (None, "hu", "hu"),
        (None, "zh-CN", "en"),
        (None, None, "en"),
        ("ja", "de", "ja"),
        ("xx", "hu;q=0.1, es;q=0.9", "es"),
    ],
)
def test_language_negotiation(cookie, header, expected) -> None:
    assert choose_locale(cookie, header) == expected
