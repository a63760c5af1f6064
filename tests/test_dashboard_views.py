"""The dashboard's views in a real browser (Debian's Chromium driven by
Playwright) against the app served by uvicorn, a real worker and the shared
dev server: the ticket editor changes only what the person changed, a move out
of one's reach says so, the kanban offers only the moves a ticket can take,
the feed's counts stay current, and the pages fit the screens and languages
they are read in (element boxes measured at the stated widths).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from api.dashboard import i18n
from domain.ticket import TicketStatus, can_transition
from store import configuration
from store.models import UserRole
from tests.api_fixtures import name_in, signed_delivery
from tests.dashboard_fixtures import (
    ARTIFACTS,
    DashboardEnv,
    api_events,
    api_ticket,
    create_ticket,
    new_page,
    no_script_errors,
    read_only_tickets,
)

pytestmark = pytest.mark.dev_server

# How long the workflow side may take to do what a test waits for (an
# escalation rule firing, a roll-out reaching a ticket).
SETTLE_SECONDS = 30


async def eventually(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.2)


async def shot(page: Page, name: str, full_page: bool = False) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"dashboard-views-{name}.png"), full_page=full_page)


def translated(locale: str, message: str) -> str:
    with i18n.speaking(locale):
        return i18n.gettext_(message)


# --- the editor changes only what the person changed (defect 2) ------------------------


async def test_editor_keeps_an_owner_escalated_to_by_a_rule(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    # erik is no manager of retail: an escalation rule hands him the ticket.
    erik = name_in(ws, "erik")
    dashboard.user(erik, UserRole.MANAGER)
    ticket = await create_ticket(dashboard, ws, segment="retail")
    assert ticket["owner"] == name_in(ws, "ann")
    rule = await dashboard.http.post(
        "/api/escalation-rules",
        json={"workspace_id": ws, "name": "To Erik", "segment": "retail", "after_seconds": 1, "assignee": erik},
    )
    assert rule.status_code == 201, rule.text

    async def escalated() -> bool:
        state = await api_ticket(dashboard, ticket["id"])
        return state["status"] == "escalated" and state["owner"] == erik

    await eventually("the rule escalates the ticket to erik", escalated)

    await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
    await expect(page.locator(".details dt:text-is('Ticket owner') + dd")).to_have_text(erik)
    form = page.locator("#ticket-form")
    await expect(form.get_by_label("Ticket owner")).to_have_value(erik)

    await form.get_by_label("Priority").select_option("high")
    await form.get_by_label("Comment").fill("Customer is a key account")
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await form.get_by_role("button", name="Update ticket").click()
    assert json.loads((await sent.value).post_data) == {
        "priority": "high",
        "comment": "Customer is a key account",
    }
    await expect(page.locator("table.log")).to_contain_text("Priority: Medium → High")
    changed = await api_ticket(dashboard, ticket["id"])
    assert (changed["owner"], changed["priority"], changed["segment"]) == (erik, "high", "retail")
    last_change = [e for e in await api_events(dashboard, ticket["id"]) if e["comment"] == "Customer is a key account"]
    assert [e["field"] for e in last_change] == ["priority"]
    await expect(page.locator("table.log")).not_to_contain_text("Owner: " + erik + " → —")

    # Choosing another segment and coming back offers erik again.
    await form.get_by_label("Segment").select_option("b2b")
    await form.get_by_label("Segment").select_option("retail")
    await expect(form.get_by_label("Ticket owner")).to_have_value(erik)
    no_script_errors(page)


async def test_editor_sends_each_field_only_when_the_person_changed_it(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    ticket = await create_ticket(dashboard, ws, segment="retail")
    wake = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    snoozed = await dashboard.http.patch(
        f"/api/tickets/{ticket['id']}",
        json={"status": "postponed", "snooze_until": wake.isoformat(), "comment": "Back next week"},
    )
    assert snoozed.status_code == 200, snoozed.text
    # ann stops managing retail: she still owns the ticket, no longer as a manager.
    [retail] = [s for s in configuration.list_segments(dashboard.engine, ws) if s.name == "retail"]
    replaced = await dashboard.http.put(f"/api/segments/{retail.id}/managers", json={"managers": []})
    assert replaced.status_code == 200, replaced.text

    await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
    form = page.locator("#ticket-form")
    await expect(form.get_by_label("Ticket owner")).to_have_value(name_in(ws, "ann"))
    await expect(form.get_by_label("Status")).to_have_value("postponed")

    # A later wake-up alone: the ticket stays postponed, the new time is sent.
    later = wake + timedelta(days=1)
    await form.get_by_label("Snooze until").fill(later.strftime("%Y-%m-%dT%H:%M"))
    await form.get_by_label("Comment").fill("Customer asked for Thursday")
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await form.get_by_role("button", name="Update ticket").click()
    assert json.loads((await sent.value).post_data) == {
        "snooze_until": later.isoformat().replace("+00:00", ".000Z"),
        "comment": "Customer asked for Thursday",
    }
    await expect(page.locator("table.log")).to_contain_text("Customer asked for Thursday")
    changed = await api_ticket(dashboard, ticket["id"])
    assert datetime.fromisoformat(changed["wake_at"]) == later
    assert (changed["owner"], changed["status"]) == (name_in(ws, "ann"), "postponed")

    # Only a comment: no change at all is sent.
    await form.get_by_label("Comment").fill("Left a voicemail")
    async with page.expect_request(lambda r: r.method == "POST" and "/comments" in r.url) as sent:
        await form.get_by_role("button", name="Update ticket").click()
    assert json.loads((await sent.value).post_data) == {"comment": "Left a voicemail"}
    await expect(page.locator(".comments li").first).to_contain_text("Left a voicemail")
    assert (await api_ticket(dashboard, ticket["id"]))["owner"] == name_in(ws, "ann")
    no_script_errors(page)


# --- a move out of one's reach (defect 8) ----------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_moving_a_ticket_out_of_reach_says_so_and_returns_to_the_list(
    dashboard: DashboardEnv, dashboard_workspace: str, browser, locale: str
) -> None:
    ws = dashboard_workspace
    ann = name_in(ws, "ann")  # manages retail only
    ticket = await create_ticket(dashboard, ws, segment="retail")
    page = await new_page(browser, dashboard, username=ann, locale=locale)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
        await page.locator(f"tr[data-ticket-id='{ticket['id']}'] a.ticket-link").click()
        form = page.locator("#ticket-form")
        await form.locator("select[name=segment]").select_option("b2b")
        await form.locator("textarea[name=comment]").fill("Belongs to the business team")
        await form.locator("button[type=submit]").click()
        await page.wait_for_url(re.compile(rf"/dashboard/tickets\?workspace={ws}$"))
        english = "Moved to %(segment)s, which you do not manage: the ticket has left your list."
        message = translated(locale, english) % {"segment": "b2b"}
        if locale != "en":
            assert message != english % {"segment": "b2b"}, "the message is not translated"
        await expect(page.locator("#toast")).to_have_text(message)
        await expect(page.locator("main")).not_to_contain_text(ticket["reference"])
        assert (await api_ticket(dashboard, ticket["id"]))["segment"] == "b2b"
        no_script_errors(page)
    finally:
        await page.context.close()


# --- kanban: only the moves a ticket can take (defect 9) --------------------------------------------


async def test_kanban_offers_only_the_moves_the_ticket_can_take(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    ticket = await create_ticket(dashboard, ws, customer_email="lifecycle@example.com")
    page = await new_page(browser, dashboard, width=1920, height=1080)
    try:
        await page.goto(dashboard.url(f"/dashboard/kanban?workspace={ws}"))
        card = page.locator(f".card[data-ticket-id='{ticket['id']}']")

        def column(status: str):
            return page.locator(f".kanban-column[data-status={status}]")

        def offered(status: TicketStatus) -> list[str]:
            return [s.value for s in TicketStatus if can_transition(status, s, None)]

        select = card.locator(".move-select")
        assert await select.locator("option:not([value=''])").evaluate_all(
            "options => options.map(o => o.value)"
        ) == offered(TicketStatus.NEW)

        patches: list[str] = []
        page.on("request", lambda r: patches.append(r.url) if r.method == "PATCH" else None)
        # While dragging, the columns the ticket cannot go to look closed.
        await card.hover()
        await page.mouse.down()
        await column("closed").hover()
        await column("closed").hover(position={"x": 20, "y": 20})
        await expect(column("closed")).to_have_class(re.compile(r"\bdrop-refused\b"))
        await expect(column("new")).to_have_class(re.compile(r"\bdrop-refused\b"))
        await expect(column("open")).to_have_class(re.compile(r"\bdrop-allowed\b"))
        await shot(page, "kanban-dragging")
        await page.mouse.up()
        # Dropped where it cannot go: nothing asks for a comment, nothing is sent.
        await expect(page.locator("#move-dialog")).to_be_hidden()
        await expect(column("new").locator(".card")).to_have_count(1)
        await expect(column("closed")).not_to_have_class(re.compile(r"\bdrop-refused\b"))
        assert patches == []

        # After a move the card offers the moves from its new status.
        await select.select_option("resolved")
        await card.get_by_role("button", name="Move").click()
        dialog = page.locator("#move-dialog")
        await dialog.get_by_label("Comment").fill("Refund issued")
        await dialog.get_by_role("button", name="Move ticket").click()
        await expect(dialog).to_be_hidden()
        await expect(column("resolved").locator(".card")).to_have_count(1)
        assert await select.locator("option:not([value=''])").evaluate_all(
            "options => options.filter(o => !o.hidden && !o.disabled).map(o => o.value)"
        ) == offered(TicketStatus.RESOLVED)
        no_script_errors(page)
    finally:
        await page.context.close()


# --- the live feed's counts (defect 13) ----------------------------------------------------------------


async def test_feed_counts_follow_new_tickets(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    first = await create_ticket(dashboard, ws, customer_email="first@example.com")
    await page.goto(dashboard.url(f"/dashboard/feed?workspace={ws}"))
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "live")
    await expect(page.locator("[data-status=new] .count-value")).to_have_text("1")
    await expect(page.locator("[data-status=total] .count-value")).to_have_text("1")

    await create_ticket(dashboard, ws, customer_email="second@example.com")
    await create_ticket(dashboard, ws, customer_email="third@example.com")
    resolved = await dashboard.http.patch(
        f"/api/tickets/{first['id']}", json={"status": "resolved", "comment": "Refund issued"}
    )
    assert resolved.status_code == 200, resolved.text
    await expect(page.locator("#feed")).to_contain_text("third@example.com")
    await expect(page.locator("[data-status=new] .count-value")).to_have_text("2")
    await expect(page.locator("[data-status=resolved] .count-value")).to_have_text("1")
    await expect(page.locator("[data-status=total] .count-value")).to_have_text("3")
    no_script_errors(page)


# --- layout (defect 12) -----------------------------------------------------------------------------------

LONG_COMMENT = (
    "The parcel arrived two weeks late, the box was crushed and the replacement "
    "we were promised on the phone never came; nobody answered our three mails."
)


def wide_tickets(ws: str, count: int = 5) -> list:
    return read_only_tickets(
        ws,
        [
            {
                "customer_email": f"a.rather.long.customer.address.{i}@subsidiary.example.com",
                "customer_comment": LONG_COMMENT,
                "owner": "a.long.owner.username@example.com",
                "origin_segment": "Enterprise accounts",
                "segment": "retail",
                "status": TicketStatus.ESCALATED,
            }
            for i in range(count)
        ],
    )


async def page_overflow(page: Page) -> int:
    """How many pixels the page is wider than the layout viewport (it pans)."""
    return await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


async def overflow_of(page: Page, selector: str) -> int:
    """How many pixels the element's content is wider than its box."""
    return await page.locator(selector).evaluate("e => e.scrollWidth - e.clientWidth")


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
async def test_list_fits_a_wide_screen(
    dashboard: DashboardEnv, dashboard_workspace: str, browser, locale: str
) -> None:
    ws = dashboard_workspace
    dashboard.store.bulk_insert_states(wide_tickets(ws))
    page = await new_page(browser, dashboard, width=1920, height=1080, locale=locale)
    try:
        await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
        await expect(page.locator("table.tickets tbody tr")).to_have_count(5)
        assert await overflow_of(page, ".list-view .table-scroll") <= 0
        container = await page.locator(".list-view .table-scroll").bounding_box()
        comment = await page.locator("table.tickets tbody td.comment-cell").first.bounding_box()
        assert container and comment
        assert comment["x"] + comment["width"] <= container["x"] + container["width"] + 0.5
        await shot(page, f"list-1920-{locale}")
    finally:
        await page.context.close()


