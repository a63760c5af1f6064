"""Refusals and the API's own errors in the reader's language: over real HTTP
(the ASGI app) on the shared dev server, on SQLite and on PostgreSQL, and in
the dashboard in a real browser.

The language is negotiated like the dashboard's: its language cookie, then
Accept-Language, else English, which is exactly what a client that asks for
no language has always read.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect
from temporalio.testing import WorkflowEnvironment

from api.dashboard.i18n import LOCALE_COOKIE
from domain.ticket import workflow_id_for
from store import configuration
from tests.api_fixtures import ApiEnv, name_in
from tests.dashboard_fixtures import ARTIFACTS, DashboardEnv, new_page
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.dev_server


async def create(api: ApiEnv, workspace: str, **fields) -> dict:
    body = {
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
        "comment": "Phoned about a late delivery", **fields,
    }
    response = await api.http.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_refused_owner_in_german_and_english(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, segment="b2b")
    ann = name_in(workspace, "ann")  # manages retail, not b2b
    change = {"owner": ann, "comment": "Ann knows the customer"}

    german = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json=change, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    )
    assert german.status_code == 422, german.text
    assert german.json() == {"detail": f"„{ann}“ ist kein Manager des Segments „b2b“"}
    assert german.headers["content-language"] == "de"
    assert "Accept-Language" in german.headers["vary"]

    # No Accept-Language: today's English, word for word.
    english = await api.http.patch(f"/api/tickets/{ticket['id']}", json=change)
    assert english.status_code == 422, english.text
    assert english.json() == {"detail": f"'{ann}' is not a manager of segment 'b2b'"}
    assert english.headers["content-language"] == "en"

    # The dashboard's language cookie comes before Accept-Language.
    hungarian = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json=change,
        headers={"Accept-Language": "de", "Cookie": f"{LOCALE_COOKIE}=hu"},
    )
    assert hungarian.json() == {"detail": f"„{ann}” nem felelős ebben a szegmensben: „b2b”"}
    assert hungarian.headers["content-language"] == "hu"

    # The same refusal before a ticket is even started (the API decides it first).
    spanish = await api.http.post(
        "/api/tickets",
        json={"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
              "owner": "mallory", "comment": "x"},
        headers={"Accept-Language": "es"},
    )
    assert spanish.status_code == 422, spanish.text
    assert spanish.json() == {"detail": "«mallory» no es responsable del segmento «retail»"}
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["version"] == 1


async def test_transition_refusal_409_in_japanese(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    skip = {"status": "closed", "comment": "Skip ahead"}
    english = await api.http.patch(f"/api/tickets/{ticket['id']}", json=skip)
    assert english.status_code == 409, english.text
    allowed = re.fullmatch(
        r"cannot change status from new to closed \(allowed: (.+)\)", english.json()["detail"]
    )
    assert allowed, english.text

    japanese = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json=skip, headers={"Accept-Language": "ja-JP"}
    )
    assert japanese.status_code == 409, japanese.text
    assert japanese.json() == {
        "detail": f"ステータスを new から closed に変更できません（変更できるのは: {allowed[1]}）"
    }
    assert japanese.headers["content-language"] == "ja"


async def test_closed_ticket_409_in_spanish(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    for status in ("resolved", "closed"):
        response = await api.http.patch(
            f"/api/tickets/{ticket['id']}", json={"status": status, "comment": status}
        )
        assert response.status_code == 200, response.text
    response = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json={"status": "open", "comment": "again"},
        headers={"Accept-Language": "es"},
    )
    assert response.status_code == 409, response.text
    assert response.json() == {"detail": "el ticket está cerrado; ya no se puede cambiar"}
    assert response.headers["content-language"] == "es"


async def test_unknown_ticket_404_in_hungarian(api: ApiEnv) -> None:
    for method, path, body in [
        ("GET", "/api/tickets/nope", None),
        ("PATCH", "/api/tickets/nope", {"status": "open", "comment": "x"}),
        ("GET", "/api/tickets/%00", None),
    ]:
        response = await api.http.request(method, path, json=body, headers={"Accept-Language": "hu-HU"})
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": "a jegy nem található"}
        assert response.headers["content-language"] == "hu"
    # A language without a catalog: English.
    response = await api.http.get("/api/tickets/nope", headers={"Accept-Language": "fr-FR, fr;q=0.9"})
    assert response.json() == {"detail": "ticket not found"}
    assert response.headers["content-language"] == "en"


async def test_malformed_input_422_stays_as_pydantic_says(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    response = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json={"status": "bogus", "comment": "x"},
        headers={"Accept-Language": "de"},
    )
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"][-1] == "status" and problem["msg"].startswith("Input should be")
    assert "content-language" not in response.headers


async def test_dashboard_in_german_shows_the_german_refusal(
    dashboard: DashboardEnv, dashboard_workspace: str, dev_server: WorkflowEnvironment, browser
) -> None:
    """The editor offers the segment's managers as the page was loaded; an
    admin takes one off the segment meanwhile, and the manager who picks them
    reads why not in the language they chose for the dashboard (their browser
    asks for English)."""
    ws = dashboard_workspace
    response = await dashboard.http.post(
        "/api/tickets",
        json={"workspace_id": ws, "customer_email": "pat@example.com", "segment": "b2b",
              "comment": "Wrong size"},
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    cy = name_in(ws, "cy")

    page = await new_page(browser, dashboard, locale="en-US")
    try:
        await page.context.add_cookies([{"name": LOCALE_COOKIE, "value": "de", "url": dashboard.base_url}])
        await page.goto(dashboard.url(f"/dashboard/tickets/{ticket['id']}"))
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        form = page.locator("#ticket-form")
        owner = form.locator("select[name=owner]")
        assert cy in await owner.locator("option").all_inner_texts()

        [b2b] = [s for s in configuration.list_segments(dashboard.engine, ws) if s.name == "b2b"]
        response = await dashboard.http.put(
            f"/api/segments/{b2b.id}/managers", json=[{"username": name_in(ws, "bob")}]
        )
        assert response.status_code == 200, response.text
        handle = dev_server.client.get_workflow_handle(workflow_id_for(ticket["id"]))
        async with asyncio.timeout(15):  # the roll-out reaches the ticket
            while cy in (await handle.query(TicketWorkflow.query_policy)).segment_managers["b2b"]:
                await asyncio.sleep(0.1)

        await owner.select_option(cy)
        await form.locator("textarea[name=comment]").fill("Cy kennt den Kunden")
        await form.get_by_role("button", name="Ticket aktualisieren").click()
        await expect(form.locator(".form-error")).to_have_text(
            f"Nicht geändert: „{cy}“ ist kein Manager des Segments „b2b“"
        )
        await page.screenshot(path=str(ARTIFACTS / "dashboard-refusal-german.png"))
        assert page.script_errors == [], page.script_errors
        # Refused: the log has the roll-out's line, and no change of owner.
        events = (await dashboard.http.get(f"/api/tickets/{ticket['id']}/events")).json()
        assert [e["field"] for e in events if e["field"] == "owner"] == []
        assert (await dashboard.http.get(f"/api/tickets/{ticket['id']}")).json()["owner"] is None
    finally:
        await page.context.close()
