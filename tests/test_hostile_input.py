"""Malformed and hostile input over real HTTP, on SQLite and on PostgreSQL.

The `api` fixture's app is served by uvicorn on a loopback port (on the test's
event loop, beside the worker), so every request crosses a real socket and
uvicorn's HTTP parser: oversized bodies (with Content-Length and chunked),
JSON nested 100,000 deep, bytes that are not UTF-8 in bodies, query strings
and paths, NUL bytes in ids and fields, SQL and HTML in comments and search,
path traversal in every id and in the customer's link token, and odd headers.

Each must get a clear 4xx, or be stored and shown back as the plain text it
is, and change nothing it should not: the workspace's ticket count and a
ticket's version and log are compared before and after.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth.caller import SESSION_COOKIE
from api.intake.adapters import sign_cxloop
from store import accounts
from store.models import SurveyResponse, TicketRow, User
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv

SERVER_START_SECONDS = 10
# The web form and the webhooks are rate-limited per client address: this
# module connects from a loopback address of its own, so that its requests
# count apart from other modules' (127.0.0.0/8 is all loopback).
CLIENT_ADDRESS = "127.0.0.77"
DEEP = 100_000
SQL = "'; DROP TABLE tickets; --"
SCRIPT = "<script>alert('cxloop')</script>"
TRAVERSALS = ("../../etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..%5c..%5cwin.ini")


@dataclass
class Served:
    """The app on a real socket: `http` for well-formed requests, `raw` for
    bytes no client library would send."""

    api: ApiEnv
    port: int
    http: httpx.AsyncClient

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": self.http.headers["Authorization"]}

    async def raw(self, request: bytes) -> tuple[int, bytes]:
        """Send request bytes as they are; the answer's status and body."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(CLIENT_ADDRESS, 0))
        try:
            writer.write(request)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), timeout=30)
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body


def request_line(
    method: str, target: bytes, headers: dict[str, str] | None = None, body: bytes = b"", raw_header: bytes = b""
) -> bytes:
    """A whole HTTP/1.1 request, byte for byte: header values as Latin-1 (what
    the server decodes them as), and `raw_header` as it is."""
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    if raw_header:
        lines.append(raw_header)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
async def served(api: ApiEnv) -> AsyncIterator[Served]:
    # The fixture's app, whose lifespan already runs: uvicorn only serves it.
    app = api.http._transport.app
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not server.started:
        assert not serving.done() and time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=api.http.headers, transport=transport, timeout=60
    ) as http:
        yield Served(api, port, http)
    server.should_exit = True
    await serving


# --- what must not change ---------------------------------------------------------------


def ticket_count(api: ApiEnv, workspace: str) -> int:
    with Session(api.engine) as session:
        in_workspace = select(func.count()).select_from(TicketRow).where(TicketRow.workspace_id == workspace)
        return session.scalar(in_workspace)


def ticket_mark(api: ApiEnv, ticket_id: str) -> tuple[int, int]:
    """A ticket's version and the length of its log."""
    store = TicketStore(api.engine)
    return store.get(ticket_id).version, len(store.events(ticket_id))


@contextmanager
def nothing_changes(api: ApiEnv, workspace: str, ticket_id: str | None = None) -> Iterator[None]:
    before = ticket_count(api, workspace), ticket_id and ticket_mark(api, ticket_id)
    yield
    assert (ticket_count(api, workspace), ticket_id and ticket_mark(api, ticket_id)) == before


async def open_ticket(served: Served, workspace: str, **fields) -> dict:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
            "comment": "by phone", **fields}
    response = await served.http.post("/api/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def make_survey(served: Served, workspace: str) -> dict:
    response = await served.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "adapter": "cxloop",
        "field_mapping": {"score": "nps", "customer_email": "email"}, "default_segment": "retail",
    })
    assert response.status_code == 201, response.text
    return response.json()


def signed(secret: str, body: bytes) -> dict[str, str]:
    timestamp = int(time.time())
    return {"X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body),
            "Content-Type": "application/json"}


