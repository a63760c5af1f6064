"""API fixtures: the FastAPI app over real HTTP (httpx on the ASGI app), a
worker projecting into the same read model, and the shared dev server.

`api` runs each test that takes it once on SQLite and once on PostgreSQL; the
database, the worker and the app are shared by the tests of one database (in
one pytest process: each pytest-xdist worker has its own), and each test gets
a workspace of its own (`workspace`).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.mail import MailActivities
from activities.mailer import Mailer
from activities.notices import NoticeActivities
from api.app import create_app
from api.intake.adapters import sign_cxloop
from domain.ticket import EventKind, workflow_id_for
from settings import Settings
from store import accounts
from store.db import make_engine, migrate
from store.models import Segment, SegmentManager, TicketEventRow, TicketRow, User, UserRole, Workspace
from tests.db_fixtures import _postgres_database
from worker import build_worker
from workflows.rollout import rollout_workflow_id


# How long the tests wait, at most, for something asynchronous (a roll-out: a
# workflow, then a signal per ticket; dev-server visibility; a mail).
EVENTUALLY_SECONDS = 20
POLL_SECONDS = 0.2


def free_port() -> int:
    """A free loopback port, for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unique(name: str) -> str:
    """Usernames are global and workspace ids too: each test has its own."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def eventually(probe: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll (bounded) until `probe` returns something truthy; return it."""
    deadline = asyncio.get_running_loop().time() + EVENTUALLY_SECONDS
    while True:
        if result := await probe():
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {EVENTUALLY_SECONDS}s")
        await asyncio.sleep(POLL_SECONDS)


async def created(response: Awaitable[httpx.Response]) -> dict:
    answer = await response
    assert answer.status_code == 201, answer.text
    return answer.json()


async def refused(response: Awaitable[httpx.Response], code: int, *fragments: str) -> Any:
    answer = await response
    assert answer.status_code == code, answer.text
    detail = answer.json()["detail"]
    for fragment in fragments:
        assert fragment in str(detail), (fragment, detail)
    return detail


def csrf_in(html: str, name: str) -> str:
    """The CSRF token a dashboard page carries in a form field or meta tag."""
    found = re.search(rf'name="{name}" (?:value|content)="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


@dataclass
class ApiEnv:
    # Signed in as an admin (a bearer token of `admin_username`).
    http: httpx.AsyncClient
    engine: Engine
    temporal: Client
    database: str
    task_queue: str
    mailbox: "Mailbox"
    settings: Settings
    admin_username: str
    _tokens: dict[str, str] = field(default_factory=dict)

    def headers_for(self, username: str, role: UserRole = UserRole.ADMIN) -> dict[str, str]:
        """A bearer token of `username` (created, with `role`, if they do not
        exist yet), as request headers."""
        if username not in self._tokens:
            user_id = user_id_for(self.engine, username, role)
            _, self._tokens[username] = accounts.create_token(self.engine, user_id, "tests")
        return {"Authorization": f"Bearer {self._tokens[username]}"}


def user_id_for(engine: Engine, username: str, role: UserRole) -> str:
    """The id of the user `username`, created with `role` if there is none."""
    with Session(engine) as session, session.begin():
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, email=f"{username}@example.com", role=role)
            session.add(user)
            session.flush()
        return user.id


class Mailbox(MessageHandler):
    """A real SMTP server's handler (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a loopback port that a test may stop
    and start again (the mail server away for a while), on the same port
    with the same mailbox."""

    def __init__(self, handler: Mailbox, hostname: str = "127.0.0.1") -> None:
        self.handler = handler
        self.hostname = hostname
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        # An aiosmtpd Controller cannot start twice: a new one each time.
        self._controller = Controller(self.handler, hostname=self.hostname, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[SmtpServer, Mailbox]]:
    mailbox = Mailbox()
    server = SmtpServer(mailbox)
    server.start()
    try:
        yield server, mailbox
    finally:
        server.stop()


class ApiPool:
    """The API of each read model, made when a test first asks for it and kept
    until the session ends. `api` is parametrized per session, so pytest puts
    every SQLite test before every PostgreSQL one; but a pytest-xdist worker
    runs whole files in turn (--dist loadfile), each with its SQLite and its
    PostgreSQL tests, and a parametrized session fixture would be torn down
    and made again at each switch: a database, a migration, a worker and an
    app twice per file."""

    def __init__(self, stack: AsyncExitStack, dev_server: WorkflowEnvironment,
                 smtp_server: tuple[SmtpServer, Mailbox], tmp_path_factory: pytest.TempPathFactory) -> None:
        self._stack = stack
        self._dev_server = dev_server
        self._smtp_server = smtp_server
        self._tmp_path_factory = tmp_path_factory
        self._envs: dict[str, ApiEnv] = {}

    async def get(self, database: str) -> ApiEnv:
        if database not in self._envs:
            if database == "sqlite":
                url = f"sqlite:///{self._tmp_path_factory.mktemp('api') / 'read-model.db'}"
            else:
                url = self._stack.enter_context(contextmanager(_postgres_database)())
            migrate(url)
            self._envs[database] = await self._stack.enter_async_context(
                api_env(url, self._dev_server, self._smtp_server)
            )
        return self._envs[database]


