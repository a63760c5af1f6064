"""The ticket endpoints over real HTTP (the ASGI app), a real dev server and
worker, on SQLite and on PostgreSQL: every endpoint's success and its errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest

from domain.ticket import TicketProjection, TicketStatus
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv, name_in, refused

ANN = "ann"


async def create(api: ApiEnv, workspace: str, **fields) -> dict:
    body = {
        "workspace_id": workspace, "customer_email": "pat@example.com", "customer_name": "Pat",
        "segment": "retail", "comment": "Phoned about a late delivery", **fields,
    }
    response = await api.http.post("/api/tickets", json=body, headers=api.headers_for("agent-smith"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_healthz(api: ApiEnv) -> None:
    response = await api.http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "temporal": "ok", "database": "ok"}


async def test_create_then_read_your_write(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, priority="high", customer_comment="Box was crushed")
    assert ticket["source"] == "manual" and ticket["status"] == "new" and ticket["priority"] == "high"
    assert ticket["owner"] == name_in(workspace, ANN)  # the segment's only manager
    assert ticket["origin_segment"] == ticket["segment"] == "retail"
    assert ticket["reference"].startswith("CX-") and ticket["version"] == 1
    # Read at once: the read model already holds it.
    response = await api.http.get(f"/api/tickets/{ticket['id']}")
    assert response.status_code == 200 and response.json() == ticket
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["kind"], e["actor"], e["comment"]) for e in events] == [
        ("created", "agent-smith", "Phoned about a late delivery")
    ]


async def test_create_with_two_managers_leaves_it_unassigned(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace, segment="b2b")
    assert ticket["owner"] is None
    ticket = await create(api, workspace, segment="b2b", owner=name_in(workspace, "cy"))
    assert ticket["owner"] == name_in(workspace, "cy")


@pytest.mark.parametrize(
    "fields, detail",
    [
        ({"comment": "  "}, "comment"),
        ({"comment": None}, "comment"),
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"segment": "atlantis"}, "unknown segment 'atlantis'"),
        ({"owner": "mallory"}, "'mallory' is not a manager of segment 'retail'"),
        ({"status": "closed"}, "cannot start as Closed"),
        ({"priority": "urgent"}, "priority"),
        ({"score": 3}, "score"),  # not a field a manual ticket has
    ],
)
async def test_create_refusals(api: ApiEnv, workspace: str, fields: dict, detail: str) -> None:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail", "comment": "x"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    response = await api.http.post("/api/tickets", json=body)
    assert response.status_code == 422, response.text
    assert detail in response.text


async def test_body_too_large_is_413(api: ApiEnv, workspace: str) -> None:
    body = {"workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail",
            "comment": "x" * (1024 * 1024 + 1)}
    response = await api.http.post("/api/tickets", json=body)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


async def test_patch_answers_after_the_read_model_holds_it(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    response = await api.http.patch(
        f"/api/tickets/{ticket['id']}",
        json={"status": "open", "priority": "critical", "segment": "b2b", "owner": name_in(workspace, "bob"),
              "comment": "Key account"},
        headers=api.headers_for("lead"),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["status"], changed["priority"], changed["segment"], changed["owner"]) == (
        "open", "critical", "b2b", name_in(workspace, "bob"))
    assert changed["version"] == 5
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json() == changed
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert [(e["field"], e["old"], e["new"], e["actor"]) for e in events[1:]] == [
        ("status", "new", "open", "lead"),
        ("priority", "medium", "critical", "lead"),
        ("segment", "retail", "b2b", "lead"),
        ("owner", name_in(workspace, ANN), name_in(workspace, "bob"), "lead"),
    ]
    # owner: null unassigns.
    response = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"owner": None, "comment": "free"})
    assert response.status_code == 200 and response.json()["owner"] is None


async def test_patch_snooze(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    until = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    response = await api.http.patch(
        f"/api/tickets/{ticket['id']}",
        json={"status": "postponed", "snooze_until": until.isoformat(), "comment": "Customer away"},
    )
    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["wake_at"]) == until
    response = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "postponed", "comment": "x",
                                                                          "snooze_until": "2001-01-01T00:00:00Z"})
    assert response.status_code == 422 and "future" in response.json()["detail"]


@pytest.mark.parametrize(
    "body, code, detail",
    [
        ({"status": "closed", "comment": "skip"}, 409, "cannot change status from New to Closed"),
        ({"status": "open"}, 422, "comment"),
        ({"status": "open", "comment": ""}, 422, "comment"),
        ({"customer_email": "x@example.com", "comment": "fix typo"}, 422, "customer_email cannot be changed"),
        ({"reported_at": "2020-01-01T00:00:00Z", "comment": "backdate"}, 422, "reported_at cannot be changed"),
        ({"customer_name": "Bob", "comment": "rename"}, 422, "customer_name cannot be changed"),
        ({"owner": "mallory", "comment": "reassign"}, 422, "not a manager of segment"),
        ({"status": "bogus", "comment": "x"}, 422, "status"),
        ({"comment": "nothing"}, 422, "nothing to change"),
    ],
)
async def test_patch_refusals(api: ApiEnv, workspace: str, body: dict, code: int, detail: str) -> None:
    ticket = await create(api, workspace)
    response = await api.http.patch(f"/api/tickets/{ticket['id']}", json=body)
    assert response.status_code == code, response.text
    assert detail in response.json()["detail"] if isinstance(response.json()["detail"], str) else detail in response.text
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["version"] == 1


async def test_unknown_ticket_is_404(api: ApiEnv) -> None:
    for method, path, body in [
        ("GET", "/api/tickets/nope", None),
        ("PATCH", "/api/tickets/nope", {"status": "open", "comment": "x"}),
        ("POST", "/api/tickets/nope/comments", {"comment": "x"}),
        ("GET", "/api/tickets/nope/events", None),
        ("GET", "/api/tickets/%00", None),
        ("GET", "/api/tickets/" + "x" * 500, None),
    ]:
        response = await api.http.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": "ticket not found"}
    # A path that tries to climb out is no route at all.
    response = await api.http.get("/api/tickets/..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404 and "detail" in response.json()


async def test_closed_ticket_refuses_changes_with_409(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    for status in ("resolved", "closed"):
        response = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": status, "comment": status})
        assert response.status_code == 200, response.text
    response = await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "open", "comment": "again"})
    assert response.status_code == 409 and "closed" in response.json()["detail"]


async def test_comments(api: ApiEnv, workspace: str) -> None:
    # The workspace's own "ann" (retail's manager): a bare "ann" may already
    # exist in the session's read model with another role (the users
    # endpoint's example, which the schema fuzz test posts).
    ann = name_in(workspace, "ann")
    ticket = await create(api, workspace)
    response = await api.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": "Left a voicemail"},
                                   headers=api.headers_for(ann))
    assert response.status_code == 201 and response.json()["version"] == 2
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert (events[-1]["kind"], events[-1]["comment"], events[-1]["actor"]) == ("commented", "Left a voicemail", ann)
    response = await api.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": ""})
    assert response.status_code == 422
    # The log names the signed-in user, whatever their script.
    response = await api.http.post(f"/api/tickets/{ticket['id']}/comments", json={"comment": "確認しました"},
                                   headers=api.headers_for("田中"))
    assert response.status_code == 201
    events = (await api.http.get(f"/api/tickets/{ticket['id']}/events")).json()
    assert (events[-1]["actor"], events[-1]["comment"]) == ("田中", "確認しました")


async def test_late_projection_does_not_roll_back(api: ApiEnv, workspace: str) -> None:
    ticket = await create(api, workspace)
    await api.http.patch(f"/api/tickets/{ticket['id']}", json={"status": "open", "comment": "on it"})
    store = TicketStore(api.engine)
    stale = store.get(ticket["id"]).model_copy(update={"version": 1, "status": TicketStatus.NEW})
    assert store.apply(TicketProjection(state=stale, events=[])).written is False
    assert (await api.http.get(f"/api/tickets/{ticket['id']}")).json()["status"] == "open"


async def test_list_filters_sort_and_pages(api: ApiEnv, workspace: str) -> None:
    now = datetime.now(UTC)
    made = []
    for i in range(7):
        made.append(await create(
            api, workspace,
            customer_email=f"c{i}@example.com",
            segment="retail" if i % 2 else "b2b",
            priority=["low", "medium", "high", "critical"][i % 4],
            reported_at=(now - timedelta(days=i)).isoformat(),
            customer_comment=f"comment {'refund' if i == 3 else 'other'} {i}",
        ))
    old = await create(api, workspace, reported_at=(now - timedelta(days=45)).isoformat())
    base = {"workspace": workspace}

    async def ids(**params) -> list[str]:
        response = await api.http.get("/api/tickets", params={**base, **params})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    # Default: the last 30 days, newest first.
    assert await ids() == [t["id"] for t in made]
    assert old["id"] in await ids(**{"from": (now - timedelta(days=60)).isoformat()})
    assert await ids(segment="retail") == [t["id"] for t in made if t["segment"] == "retail"]
    assert await ids(owner=name_in(workspace, ANN)) == [t["id"] for t in made if t["segment"] == "retail"]
    assert await ids(priority=["critical", "low"]) == [t["id"] for t in made if t["priority"] in ("critical", "low")]
    assert await ids(q="REFUND") == [made[3]["id"]]
    assert await ids(q="c5@example") == [made[5]["id"]]
    await api.http.patch(f"/api/tickets/{made[2]['id']}", json={"status": "open", "comment": "x"})
    assert await ids(status="open") == [made[2]["id"]]
    assert await ids(**{"from": (now - timedelta(days=2, hours=1)).isoformat(), "to": now.isoformat()}) == [
        made[1]["id"], made[2]["id"]]
    assert await ids(sort="reported_at") == [t["id"] for t in reversed(made)]
    by_priority = await ids(sort="-priority")
    ranks = {"critical": 4, "high": 3, "medium": 2, "low": 1}
    assert [ranks[next(t for t in made if t["id"] == i)["priority"]] for i in by_priority] == [4, 3, 3, 2, 2, 1, 1]

    # Keyset pages: every ticket once, in order.
    seen, cursor = [], None
    while True:
        params = {**base, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.http.get("/api/tickets", params=params)).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [t["id"] for t in made]

    bad = await api.http.get("/api/tickets", params={**base, "cursor": "garbage"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    for params in ({"limit": 0}, {"status": "nope"}, {"from": "yesterday"},
                   {"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}):
        response = await api.http.get("/api/tickets", params={**base, **params})
        assert response.status_code == 422, (params, response.text)


async def test_counts_match_the_list(api: ApiEnv, workspace: str) -> None:
    tickets = [await create(api, workspace) for _ in range(4)]
    await api.http.patch(f"/api/tickets/{tickets[0]['id']}", json={"status": "open", "comment": "x"})
    await api.http.patch(f"/api/tickets/{tickets[1]['id']}", json={"status": "resolved", "comment": "x"})
    response = await api.http.get("/api/tickets/counts", params={"workspace": workspace})
    assert response.status_code == 200
    assert response.json() == {
        "new": 2, "open": 1, "answered": 0, "escalated": 0, "postponed": 0, "resolved": 1,
        "closed": 0, "spam": 0, "deleted": 0, "total": 4,
    }
    only_open = await api.http.get("/api/tickets/counts", params={"workspace": workspace, "status": "open"})
    assert only_open.json()["total"] == 1


async def test_export_matches_the_list_cell_by_cell(api: ApiEnv, workspace: str) -> None:
    now = datetime.now(UTC)
    for i in range(5):
        await create(api, workspace, segment=["retail", "b2b"][i % 2], customer_comment=f"<b>comment</b> {i}",
                     reported_at=(now - timedelta(hours=i)).isoformat())
    params = {"workspace": workspace, "segment": "retail"}
    listed, cursor = [], None
    while True:  # every page of the list
        page = (await api.http.get("/api/tickets", params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})})).json()
        listed += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    response = await api.http.get("/api/tickets/export.xlsx", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("Ticket", "Response ID", "Customer name", "Customer email", "Origin segment",
                       "Current segment", "Ticket owner", "Priority", "Status", "Score", "Reported on (UTC)",
                       "Customer comment", "Resolution reason")
    # Statuses and priorities as the list words them (tests/test_export_language.py: in other languages).
    words = {"new": "New", "open": "Open", "low": "Low", "medium": "Medium", "high": "High", "critical": "Critical"}
    expected = [
        (t["reference"], t["response_id"], t["customer_name"], t["customer_email"], t["origin_segment"],
         t["segment"], t["owner"], words[t["priority"]], words[t["status"]], t["score"],
         datetime.fromisoformat(t["reported_at"]).astimezone(UTC).replace(tzinfo=None), t["customer_comment"],
         t["resolution_reason"])
        for t in listed
    ]
    # Excel keeps milliseconds at best; compare reported times to the second.
    def trimmed(row):
        return row[:10] + (row[10].replace(microsecond=0),) + row[11:]
    assert [trimmed(r) for r in rows[1:]] == [trimmed(r) for r in expected]
    assert len(expected) == 3


async def test_export_keeps_a_customers_formula_as_text(api: ApiEnv, workspace: str) -> None:
    """A comment that Excel would run ("=HYPERLINK(...)") or read as an error
    ("#N/A") arrives in the sheet as the text the customer wrote."""
    for comment in ('=HYPERLINK("http://evil.example","click")', "#N/A", "=1+1"):
        await create(api, workspace, customer_comment=comment)
    response = await api.http.get("/api/tickets/export.xlsx", params={"workspace": workspace})
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    cells = [row[11] for row in sheet.iter_rows(min_row=2)]
    assert sorted(cell.value for cell in cells) == sorted(['=HYPERLINK("http://evil.example","click")', "#N/A", "=1+1"])
    assert {cell.data_type for cell in cells} == {"s"}


async def test_the_list_filters_by_score_and_nps_category(api: ApiEnv, workspace: str) -> None:
    """Manual tickets have no score: a score filter leaves them out; a bad range is 422 in words."""
    await create(api, workspace)
    base = {"workspace": workspace}
    assert len((await api.http.get("/api/tickets", params=base)).json()["items"]) == 1
    for params in ({"nps": "detractor"}, {"score_min": 0}, {"nps": ["passive", "promoter"], "score_max": 10}):
        answer = await api.http.get("/api/tickets", params={**base, **params})
        assert answer.status_code == 200 and answer.json()["items"] == [], answer.text
    counts = (await api.http.get("/api/tickets/counts", params={**base, "nps": "promoter"})).json()
    assert counts["total"] == 0
    await refused(api.http.get("/api/tickets", params={**base, "score_min": 9, "score_max": 3}), 422, "score_min")
    await refused(api.http.get("/api/tickets", params={**base, "score_min": 11}), 422)
    await refused(api.http.get("/api/tickets", params={**base, "nps": "fan"}), 422)