# Every endpoint that reads a JSON body, as (method, path) with {ticket} for a
# ticket id; the signed intake's are sent correctly signed, so that the body is read.
JSON_ENDPOINTS = (
    ("POST", "/api/tickets"),
    ("PATCH", "/api/tickets/{ticket}"),
    ("POST", "/api/tickets/{ticket}/comments"),
    ("POST", "/api/intake/form"),
    ("POST", "/api/tokens"),
    ("POST", "/api/surveys/{survey}/alert-rules"),
)


async def send_everywhere(
    served: Served, workspace: str, body: bytes, chunked: bool = False
) -> list[tuple[str, httpx.Response]]:
    """`body` to every endpoint that reads one, and what each answered.
    Chunked: sent in 64 KiB chunks without a Content-Length."""
    ticket = await open_ticket(served, workspace)
    survey = await make_survey(served, workspace)
    requests = [(method, path.replace("{ticket}", ticket["id"]).replace("{survey}", survey["id"]),
                 {"Content-Type": "application/json"}) for method, path in JSON_ENDPOINTS]
    requests += [("POST", f"/api/webhooks/surveys/{survey['id']}", signed(survey["webhook_secret"], body)),
                 ("POST", "/api/intake/email", signed(served.api.settings.inbound_email_secret, body))]

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    answers = []
    with nothing_changes(served.api, workspace, ticket["id"]):
        for method, path, headers in requests:
            content = chunks() if chunked else body
            response = await served.http.request(method, path, content=content, headers=headers)
            answers.append((path, response))
    return answers


# --- sizes and shapes of bodies -----------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_oversized_bodies_are_413(served: Served, workspace: str, chunked: bool) -> None:
    limit = served.api.settings.max_body_bytes
    body = json.dumps({"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
                       "comment": "x" * limit}).encode()
    for path, response in await send_everywhere(served, workspace, body, chunked):
        assert response.status_code == 413, (path, response.status_code, response.text[:200])
        assert response.json() == {"detail": f"request body larger than {limit} bytes"}