@pytest.fixture(scope="session")
async def api_pool(
    dev_server: WorkflowEnvironment, smtp_server: tuple[SmtpServer, Mailbox], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ApiPool]:
    async with AsyncExitStack() as stack:
        yield ApiPool(stack, dev_server, smtp_server, tmp_path_factory)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def api(request: pytest.FixtureRequest, api_pool: ApiPool) -> ApiEnv:
    return await api_pool.get(request.param)


@asynccontextmanager
async def api_env(
    database_url: str, dev_server: WorkflowEnvironment, smtp_server: tuple[SmtpServer, Mailbox]
) -> AsyncIterator[ApiEnv]:
    task_queue = f"cxloop-api-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    controller, mailbox = smtp_server
    mail = MailActivities(controller.hostname, controller.port, "cxloop <no-reply@cxloop.test>")
    defaults = Settings()
    notices = NoticeActivities(engine, mail, defaults.secret_key, defaults.public_url)
    worker = build_worker(
        dev_server.client,
        task_queue,
        engine=engine,
        mail=mail,
        notices=notices,
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_failure_exception_types=[Exception],
    )
    settings = Settings(
        database_url=database_url,
        temporal_address=dev_server.client.service_client.config.target_host,
        temporal_namespace=dev_server.client.namespace,
        task_queue=task_queue,
        smtp_host=controller.hostname,
        smtp_port=controller.port,
        # Every test's web-form posts come from the ASGI client's one address:
        # the default 10/minute is the whole session's budget, and a fast run
        # spent it (CI's 429 in test_mail_privacy). Tests of the limit itself
        # read this value or build apps of their own.
        form_rate_limit="100/minute",
    )
    app = create_app(settings)
    # The worker process's mailer, sending the outbox's mails to the test's
    # SMTP server; a test that stops the server waits half a second, not ten,
    # for the first retry.
    mailer = Mailer(engine, notices, poll_interval=0.1, first_pause=timedelta(seconds=0.5))
    async with worker, mailer, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.test") as http:
            env = ApiEnv(
                http=http, engine=engine, temporal=dev_server.client,
                database=database_url.split(":", 1)[0], task_queue=task_queue, mailbox=mailbox,
                settings=settings, admin_username=f"admin-{task_queue}",
            )
            http.headers.update(env.headers_for(env.admin_username))
            yield env
            # Every mail the session sent to a customer of this read model's
            # tickets, checked against every internal comment it holds.
            leaks = internal_comments_in_customer_mail(engine, mailbox)
    engine.dispose()
    assert not leaks, f"internal comments reached customers: {leaks[:5]}"


def internal_comments_in_customer_mail(engine: Engine, mailbox: Mailbox) -> list[tuple[str, str]]:
    """(customer, comment) for each internal comment of a person's (a change,
    a comment, a ticket's first line) found in a mail to that ticket's
    customer: whatever a test did, none may be. Comments shorter than 16
    characters are left out ("done" may well be in a reply)."""
    internal = (EventKind.CREATED, EventKind.CHANGED, EventKind.COMMENTED)
    with engine.connect() as connection:
        rows = connection.execute(
            select(TicketRow.customer_email, TicketEventRow.comment, TicketEventRow.actor)
            .join(TicketEventRow, TicketEventRow.ticket_id == TicketRow.id)
            .where(TicketEventRow.kind.in_(internal), func.length(TicketEventRow.comment) >= 16)
        ).all()
    said_by_people = [row for row in rows if ":" not in row.actor]  # not system:, rule:, intake:...
    leaks = []
    for customer, comment, _ in said_by_people:
        for mail in mailbox.to(customer):
            text = "\n".join([*(str(value) for value in mail.values()), *(
                part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
                for part in mail.walk() if part.get_content_maintype() == "text"
            )])
            if comment in text:
                leaks.append((customer, comment))
    return leaks


@pytest.fixture
def workspace(api: ApiEnv) -> str:
    """A fresh workspace: segment retail managed by ann, b2b by bob and cy,
    support by dee (usernames suffixed so that workspaces do not collide)."""
    workspace_id = f"ws-{uuid.uuid4().hex[:8]}"
    with Session(api.engine) as session, session.begin():
        session.add(Workspace(id=workspace_id, name=f"Workspace {workspace_id}"))
        users = {}
        for name in ("ann", "bob", "cy", "dee", "boss"):
            users[name] = User(username=name_in(workspace_id, name), email=f"{name}@example.com", role=UserRole.MANAGER)
            session.add(users[name])
        session.flush()  # no relationship() ties these rows: insert parents first
        for segment, managers in {"retail": ["ann"], "b2b": ["bob", "cy"], "support": ["dee"]}.items():
            row = Segment(workspace_id=workspace_id, name=segment)
            session.add(row)
            session.flush()
            for manager in managers:
                session.add(SegmentManager(segment_id=row.id, user_id=users[manager].id))
    return workspace_id


