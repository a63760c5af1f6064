"""Dashboard fixtures: the app served for real (uvicorn on a loopback port,
in a thread of its own), a worker on the shared dev server projecting into a
SQLite read model, and one headless Chromium (Debian's, driven by Playwright)
for the whole session.

Nothing is downloaded: Chromium is the system's (`apt-get install chromium`);
without it the browser tests fail and say so, they are never skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth.caller import SESSION_COOKIE
from domain.ticket import Priority, Source, TicketState, TicketStatus, reference_for
from settings import Settings
from store import accounts
from store.db import make_engine, migrate
from store.models import Segment, SegmentManager, User, UserRole, Workspace
from store.tickets import TicketStore
from tests.api_fixtures import free_port, name_in, user_id_for
from worker import build_worker

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_SECONDS = 30
# Playwright waits at most this long for any one thing, actions and `expect`
# assertions alike: a broken page fails fast. (`expect` has its own default of
# 5 s, which a settings form that hashes a password, rolls out a change and
# reloads the page overran in the full suite on 2 loaded cores.)
BROWSER_TIMEOUT_MS = 15_000
ADMIN = "dashboard-admin"


@dataclass
class DashboardEnv:
    base_url: str
    engine: Engine
    http: httpx.AsyncClient  # to the running server, like any API client, as the admin
    settings: Settings

    def url(self, path: str) -> str:
        return self.base_url + path

    def user(self, username: str, role: UserRole = UserRole.ADMIN, password: str | None = None) -> str:
        """The user's id; created (with `role`) when new; `password` set if given."""
        user_id = user_id_for(self.engine, username, role)
        if password is not None:
            accounts.set_password(self.engine, user_id, password)
        return user_id

    def token_headers(self, username: str, role: UserRole = UserRole.ADMIN) -> dict[str, str]:
        _, secret = accounts.create_token(self.engine, self.user(username, role), "tests")
        return {"Authorization": f"Bearer {secret}"}

    def session_cookie(self, username: str = ADMIN, role: UserRole = UserRole.ADMIN) -> dict:
        """A signed-in dashboard session of `username`, as a browser cookie
        (what POST /login sets; tests/test_access.py signs in through the form)."""
        token, _ = accounts.open_session(self.engine, self.user(username, role), timedelta(hours=1))
        return {"name": SESSION_COOKIE, "value": token, "url": self.base_url, "httpOnly": True, "sameSite": "Lax"}

    @property
    def store(self) -> TicketStore:
        return TicketStore(self.engine)


def chromium_path() -> str:
    wanted = os.environ.get("CXLOOP_CHROMIUM")
    candidates = [wanted] if wanted else [*CHROMIUM_CANDIDATES, shutil.which("chromium")]
    found = next((path for path in candidates if path and os.access(path, os.X_OK)), None)
    if not found:
        pytest.fail(
            "Chromium is missing: the dashboard's browser tests drive Debian's Chromium "
            "(apt-get install -y chromium; .ci/run installs it) or the one CXLOOP_CHROMIUM names"
        )
    return found


@pytest.fixture(scope="session")
async def dashboard(
    dev_server: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[DashboardEnv]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'read-model.db'}"
    migrate(database_url)
    engine = make_engine(database_url)
    task_queue = f"cxloop-dashboard-{uuid.uuid4().hex[:8]}"
    worker = build_worker(
        dev_server.client,
        task_queue,
        engine=engine,
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_failure_exception_types=[Exception],
    )
    settings = Settings(
        database_url=database_url,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=dev_server.client.namespace,
        task_queue=task_queue,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            # Feed streams end when their browser closes; never wait long for one.
            timeout_graceful_shutdown=2,
        )
    )
    # Its own thread and event loop: the browser's requests are served while
    # this loop runs the worker and the tests.
    thread = threading.Thread(target=server.run, name="dashboard-uvicorn", daemon=True)
    async with worker:
        thread.start()
        try:
            deadline = asyncio.get_running_loop().time() + SERVER_START_SECONDS
            while not server.started:
                if not thread.is_alive() or asyncio.get_running_loop().time() > deadline:
                    pytest.fail("the dashboard's server did not start")
                await asyncio.sleep(0.05)
            base_url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                env = DashboardEnv(base_url=base_url, engine=engine, http=http, settings=settings)
                http.headers.update(env.token_headers(ADMIN))
                yield env
        finally:
            server.should_exit = True
            await asyncio.to_thread(thread.join, 10)
    engine.dispose()