@pytest.mark.parametrize("shape", ["arrays", "objects", "inside a field"])
async def test_deeply_nested_json_is_a_4xx(served: Served, workspace: str, shape: str) -> None:
    nested = {
        "arrays": b"[" * DEEP + b"]" * DEEP,
        "objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        "inside a field": b'{"comment": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    }[shape]
    for path, response in await send_everywhere(served, workspace, nested):
        # 400: FastAPI could not read the body at all; 422: the intake's own reading.
        assert response.status_code in (400, 422) and response.json()["detail"], (path, response.text[:200])


async def test_bodies_that_are_not_utf8_are_a_4xx(served: Served, workspace: str) -> None:
    not_utf8 = b'{"comment": "caf\xe9 \xff\xfe", "customer_email": "pat@example.com", "segment": "retail"}'
    for path, response in await send_everywhere(served, workspace, not_utf8):
        assert response.status_code in (400, 422) and response.json()["detail"], (path, response.text[:200])


# --- query strings and paths --------------------------------------------------------------


@pytest.mark.parametrize("name", ["q", "workspace", "segment", "owner", "status", "from", "to"])
@pytest.mark.parametrize("value", ["%FF%FE", "%C0%AF", "a%00b", "%00", "%1b%5b2J"])
async def test_odd_query_values_are_a_4xx(served: Served, workspace: str, name: str, value: str) -> None:
    await open_ticket(served, workspace)
    with nothing_changes(served.api, workspace):
        for path in ("/api/tickets", "/api/tickets/counts", "/api/tickets/export.xlsx"):
            target = f"{path}?workspace={workspace}&{name}={value}".encode()
            status, body = await served.raw(request_line("GET", target, served.admin))
            assert status == 422 and b"detail" in body, (path, name, value, status)
        # The dashboard drops what it cannot use, as it does a misspelt status.
        page = f"/dashboard/tickets?workspace={workspace}&{name}={value}".encode()
        status, _ = await served.raw(request_line("GET", page, served.admin))
        assert status == 200, (name, value, status)


async def test_a_cursor_that_is_not_one_is_a_4xx(served: Served, workspace: str) -> None:
    for cursor in ("%FF%FE", "a%00b", "..%2f..%2f", "eyJ9", "x" * 2000):
        target = f"/api/tickets?workspace={workspace}&cursor={cursor}".encode()
        status, _ = await served.raw(request_line("GET", target, served.admin))
        assert status == 422, (cursor, status)


async def test_raw_bytes_in_the_request_line_are_400(served: Served) -> None:
    # Refused by uvicorn's HTTP parser before the app sees them.
    for target in (b"/api/tickets?q=\xff\xfe", b"/api/tickets/\xff", b"/api/tickets?q=a\x00", b"/api/tickets/a b"):
        status, _ = await served.raw(request_line("GET", target, served.admin))
        assert status == 400, target


ID_PATHS = ("/api/tickets/{}", "/api/tickets/{}/events", "/api/responses/{}", "/dashboard/tickets/{}",
            "/dashboard/responses/{}", "/customer/tickets/{}")
CONFIGURATION_PATHS = ("/api/workspaces/{}", "/api/users/{}", "/api/segments/{}", "/api/surveys/{}",
                       "/api/surveys/{}/alert-rules", "/api/surveys/{}/alert-rules/{}", "/api/escalation-rules/{}")


@pytest.mark.parametrize("odd_id", ["abc%00def", "%00", "%FF%FE", "x" * 300, "%0d%0aSet-Cookie:%20a=b", "%20"])
async def test_odd_ids_are_404(served: Served, odd_id: str) -> None:
    requests = [("GET", path) for path in ID_PATHS + CONFIGURATION_PATHS]
    requests += [("DELETE", path) for path in CONFIGURATION_PATHS if path.endswith("}")]
    requests += [("DELETE", "/api/tokens/{}")]
    for method, path in requests:
        target = path.replace("{}", odd_id).encode()
        status, body = await served.raw(request_line(method, target, served.admin))
        assert status == 404, (method, path, odd_id, status, body[:200])
    # As a filter of a list: no such thing (an empty list, or 404 for an unknown
    # workspace) or, for a control character, refused.
    for path in ("/api/tokens?user_id={}", "/api/segments?workspace={}", "/api/surveys?workspace={}",
                 "/api/escalation-rules?workspace={}"):
        status, body = await served.raw(request_line("GET", path.format(odd_id).encode(), served.admin))
        nothing_there = status in (404, 422) or (status == 200 and body.endswith(b"[]"))
        assert nothing_there, (path, odd_id, status, body[:200])


@pytest.mark.parametrize("traversal", TRAVERSALS)
async def test_path_traversal_in_ids_is_404(served: Served, workspace: str, traversal: str) -> None:
    ticket = await open_ticket(served, workspace)
    survey = await make_survey(served, workspace)
    with nothing_changes(served.api, workspace, ticket["id"]):
        for path in (*ID_PATHS, "/dashboard/static/{}"):
            status, body = await served.raw(request_line("GET", path.format(traversal).encode(), served.admin))
            assert status == 404 and b"root:" not in body, (path, traversal, status)
        body = b'{"response_id": "r", "answers": {"nps": 1, "email": "pat@example.com"}}'
        for path in (f"/api/webhooks/surveys/{traversal}", f"/api/webhooks/surveys/{survey['id']}/{traversal}",
                     f"/customer/tickets/{traversal}", f"/api/tickets/{traversal}/comments"):
            headers = {**signed(survey["webhook_secret"], body), **served.admin}
            status, answer = await served.raw(request_line("POST", path.encode(), headers, body))
            assert status in (404, 405), (path, status, answer[:200])


# --- text that looks like code ---------------------------------------------------------


async def test_sql_in_fields_and_search_is_text(served: Served, workspace: str) -> None:
    ticket = await open_ticket(served, workspace, customer_name=SQL, customer_comment=f"box crushed {SQL}")
    commented = await served.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": SQL})
    assert commented.status_code == 201, commented.text
    events = (await served.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert events[-1]["comment"] == SQL
    found = await served.http.get("/api/tickets", params={"workspace": workspace, "q": SQL})
    assert [t["id"] for t in found.json()["items"]] == [ticket["id"]]
    assert found.json()["items"][0]["customer_name"] == SQL
    other = await open_ticket(served, workspace)
    for injection in ("' OR '1'='1", "%' OR '1'='1' --", "%", "_"):
        listed = await served.http.get("/api/tickets", params={"workspace": workspace, "q": injection})
        assert listed.status_code == 200
        assert other["id"] not in {t["id"] for t in listed.json()["items"]}, injection
    assert ticket_count(served.api, workspace) == 2  # the table is still there, with both


async def test_html_in_comments_is_stored_as_text_and_shown_escaped(served: Served, workspace: str) -> None:
    ticket = await open_ticket(served, workspace, customer_name=SCRIPT, customer_comment=SCRIPT)
    commented = await served.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": SCRIPT})
    assert commented.status_code == 201
    events = (await served.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert events[-1]["comment"] == SCRIPT
    page = await served.http.get(f"/dashboard/tickets/{ticket['id']}")
    assert page.status_code == 200
    assert "<script>alert(" not in page.text
    assert page.text.count("&lt;script&gt;alert(") >= 3  # name, customer comment, the comment
    listed = await served.http.get("/dashboard/tickets", params={"workspace": workspace})
    assert listed.status_code == 200 and "<script>alert(" not in listed.text


async def test_nul_bytes_in_fields_are_422(served: Served, workspace: str) -> None:
    """A NUL would pass SQLite and then stop at PostgreSQL, leaving a workflow
    retrying a write that can never succeed: refused at the door instead."""
    ticket = await open_ticket(served, workspace)
    survey = await make_survey(served, workspace)
    new_ticket = {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
                  "comment": "ok"}
    rule = f"/api/surveys/{survey['id']}/alert-rules"
    with nothing_changes(served.api, workspace, ticket["id"]):
        for method, path, body in (
            ("POST", "/api/tickets", {**new_ticket, "comment": "a\x00b"}),
            ("POST", "/api/tickets", {**new_ticket, "customer_name": "Pat\x00"}),
            ("POST", "/api/tickets", {**new_ticket, "customer_comment": "\x00"}),
            ("POST", "/api/tickets", {**new_ticket, "segment": "retail\x00"}),
            ("POST", "/api/tickets", {**new_ticket, "workspace_id": f"{workspace}\x00"}),
            ("PATCH", f"/api/tickets/{ticket['id']}", {"status": "open", "comment": "a\x00b"}),
            ("PATCH", f"/api/tickets/{ticket['id']}", {"owner": "ann\x00", "comment": "x"}),
            ("PATCH", f"/api/tickets/{ticket['id']}", {"segment": "b2b\x00", "comment": "x"}),
            ("POST", f"/api/tickets/{ticket['id']}/comments", {"comment": "a\x00b"}),
            ("POST", "/api/intake/form", {"workspace_id": workspace, "customer_email": "pat@example.com",
                                          "message": "late\x00"}),
            ("POST", "/api/tokens", {"name": "CRM\x00"}),
            ("POST", rule, {"name": "VIP\x00"}),
            ("POST", rule, {"name": "VIP", "criteria": [{"on": "answer", "key": "plan\x00", "op": "in",
                                                         "values": ["pro"]}]}),
        ):
            response = await served.http.request(method, path, json=body)
            assert response.status_code == 422, (path, body, response.status_code, response.text[:200])
        for secret, path, body in (
            (survey["webhook_secret"], f"/api/webhooks/surveys/{survey['id']}",
             {"response_id": "r-1", "answers": {"nps": 3, "email": "pat@example.com", "why": "late\x00"}}),
            (survey["webhook_secret"], f"/api/webhooks/surveys/{survey['id']}",
             {"response_id": "r-2", "answers": {"nps": 3, "email": "pat@example.com", "why\x00": "late"}}),
            (survey["webhook_secret"], f"/api/webhooks/surveys/{survey['id']}",
             {"response_id": "r-3\x00", "answers": {"nps": 3, "email": "pat@example.com"}}),
            # Not NUL, but as unstorable: an answer nested 900 deep.
            (survey["webhook_secret"], f"/api/webhooks/surveys/{survey['id']}",
             {"response_id": "r-4", "answers": {"nps": 3, "email": "pat@example.com", "why": nested_list(900)}}),
            (served.api.settings.inbound_email_secret, "/api/intake/email",
             {"message_id": "<m-1@example.com>", "from": "pat@example.com", "text": "late\x00",
              "workspace_id": workspace}),
        ):
            raw = json.dumps(body).encode()
            response = await served.http.post(path, content=raw, headers=signed(secret, raw))
            assert response.status_code == 422, (path, response.status_code, response.text[:200])
    with Session(served.api.engine) as session:
        stored = select(func.count()).select_from(SurveyResponse).where(SurveyResponse.survey_id == survey["id"])
        assert session.scalar(stored) == 0


def nested_list(depth: int) -> list:
    inner: list = []
    for _ in range(depth - 1):
        inner = [inner]
    return inner


# --- headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer ", "Bearer \t", "Basic dXNlcjpwYXNz", "bearer cxl_not-a-token", "Bearer cxl_" + "A" * 8000,
    "Bearer cxl_a b c", "Token cxl_x", "Bearer cxl_%00", "Bearer cxl_\u00e9\u00ff", "Bearer \u00ff\u00fe",
])
async def test_garbage_authorization_is_401(served: Served, workspace: str, authorization: str) -> None:
    ticket = await open_ticket(served, workspace)
    body = b'{"status": "open", "comment": "hi!"}'
    headers = {"Authorization": authorization, "Content-Type": "application/json"}
    with nothing_changes(served.api, workspace, ticket["id"]):
        for method, path in (("PATCH", f"/api/tickets/{ticket['id']}"), ("GET", "/api/tickets"),
                             ("POST", f"/api/tickets/{ticket['id']}/comments")):
            status, answer = await served.raw(request_line(method, path.encode(), headers, body))
            assert status == 401 and b"detail" in answer, (authorization[:20], path, status, answer[:200])


async def test_bytes_that_are_not_text_in_authorization_are_401(served: Served, workspace: str) -> None:
    ticket = await open_ticket(served, workspace)
    with nothing_changes(served.api, workspace, ticket["id"]):
        for value in (b"Bearer \xff\xfe", b"Bearer cxl_\x80\x81", b"\xc3\xa9\xc3\xa9"):
            target = f"/api/tickets/{ticket['id']}".encode()
            request = request_line("GET", target, raw_header=b"Authorization: " + value)
            status, _ = await served.raw(request)
            assert status == 401, (value, status)


async def test_a_session_without_the_csrf_header_changes_nothing(served: Served, workspace: str) -> None:
    ticket = await open_ticket(served, workspace)
    with Session(served.api.engine) as session:
        user_id = session.scalar(select(User.id).where(User.username == served.api.admin_username))
    cookie, csrf = accounts.open_session(served.api.engine, user_id, timedelta(hours=1))
    url = f"/api/tickets/{ticket['id']}"
    async with httpx.AsyncClient(base_url=str(served.http.base_url), cookies={SESSION_COOKIE: cookie}) as browser:
        with nothing_changes(served.api, workspace, ticket["id"]):
            for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": csrf[:-1]}, {"X-CSRF-Token": csrf + "x"}):
                response = await browser.patch(url, json={"status": "open", "comment": "x"}, headers=headers)
                assert response.status_code == 403, headers
                response = await browser.post(f"{url}/comments", json={"comment": "x"}, headers=headers)
                assert response.status_code == 403, headers
        assert (await browser.patch(url, json={"status": "open", "comment": "x"},
                                    headers={"X-CSRF-Token": csrf})).status_code == 200


@pytest.mark.parametrize(
    "timestamp", ["yesterday", "-1", "1e9", "9" * 400, "\u00b2", "\u00b9\u00b2", " 1", "0x10"]
)
async def test_odd_signature_timestamps_are_401(served: Served, workspace: str, timestamp: str) -> None:
    survey = await make_survey(served, workspace)
    body = json.dumps({"response_id": "r-1", "answers": {"nps": 3, "email": "pat@example.com"}}).encode()
    with nothing_changes(served.api, workspace):
        for path, secret in ((f"/api/webhooks/surveys/{survey['id']}", survey["webhook_secret"]),
                             ("/api/intake/email", served.api.settings.inbound_email_secret)):
            headers = {**signed(secret, body), "X-Cxloop-Timestamp": timestamp}
            status, answer = await served.raw(request_line("POST", path.encode(), headers, body))
            assert status == 401, (path, timestamp, status, answer[:200])
