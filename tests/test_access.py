"""Who may call what (DESIGN.md "Access"), over real HTTP on both databases.

The table below is the expected rule of every route; `test_every_route_has_a_rule`
walks the app's routes (the OpenAPI ones and the dashboard's pages), so a new
route without a rule here fails the suite. Each role then calls every route:

- public: answered alike with or without a user's credentials (the signed
  intake answers its own signature check, 401 included);
- signed: any signed-in user; without credentials 401 (pages: to the sign-in page);
- admin: admins only; managers and agents get 403;
- reach: signed in, and about one ticket: a ticket outside the caller's reach
  is 404, exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth.caller import SESSION_COOKIE
from api.auth.router import LOGIN_CSRF_COOKIE
from store import accounts
from store.configuration import NotFound
from store.models import User
from tests.api_fixtures import ApiEnv, cast_of, csrf_in, name_in

PUBLIC, SIGNED, ADMIN, REACH = "public", "signed", "admin", "reach"

RULES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # survey platforms and customers: signed bodies or rate-limited forms
    ("POST", "/api/webhooks/surveys/{survey_id}"): PUBLIC,
    ("POST", "/api/intake/form"): PUBLIC,
    ("POST", "/api/intake/email"): PUBLIC,
    # the customer's signed "is it solved?" links
    ("GET", "/customer/tickets/{token}"): PUBLIC,
    ("POST", "/customer/tickets/{token}"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): SIGNED,
    ("GET", "/api/me"): SIGNED,
    ("PUT", "/api/me/password"): SIGNED,
    ("GET", "/api/tokens"): SIGNED,
    ("POST", "/api/tokens"): SIGNED,
    ("DELETE", "/api/tokens/{token_id}"): SIGNED,
    ("GET", "/api/tickets"): SIGNED,
    ("POST", "/api/tickets"): SIGNED,
    ("GET", "/api/tickets/counts"): SIGNED,
    ("GET", "/api/tickets/export.xlsx"): SIGNED,
    ("GET", "/api/tickets/{ticket_id}"): REACH,
    ("PATCH", "/api/tickets/{ticket_id}"): REACH,
    ("POST", "/api/tickets/{ticket_id}/comments"): REACH,
    ("GET", "/api/tickets/{ticket_id}/events"): REACH,
    ("POST", "/api/tickets/{ticket_id}/replies"): REACH,
    ("GET", "/api/tickets/{ticket_id}/messages"): REACH,
    ("GET", "/api/responses/{response_id}"): SIGNED,
    ("GET", "/api/customers/{email}/history"): SIGNED,
    ("GET", "/api/workspaces"): ADMIN,
    ("POST", "/api/workspaces"): ADMIN,
    ("GET", "/api/workspaces/{workspace_id}"): ADMIN,
    ("PATCH", "/api/workspaces/{workspace_id}"): ADMIN,
    ("DELETE", "/api/workspaces/{workspace_id}"): ADMIN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("GET", "/api/users/{user_id}"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    ("DELETE", "/api/users/{user_id}"): ADMIN,
    ("PUT", "/api/users/{user_id}/password"): ADMIN,
    ("GET", "/api/segments"): ADMIN,
    ("POST", "/api/segments"): ADMIN,
    ("GET", "/api/segments/{segment_id}"): ADMIN,
    ("PATCH", "/api/segments/{segment_id}"): ADMIN,
    ("DELETE", "/api/segments/{segment_id}"): ADMIN,
    ("PUT", "/api/segments/{segment_id}/managers"): ADMIN,
    ("GET", "/api/surveys"): ADMIN,
    ("POST", "/api/surveys"): ADMIN,
    ("GET", "/api/surveys/{survey_id}"): ADMIN,
    ("PATCH", "/api/surveys/{survey_id}"): ADMIN,
    ("DELETE", "/api/surveys/{survey_id}"): ADMIN,
    ("POST", "/api/surveys/{survey_id}/webhook-secret"): ADMIN,
    ("POST", "/api/surveys/{survey_id}/test-response"): ADMIN,
    ("GET", "/api/surveys/{survey_id}/alert-rules"): ADMIN,
    ("POST", "/api/surveys/{survey_id}/alert-rules"): ADMIN,
    ("GET", "/api/surveys/{survey_id}/alert-rules/{rule_id}"): ADMIN,
    ("PATCH", "/api/surveys/{survey_id}/alert-rules/{rule_id}"): ADMIN,
    ("DELETE", "/api/surveys/{survey_id}/alert-rules/{rule_id}"): ADMIN,
    ("GET", "/api/escalation-rules"): ADMIN,
    ("POST", "/api/escalation-rules"): ADMIN,
    ("GET", "/api/escalation-rules/{rule_id}"): ADMIN,
    ("PATCH", "/api/escalation-rules/{rule_id}"): ADMIN,
    ("DELETE", "/api/escalation-rules/{rule_id}"): ADMIN,
    ("GET", "/api/reply-templates"): SIGNED,
    ("POST", "/api/reply-templates"): ADMIN,
    ("GET", "/api/reply-templates/{template_id}"): SIGNED,
    ("PUT", "/api/reply-templates/{template_id}"): ADMIN,
    ("PATCH", "/api/reply-templates/{template_id}"): ADMIN,
    ("DELETE", "/api/reply-templates/{template_id}"): ADMIN,
    ("GET", "/api/resolution-reasons"): SIGNED,
    ("POST", "/api/resolution-reasons"): ADMIN,
    ("GET", "/api/resolution-reasons/{reason_id}"): SIGNED,
    ("PATCH", "/api/resolution-reasons/{reason_id}"): ADMIN,
    # dashboard pages (a signed-in reader; the settings only for admins)
    ("GET", "/"): SIGNED,
    ("GET", "/dashboard"): SIGNED,
    ("GET", "/dashboard/tickets"): SIGNED,
    ("GET", "/dashboard/feed"): SIGNED,
    ("GET", "/dashboard/feed/stream"): SIGNED,
    ("GET", "/dashboard/kanban"): SIGNED,
    ("GET", "/dashboard/tickets/{ticket_id}"): REACH,
    ("GET", "/dashboard/responses/{response_id}"): SIGNED,
    ("GET", "/dashboard/settings"): ADMIN,
    ("POST", "/dashboard/preferences"): SIGNED,
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves: walks included routers
    (whatever their depth) and checks the walk against the OpenAPI schema."""
    found: set[tuple[str, str]] = set()

    def walk(routes) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif hasattr(route, "routes") and not hasattr(route, "methods"):
                walk(route.routes)
            elif getattr(route, "methods", None):
                found.update((method, route.path) for method in route.methods if method != "HEAD")

    walk(app.routes)
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            assert (method.upper(), path) in found, f"the walk missed {method.upper()} {path}"
    return found


