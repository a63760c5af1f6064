"""Refusals and the API's own errors in the reader's language: over real HTTP
(the ASGI app) on the shared dev server, on SQLite and on PostgreSQL, and in
the dashboard in a real browser.

The language is negotiated like the dashboard's: its language cookie, then
Accept-Language, else English, which is exactly what a client that asks for
no language has always read.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from limits import parse as parse_rate
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
    # Statuses as the list words them, not their values ("new", "closed").
    assert english.json()["detail"] == (
        "cannot change status from New to Closed (allowed: Open, Answered, Escalated, Postponed, Resolved, "
        "Spam, Deleted)"
    )

    japanese = await api.http.patch(
        f"/api/tickets/{ticket['id']}", json=skip, headers={"Accept-Language": "ja-JP"}
    )
    assert japanese.status_code == 409, japanese.text
    assert japanese.json() == {
        "detail": "ステータスを 新規 から クローズ に変更できません"
        "（変更できるのは: 対応中, 回答済み, エスカレーション, 保留, 解決済み, スパム, 削除済み）"
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


async def test_configuration_refusal_409_in_german_and_english(api: ApiEnv, workspace: str) -> None:
    duplicate = {"workspace_id": workspace, "name": "retail"}
    german = await api.http.post("/api/segments", json=duplicate, headers={"Accept-Language": "de-DE"})
    assert german.status_code == 409, german.text
    assert german.json() == {"detail": f"Arbeitsbereich „{workspace}“ hat bereits ein Segment „retail“"}
    assert german.headers["content-language"] == "de"

    # No Accept-Language: today's English, word for word.
    english = await api.http.post("/api/segments", json=duplicate)
    assert english.status_code == 409, english.text
    assert english.json() == {"detail": f"workspace '{workspace}' already has a segment 'retail'"}
    assert english.headers["content-language"] == "en"

    # A message with a part translated on its own ("3 segments").
    for language, detail in [
        ("de", f"Arbeitsbereich „{workspace}“ enthält noch Segmente: 3; löschen Sie diese zuerst"),
        (None, f"workspace '{workspace}' still has 3 segments; delete them first"),
    ]:
        response = await api.http.delete(
            f"/api/workspaces/{workspace}", headers={"Accept-Language": language} if language else {}
        )
        assert response.status_code == 409, response.text
        assert response.json() == {"detail": detail}

    # Several problems at once, each in the reader's language.
    rule = {"workspace_id": workspace, "segment": "atlantis", "assignee": "ghost", "after_seconds": 60}
    japanese = await api.http.post("/api/escalation-rules", json=rule, headers={"Accept-Language": "ja"})
    assert japanese.status_code == 422, japanese.text
    assert japanese.json() == {
        "detail": f"セグメント「atlantis」はワークスペース「{workspace}」のセグメントではありません; "
        "エスカレーション先「ghost」は既知のユーザー名ではありません"
    }
    english = await api.http.post("/api/escalation-rules", json=rule)
    assert english.json() == {
        "detail": f"segment 'atlantis' is not a segment of workspace '{workspace}'; "
        "assignee 'ghost' is not a known username"
    }


async def test_unauthenticated_401_in_japanese_keeps_www_authenticate(api: ApiEnv) -> None:
    for authorization, detail in [
        ("Bearer cxl_not-a-token", "不明または失効したトークンです"),
        ("Basic YWRtaW46YWRtaW4=", "「Authorization: Bearer <token>」を使用してください"),
    ]:
        response = await api.http.get(
            "/api/me", headers={"Authorization": authorization, "Accept-Language": "ja,en;q=0.5"}
        )
        assert response.status_code == 401, response.text
        assert response.json() == {"detail": detail}
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-language"] == "ja"
    english = await api.http.get("/api/me", headers={"Authorization": "Bearer cxl_not-a-token"})
    assert english.json() == {"detail": "unknown or revoked token"}
    assert english.headers["www-authenticate"] == "Bearer"


async def test_too_many_requests_429_in_spanish_keeps_retry_after(api: ApiEnv, workspace: str) -> None:
    """The web form's limit (per client address), from an address of its own.
    Bodies that fail validation count too, and start nothing."""
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    transport = httpx.ASGITransport(app=api.http._transport.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as client:
        for _ in range(parse_rate(api.settings.form_rate_limit).amount):
            assert (await client.post("/api/intake/form", json={})).status_code == 422
        spanish = await client.post("/api/intake/form", json={}, headers={"Accept-Language": "es-ES"})
        assert spanish.status_code == 429, spanish.text
        assert spanish.json() == {"detail": "demasiados envíos; vuelva a intentarlo más tarde"}
        assert spanish.headers["content-language"] == "es"
        assert int(spanish.headers["retry-after"]) >= 1
        english = await client.post("/api/intake/form", json={})
        assert english.json() == {"detail": "too many submissions; try again later"}
        assert int(english.headers["retry-after"]) >= 1


async def test_body_too_large_413_in_hungarian(api: ApiEnv) -> None:
    """Refused by the middleware before the app reads a byte: in the reader's
    language all the same."""
    limit = api.settings.max_body_bytes
    too_large = b"{}" + b" " * limit
    json_body = {"Content-Type": "application/json"}
    response = await api.http.post("/api/tickets", content=too_large, headers={**json_body, "Accept-Language": "hu"})
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": f"a kérés törzse nagyobb {limit} bájtnál"}
    assert response.headers["content-language"] == "hu"
    english = await api.http.post("/api/tickets", content=too_large, headers=json_body)
    assert english.json() == {"detail": f"request body larger than {limit} bytes"}


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


async def test_settings_in_german_show_the_german_configuration_refusal(
    dashboard: DashboardEnv, dashboard_workspace: str, browser
) -> None:
    """An admin whose browser asks for German creates a segment that exists
    already: the settings page says why not, in German."""
    ws = dashboard_workspace
    page = await new_page(browser, dashboard, locale="de-DE")
    try:
        await page.goto(dashboard.url(f"/dashboard/settings?workspace={ws}"))
        await expect(page.locator("html")).to_have_attribute("lang", "de")
        form = page.locator("#segments form[data-url='/api/segments']")
        await form.locator("input[name=name]").fill("retail")
        async with page.expect_response(lambda r: r.request.method == "POST") as posted:
            await form.get_by_role("button", name="Segment anlegen").click()
        answer = await posted.value
        assert answer.status == 409
        assert answer.headers["content-language"] == "de"
        await expect(form.locator(".form-error")).to_have_text(
            f"Nicht geändert: Arbeitsbereich „{ws}“ hat bereits ein Segment „retail“"
        )
        await form.screenshot(path=str(ARTIFACTS / "settings-refusal-german.png"))
        assert page.script_errors == [], page.script_errors
        assert [s.name for s in configuration.list_segments(dashboard.engine, ws)].count("retail") == 1
    finally:
        await page.context.close()