def name_in(workspace_id: str, name: str) -> str:
    """Usernames are global: each test workspace has its own ann, bob..."""
    return f"{name}@{workspace_id}"


async def new_ticket(api: ApiEnv, workspace_id: str, segment: str) -> dict:
    """A manual ticket through the API, once the roll-out can find it."""
    body = {
        "workspace_id": workspace_id,
        "customer_email": "pat@example.com",
        "segment": segment,
        "comment": "Phoned about a late delivery",
    }
    ticket = await created(api.http.post("/api/tickets", json=body))
    # A roll-out finds a workspace's tickets through visibility, which the dev
    # server updates a moment after the ticket starts; "a ticket that exists"
    # is one the roll-out can find.
    query = f"WorkflowId = '{workflow_id_for(ticket['id'])}' AND TicketWorkspace = '{workspace_id}'"

    async def visible() -> bool:
        return bool([w async for w in api.temporal.list_workflows(query)])

    await eventually(visible, "ticket visible to the roll-out")
    return ticket


async def signed_delivery(http: httpx.AsyncClient, survey_id: str, secret: str, body: bytes, *,
                          timestamp: int | None = None, language: str | None = None) -> httpx.Response:
    """`body` posted to the survey's webhook as the survey platform posts it:
    signed with `secret` at `timestamp` (now)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {"X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body),
               "content-type": "application/json"}
    if language:
        headers["Accept-Language"] = language
    return await http.post(f"/api/webhooks/surveys/{survey_id}", content=body, headers=headers)


async def deliver(api: ApiEnv, survey: dict, body: bytes, *, secret: str | None = None,
                  timestamp: int | None = None, language: str | None = None) -> httpx.Response:
    """`body` delivered to the survey the API made, signed with its secret (or `secret`)."""
    return await signed_delivery(api.http, survey["id"], secret or survey["webhook_secret"], body,
                                 timestamp=timestamp, language=language)


async def ticket_of(api: ApiEnv, ticket_id: str) -> dict:
    """The ticket once the read model has it (intake makes it a moment after accepting)."""
    async def found():
        answer = await api.http.get(f"/api/tickets/{ticket_id}")
        return answer.json() if answer.status_code == 200 else None
    return await eventually(found, f"ticket {ticket_id} in the read model")


# --- configuration through the API: a workspace, users, segments, the roll-out ---------


async def new_workspace(api: ApiEnv) -> str:
    workspace_id = unique("cfg")
    body = await created(
        api.http.post("/api/workspaces", json={"id": workspace_id, "name": f"Test {workspace_id}"})
    )
    return body["id"]


async def new_user(api: ApiEnv, name: str, role: str = "manager") -> str:
    username = unique(name)
    body = {"username": username, "email": f"{name}@example.com", "role": role}
    await created(api.http.post("/api/users", json=body))
    return username


async def new_segment(api: ApiEnv, workspace_id: str, name: str, *managers: str, **fields: Any) -> dict:
    body = {
        "workspace_id": workspace_id,
        "name": name,
        "managers": [{"username": m} for m in managers],
        **fields,
    }
    return await created(api.http.post("/api/segments", json=body))


async def rolled_out(api: ApiEnv, workspace_id: str) -> None:
    """The workspace's roll-out workflow exists: the change was handed to Temporal."""
    description = await api.temporal.get_workflow_handle(rollout_workflow_id(workspace_id)).describe()
    assert description.status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED)


# --- one workspace, a manager, an agent, and a ticket in each one's reach ----------------


@dataclass
class Cast:
    workspace: str
    manager: str  # manages segment retail
    agent: str  # may own b2b tickets; owns one
    manager_ticket: dict  # retail, owned by the manager
    agent_ticket: dict  # b2b, owned by the agent
    b2b_ticket: dict  # b2b, unassigned: neither's


async def cast_of(api: ApiEnv, workspace: str) -> Cast:
    manager = name_in(workspace, "ann")
    agent = name_in(workspace, "agent")
    api.headers_for(agent, UserRole.AGENT)
    with Session(api.engine) as session, session.begin():
        agent_id = session.scalar(select(User.id).where(User.username == agent))
        b2b = session.scalar(select(Segment.id).where(Segment.workspace_id == workspace, Segment.name == "b2b"))
        session.add(SegmentManager(segment_id=b2b, user_id=agent_id))

    async def ticket(**fields) -> dict:
        body = {"workspace_id": workspace, "customer_email": "pat@example.com", "comment": "by phone", **fields}
        return await created(api.http.post("/api/tickets", json=body))

    return Cast(
        workspace=workspace, manager=manager, agent=agent,
        manager_ticket=await ticket(segment="retail"),
        agent_ticket=await ticket(segment="b2b", owner=agent),
        b2b_ticket=await ticket(segment="b2b"),
    )