@pytest.mark.parametrize("width", [1920, 1366])
async def test_kanban_shows_the_working_statuses_without_scrolling(
    dashboard: DashboardEnv, dashboard_workspace: str, browser, width: int
) -> None:
    ws = dashboard_workspace
    dashboard.store.bulk_insert_states(
        read_only_tickets(ws, [{"status": s, "customer_comment": LONG_COMMENT} for s in TicketStatus])
    )
    page = await new_page(browser, dashboard, width=width, height=1000)
    try:
        await page.goto(dashboard.url(f"/dashboard/kanban?workspace={ws}"))
        assert await overflow_of(page, "#kanban") <= 0
        assert await page_overflow(page) <= 0
        for status in ("new", "open", "answered", "escalated", "postponed", "resolved"):
            column = page.locator(f".kanban-column[data-status={status}]")
            await expect(column.locator(".card")).to_be_visible()
            box = await column.bounding_box()
            assert box and box["width"] >= 160, (status, box)
        # The rest are folded: their count shows; a click unfolds them.
        for status in ("closed", "spam", "deleted"):
            column = page.locator(f".kanban-column[data-status={status}]")
            toggle = column.locator(".column-toggle")
            await expect(toggle).to_have_attribute("aria-expanded", "false")
            await expect(column.locator(".card")).to_be_hidden()
            await expect(column.locator("[data-count]")).to_have_text("1")
        closed = page.locator(".kanban-column[data-status=closed]")
        await closed.locator(".column-toggle").click()
        await expect(closed.locator(".column-toggle")).to_have_attribute("aria-expanded", "true")
        await expect(closed.locator(".card")).to_be_visible()
        await shot(page, f"kanban-{width}")
        no_script_errors(page)
    finally:
        await page.context.close()