def test_every_route_has_a_rule(api: ApiEnv) -> None:
    from api.app import create_app

    routes = app_routes(create_app(api.settings))
    missing = sorted(routes - set(RULES))
    assert not missing, f"routes without an access rule in tests/test_access.py: {missing}"
    stale = sorted(set(RULES) - routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


def concrete(path: str, ticket_id: str) -> str:
    path = path.replace("{ticket_id}", ticket_id)
    return re.sub(r"\{[a-z_]+\}", "no-such-id", path)


def request_for(method: str, path: str) -> dict:
    """A body that gets past authorization whatever it then says (422 is fine)."""
    if path == "/logout" or path == "/dashboard/preferences" or path == "/login":
        return {"data": {}}
    if method in ("POST", "PATCH", "PUT"):
        return {"json": {}}
    return {}


def is_page(path: str) -> bool:
    return path == "/" or path.startswith("/dashboard") or path == "/logout"


ROLES = ("anonymous", "agent", "manager", "admin")


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_on_every_route(api: ApiEnv, workspace: str, role: str) -> None:
    cast = await cast_of(api, workspace)
    username = {"agent": cast.agent, "manager": cast.manager, "admin": api.admin_username}.get(role)
    headers = {"Authorization": ""} if username is None else api.headers_for(username)
    own = {"agent": cast.agent_ticket, "manager": cast.manager_ticket, "admin": cast.b2b_ticket}.get(role)
    foreign = {"agent": cast.manager_ticket, "manager": cast.agent_ticket}.get(role)
    failures = []
    for (method, path), rule in sorted(RULES.items()):
        if path == "/dashboard/feed/stream" and role != "anonymous":
            continue  # an endless stream once allowed; the feed page's test reads it
        for ticket, expect_reach in ((own, True), (foreign, False)):
            if ticket is None or (rule != REACH and not expect_reach):
                continue
            url = concrete(path, ticket["id"])
            response = await send(api, method, url, headers, role, path)
            code = response.status_code
            if rule == PUBLIC:
                wrong = code >= 500 or code != (await send(api, method, url, {}, "anonymous", path)).status_code
            elif role == "anonymous":
                wrong = code != 303 if is_page(path) else code != 401
            elif rule == ADMIN:
                wrong = code == 401 or (role == "admin") == (code == 403)
            elif rule == REACH and not expect_reach:
                wrong = code != 404
            else:
                wrong = code in (401, 403) or (rule == REACH and code == 404)
            if wrong:
                failures.append(f"{role} {method} {url} ({rule}): {code} {response.text[:120]}")
    assert not failures, "\n".join(failures)


async def send(api: ApiEnv, method: str, url: str, headers: dict, role: str, path: str) -> httpx.Response:
    kwargs = request_for(method, path)
    if role == "anonymous":
        # Without credentials: a fresh client (no cookie, no token).
        async with httpx.AsyncClient(transport=api.http._transport, base_url=api.http.base_url) as anonymous:
            return await anonymous.request(method, url, **kwargs)
    return await api.http.request(method, url, headers=headers, **kwargs)


async def test_lists_counts_and_export_hold_only_what_is_in_reach(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    params = {"workspace": workspace}
    for username, expected in (
        (cast.manager, {cast.manager_ticket["id"]}),
        (cast.agent, {cast.agent_ticket["id"]}),
        (api.admin_username, {cast.manager_ticket["id"], cast.agent_ticket["id"], cast.b2b_ticket["id"]}),
    ):
        headers = api.headers_for(username)
        listed = (await api.http.get("/api/tickets", params=params, headers=headers)).json()["items"]
        assert {t["id"] for t in listed} == expected, username
        counts = (await api.http.get("/api/tickets/counts", params=params, headers=headers)).json()
        assert counts["total"] == len(expected)
        sheet = await api.http.get("/api/tickets/export.xlsx", params=params, headers=headers)
        rows = list(load_workbook(io.BytesIO(sheet.content), read_only=True).active.iter_rows(values_only=True))
        assert len(rows) == 1 + len(expected)


async def test_a_manager_moving_a_ticket_out_of_reach_loses_it(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    headers = api.headers_for(cast.manager)
    ticket_url = f"/api/tickets/{cast.manager_ticket['id']}"
    moved = await api.http.patch(
        ticket_url, json={"segment": "support", "owner": name_in(workspace, "dee"), "comment": "theirs"},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert (await api.http.get(ticket_url, headers=headers)).status_code == 404


async def test_opening_tickets_by_role(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "comment": "by phone"}
    # A manager opens tickets in the segments they manage only.
    assert (await api.http.post("/api/tickets", json={**body, "segment": "b2b"},
                                headers=api.headers_for(cast.manager))).status_code == 403
    # An agent's ticket is theirs.
    made = await api.http.post("/api/tickets", json={**body, "segment": "b2b"}, headers=api.headers_for(cast.agent))
    assert made.status_code == 201 and made.json()["owner"] == cast.agent
    refused = await api.http.post("/api/tickets", json={**body, "segment": "b2b", "owner": name_in(workspace, "bob")},
                                  headers=api.headers_for(cast.agent))
    assert refused.status_code == 403


async def test_the_log_names_the_authenticated_user_never_the_body(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    headers = api.headers_for(cast.manager)
    url = f"/api/tickets/{cast.manager_ticket['id']}"
    forged = await api.http.patch(url, json={"status": "open", "comment": "x", "actor": "mallory"}, headers=headers)
    assert forged.status_code == 422
    forged = await api.http.post(f"{url}/comments", json={"comment": "x", "actor": "mallory"}, headers=headers)
    assert forged.status_code == 422
    assert (await api.http.patch(url, json={"status": "open", "comment": "on it"}, headers=headers)).status_code == 200
    events = (await api.http.get(f"{url}/events", headers=headers)).json()
    assert events[-1]["actor"] == cast.manager and "mallory" not in {e["actor"] for e in events}


# --- tokens -------------------------------------------------------------------------------


async def test_tokens_created_used_and_revoked(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    manager = api.headers_for(cast.manager)
    created = await api.http.post("/api/tokens", json={"name": "CRM sync"}, headers=manager)
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("cxl_") and token["name"] == "CRM sync"
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert (await api.http.get("/api/me", headers=bearer)).json()["username"] == cast.manager
    listed = (await api.http.get("/api/tokens", headers=manager)).json()
    assert token["id"] in {t["id"] for t in listed} and "token" not in listed[0]
    # Someone else's token is not the agent's to see or revoke.
    agent = api.headers_for(cast.agent)
    assert (await api.http.delete(f"/api/tokens/{token['id']}", headers=agent)).status_code == 404
    assert (await api.http.get("/api/tokens", params={"user_id": token["user_id"]}, headers=agent)).status_code == 403
    assert (await api.http.post("/api/tokens", json={"user_id": token["user_id"]}, headers=agent)).status_code == 403
    # Revoked: refused at once.
    assert (await api.http.delete(f"/api/tokens/{token['id']}", headers=bearer)).status_code == 204
    refused = await api.http.get("/api/me", headers=bearer)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    # An admin makes and revokes tokens for others.
    for_agent = await api.http.post("/api/tokens", json={"name": "ops", "user_id": token["user_id"]})
    assert for_agent.status_code == 201
    assert (await api.http.delete(f"/api/tokens/{for_agent.json()['id']}")).status_code == 204
    assert (await api.http.get("/api/me", headers={"Authorization": "Basic abc"})).status_code == 401
    assert (await api.http.get("/api/me", headers={"Authorization": "Bearer cxl_forged"})).status_code == 401


async def test_a_new_tokens_first_uses_at_once_all_succeed(api: ApiEnv, workspace: str) -> None:
    """The first use of a token records when it was used: many first uses at
    once must not trip over each other's writes (SQLite: "database is locked")."""
    tokens = [(await api.http.post("/api/tokens", json={"name": f"burst {n}"})).json()["token"] for n in range(8)]
    answers = await asyncio.gather(*(
        api.http.get("/api/me", headers={"Authorization": f"Bearer {token}"}) for token in tokens for _ in range(3)
    ))
    assert {answer.status_code for answer in answers} == {200}


def test_a_token_for_a_user_gone_meanwhile_is_not_found(api: ApiEnv) -> None:
    """The API looks the user up before it creates a token; one deleted in
    between is a NotFound (the API's 404), never an integrity error."""
    with pytest.raises(NotFound, match="user 'gone-meanwhile' not found"):
        accounts.create_token(api.engine, "gone-meanwhile", "late")


# --- the dashboard's sign-in ----------------------------------------------------------------


async def test_sign_in_csrf_and_sign_out(api: ApiEnv, workspace: str) -> None:
    cast = await cast_of(api, workspace)
    password = "a long enough secret"
    with Session(api.engine) as session:
        manager_id = session.scalar(select(User.id).where(User.username == cast.manager))
    assert (await api.http.put(f"/api/users/{manager_id}/password", json={"password": "short"})).status_code == 422
    assert (await api.http.put(f"/api/users/{manager_id}/password", json={"password": password})).status_code == 204

    async with httpx.AsyncClient(transport=api.http._transport, base_url="http://cxloop.test") as browser:
        # A page without a session: off to the sign-in page, and back after it.
        page = await browser.get(f"/dashboard/tickets?workspace={workspace}")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=%2Fdashboard%2Ftickets")
        form = await browser.get("/login", params={"next": f"/dashboard/tickets?workspace={workspace}"})
        login_csrf = csrf_in(form.text, "csrf_token")
        fields = {"username": cast.manager, "csrf_token": login_csrf, "next": f"/dashboard/tickets?workspace={workspace}"}
        # Without the form's CSRF token (another site posting): refused.
        forged = await browser.post("/login", data={**fields, "password": password, "csrf_token": "forged"})
        assert forged.status_code == 403 and SESSION_COOKIE not in browser.cookies
        wrong = await browser.post("/login", data={**fields, "password": "not the password"})
        assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
        signed_in = await browser.post("/login", data={**fields, "csrf_token": csrf_in(wrong.text, "csrf_token"),
                                                       "password": password})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == fields["next"]
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert LOGIN_CSRF_COOKIE not in browser.cookies

        page = await browser.get(f"/dashboard/tickets?workspace={workspace}")
        assert page.status_code == 200 and cast.manager_ticket["reference"] in page.text
        assert cast.agent_ticket["reference"] not in page.text
        csrf = csrf_in(page.text, "csrf-token")
        url = f"/api/tickets/{cast.manager_ticket['id']}"
        # A change with the cookie alone (what another site could make the browser send): 403.
        assert (await browser.patch(url, json={"status": "open", "comment": "x"})).status_code == 403
        assert (await browser.patch(url, json={"status": "open", "comment": "x"},
                                    headers={"X-CSRF-Token": "forged"})).status_code == 403
        changed = await browser.patch(url, json={"status": "open", "comment": "from the dashboard"},
                                      headers={"X-CSRF-Token": csrf})
        assert changed.status_code == 200, changed.text
        assert (await browser.post("/dashboard/preferences", data={"locale": "de"})).status_code == 403
        assert (await browser.post("/logout", data={"csrf_token": "forged"})).status_code == 403
        stolen = browser.cookies[SESSION_COOKIE]
        out = await browser.post("/logout", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/login"
    # The session is gone on the server: the old cookie no longer works.
    async with httpx.AsyncClient(transport=api.http._transport, base_url="http://cxloop.test",
                                 cookies={SESSION_COOKIE: stolen}) as thief:
        assert (await thief.get("/api/me")).status_code == 401
        assert (await thief.get("/dashboard/tickets")).status_code == 303


async def test_a_username_with_a_nul_is_just_unknown(api: ApiEnv) -> None:
    """PostgreSQL refuses a NUL even in a look-up: such a sign-in is a wrong
    one like any other (401), never a 500."""
    transport = httpx.ASGITransport(app=api.http._transport.app, client=("203.0.113.8", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as browser:
        form = await browser.get("/login")
        answer = await browser.post("/login", data={"username": "ad\x00min", "password": "guess",
                                                    "csrf_token": csrf_in(form.text, "csrf_token")})
    assert answer.status_code == 401


async def test_sign_in_is_rate_limited(api: ApiEnv) -> None:
    username = f"guess-{uuid.uuid4().hex[:6]}"
    # From an address of its own: the limit counts per address (and per username).
    transport = httpx.ASGITransport(app=api.http._transport.app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as browser:
        codes = []
        for _ in range(12):
            form = await browser.get("/login")
            answer = await browser.post("/login", data={"username": username, "password": "guess",
                                                        "csrf_token": csrf_in(form.text, "csrf_token")})
            codes.append(answer.status_code)
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    assert "Too many attempts" in answer.text and int(answer.headers["Retry-After"]) >= 1