@pytest.fixture(scope="session")
async def browser():
    from playwright.async_api import async_playwright, expect

    executable = chromium_path()
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_page(
    browser,
    signed_in: DashboardEnv | None,
    *,
    username: str = ADMIN,
    width: int = 1280,
    height: int = 900,
    locale: str = "en-US",
    **options,
):
    """A fresh browser context and page; `signed_in`: with a session of
    `username` on that dashboard."""
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        locale=locale,
        timezone_id="UTC",
        accept_downloads=True,
        **options,
    )
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    if signed_in is not None:
        await context.add_cookies([signed_in.session_cookie(username)])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.script_errors = errors  # checked by the tests: a page must not throw
    return page


@pytest.fixture
async def page(browser, dashboard: DashboardEnv):
    """A page signed in as the dashboard's admin."""
    page = await new_page(browser, dashboard)
    try:
        yield page
    finally:
        await page.context.close()


@pytest.fixture
def dashboard_workspace(dashboard: DashboardEnv) -> str:
    """A fresh workspace like tests/api_fixtures.py's: retail managed by ann,
    b2b by bob and cy, support by dee (usernames suffixed with the workspace)."""
    return make_workspace(dashboard.engine)


def make_workspace(engine: Engine, name: str | None = None) -> str:
    workspace_id = f"ws-{uuid.uuid4().hex[:8]}"
    with Session(engine) as session, session.begin():
        session.add(Workspace(id=workspace_id, name=name or f"Workspace {workspace_id}"))
        users = {}
        for person in ("ann", "bob", "cy", "dee"):
            users[person] = User(
                username=name_in(workspace_id, person), email=f"{person}@example.com", role=UserRole.MANAGER
            )
            session.add(users[person])
        session.flush()
        for segment, managers in {"retail": ["ann"], "b2b": ["bob", "cy"], "support": ["dee"]}.items():
            row = Segment(workspace_id=workspace_id, name=segment)
            session.add(row)
            session.flush()
            for manager in managers:
                session.add(SegmentManager(segment_id=row.id, user_id=users[manager].id))
    return workspace_id


def read_only_tickets(workspace_id: str, specs: Iterable[dict]) -> list[TicketState]:
    """Tickets written straight into the read model (no workflow behind them):
    for the views that only read, many tickets in a moment."""
    now = datetime.now(UTC)
    states = []
    for spec in specs:
        ticket_id = str(uuid.uuid4())
        fields = {
            "source": Source.MANUAL,
            "customer_email": "pat@example.com",
            "segment": "retail",
            "priority": Priority.MEDIUM,
            "status": TicketStatus.NEW,
            "reported_at": now,
            **spec,
        }
        fields.setdefault("origin_segment", fields["segment"])
        states.append(
            TicketState(
                id=ticket_id,
                reference=reference_for(ticket_id),
                workspace_id=workspace_id,
                created_at=now,
                updated_at=now,
                escalation_clock_started_at=now,
                version=1,
                **fields,
            )
        )
    return states


async def create_ticket(env: DashboardEnv, workspace: str, **fields) -> dict:
    """A ticket opened through the API as the admin: retail, from pat, unless `fields` say otherwise."""
    body = {
        "workspace_id": workspace,
        "customer_email": "pat@example.com",
        "segment": "retail",
        "comment": "Phoned about a late delivery",
        **fields,
    }
    response = await env.http.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def api_ticket(env: DashboardEnv, ticket_id: str) -> dict:
    response = await env.http.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def api_events(env: DashboardEnv, ticket_id: str) -> list[dict]:
    response = await env.http.get(f"/api/tickets/{ticket_id}/events")
    assert response.status_code == 200, response.text
    return response.json()


def no_script_errors(page) -> None:
    """`page` from new_page threw nothing."""
    assert page.script_errors == [], page.script_errors