async def test_hungarian_move_to_select_is_not_squeezed(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    dashboard.store.bulk_insert_states(read_only_tickets(ws, [{"status": TicketStatus.OPEN}]))
    for width in (1920, 1366, 390):
        page = await new_page(browser, dashboard, width=width, height=900, locale="hu-HU")
        try:
            await page.goto(dashboard.url(f"/dashboard/kanban?workspace={ws}"))
            select = page.locator(".kanban-column[data-status=open] .move-select").first
            # The select's box holds its text ("Áthelyezés ide…") and the arrow.
            spare = await select.evaluate(
                """select => {
                    const probe = document.createElement("span");
                    const style = getComputedStyle(select);
                    probe.style.font = style.font;
                    probe.style.whiteSpace = "nowrap";
                    probe.style.position = "absolute";
                    probe.textContent = select.options[select.selectedIndex].text;
                    document.body.append(probe);
                    const text = probe.getBoundingClientRect().width;
                    probe.remove();
                    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
                    return select.clientWidth - padding - text - 16;
                }"""
            )
            assert spare >= 0, f"at {width}px the select is {-spare:.0f}px too narrow for its text"
            # Select and button stay inside the card.
            card = await page.locator(".kanban-column[data-status=open] .card").first.bounding_box()
            assert card
            for control in (select, page.locator(".kanban-column[data-status=open] .move-button").first):
                box = await control.bounding_box()
                assert box and box["x"] + box["width"] <= card["x"] + card["width"], (width, box, card)
            if width == 1366:
                await shot(page, "kanban-hungarian")
        finally:
            await page.context.close()


@pytest.mark.parametrize("locale", ["es-ES", "ja-JP", "de-DE", "hu-HU"])
async def test_workspace_label_stays_on_one_line(
    dashboard: DashboardEnv, dashboard_workspace: str, browser, locale: str
) -> None:
    ws = dashboard_workspace
    for width in (1920, 1280, 1024, 700):
        page = await new_page(browser, dashboard, width=width, height=800, locale=locale)
        try:
            await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
            label = page.locator(".workspace-switch label")
            lines = await label.evaluate(
                "l => Math.round(l.getBoundingClientRect().height / parseFloat(getComputedStyle(l).lineHeight))"
            )
            assert lines == 1, f"at {width}px the label takes {lines} lines"
            assert await page_overflow(page) <= 0
        finally:
            await page.context.close()


async def test_settings_do_not_pan_at_phone_width(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    ws = dashboard_workspace
    configuration.create_survey(
        dashboard.engine,
        ws,
        "Post-delivery NPS with a rather long name for a survey",
        field_mapping={"score": "nps", "customer_email": "email"},
        default_segment="retail",
    )
    rule = await dashboard.http.post(
        "/api/escalation-rules",
        json={
            "workspace_id": ws,
            "name": "Detractors waiting too long go to the head of the team",
            "segment": "retail",
            "after_seconds": 14_400,
            "assignee": name_in(ws, "dee"),
        },
    )
    assert rule.status_code == 201, rule.text
    dashboard.store.bulk_insert_states(wide_tickets(ws, 2))
    for locale in ("en-US", "de-DE", "hu-HU"):
        phone = await new_page(
            browser, dashboard, width=390, height=844, is_mobile=True, has_touch=True, locale=locale
        )
        try:
            for path in ("settings", "tickets", "kanban", "feed"):
                await phone.goto(dashboard.url(f"/dashboard/{path}?workspace={ws}"))
                # A phone zooms out to show a page wider than itself: its
                # innerWidth grows with the page, the layout viewport does not.
                overflow = await page_overflow(phone)
                assert overflow <= 0, f"/dashboard/{path} in {locale} is {overflow}px wider than the phone"
            if locale == "en-US":
                await phone.goto(dashboard.url(f"/dashboard/settings?workspace={ws}"))
                await shot(phone, "settings-phone")
        finally:
            await phone.context.close()


async def test_response_dialog_names_the_survey(
    dashboard: DashboardEnv, dashboard_workspace: str, page: Page
) -> None:
    ws = dashboard_workspace
    survey = configuration.create_survey(
        dashboard.engine,
        ws,
        "Post-delivery NPS",
        field_mapping={"score": "nps", "comment": "why", "customer_email": "email"},
        default_segment="retail",
    )
    body = json.dumps(
        {
            "response_id": uuid.uuid4().hex,
            "submitted_at": datetime.now(UTC).isoformat(),
            "answers": {"nps": 3, "why": "Late again", "email": "zoe@example.com"},
        }
    ).encode()
    accepted = await signed_delivery(dashboard.http, survey.id, survey.webhook_secret, body)
    assert accepted.status_code == 202, accepted.text
    response_id = accepted.json()["response_id"]

    async def ticket_made() -> bool:
        return dashboard.store.get(response_id) is not None

    await eventually("the survey response becomes a ticket", ticket_made)
    await page.goto(dashboard.url(f"/dashboard/tickets?workspace={ws}"))
    await page.get_by_role("link", name=f"Customer response {response_id}").click()
    dialog = page.locator("#response-dialog")
    await expect(dialog).to_be_visible()
    survey_cell = dialog.locator("dt:text-is('Survey') + dd")
    await expect(survey_cell).to_have_text("Post-delivery NPS")
    await page.goto(dashboard.url(f"/dashboard/responses/{response_id}"))
    await expect(page.locator("dt:text-is('Survey') + dd")).to_have_text("Post-delivery NPS")
    no_script_errors(page)
