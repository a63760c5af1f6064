"""`Idempotency-Key` on POST /api/tickets and POST /api/tickets/{id}/comments,
over real HTTP (the ASGI app), a real dev server and worker, on SQLite and
PostgreSQL: a retry is answered the same and does nothing again; another
body with the key is refused; keys are each user's own; concurrent requests
with one key do the work once; a key is forgotten after a day; a request
that crashed between Temporal and the read model is completed once."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store.models import IdempotencyKeyRow, TicketRow
from tests.api_fixtures import ApiEnv

HEADER = "Idempotency-Key"


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def ticket_body(workspace: str, email: str) -> dict:
    return {"workspace_id": workspace, "customer_email": email, "segment": "retail", "comment": "Phoned about a parcel"}


def tickets_of(api: ApiEnv, email: str) -> int:
    with Session(api.engine) as session:
        return session.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.customer_email == email))


def key_row(api: ApiEnv, key: str) -> IdempotencyKeyRow | None:
    with Session(api.engine) as session:
        return session.scalar(select(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key))


def set_key(api: ApiEnv, key: str, **values) -> None:
    with Session(api.engine) as session, session.begin():
        session.execute(update(IdempotencyKeyRow).where(IdempotencyKeyRow.key == key).values(**values))


async def comments_of(api: ApiEnv, ticket_id: str) -> list[str]:
    response = await api.http.get(f"/api/tickets/{ticket_id}/events")
    assert response.status_code == 200, response.text
    return [e["comment"] for e in response.json() if e["kind"] == "commented"]


async def new_ticket(api: ApiEnv, workspace: str) -> dict:
    response = await api.http.post("/api/tickets", json=ticket_body(workspace, f"{uuid.uuid4().hex[:8]}@example.com"))
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_retried_creation_answers_the_first_ticket_and_opens_no_other(api: ApiEnv, workspace: str) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    key = new_key()
    first = await api.http.post("/api/tickets", json=ticket_body(workspace, email), headers={HEADER: key})
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # The same request, its JSON spaced and ordered otherwise.
    reordered = json.dumps(dict(reversed(ticket_body(workspace, email).items())), indent=2)
    again = await api.http.post(
        "/api/tickets", content=reordered, headers={HEADER: key, "Content-Type": "application/json"}
    )
    assert again.status_code == 201, again.text
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert tickets_of(api, email) == 1
    # The ticket's id is the key's request id: a retry after a crash starts
    # (or meets) the same workflow.
    assert key_row(api, key).request_id == first.json()["id"]
    # Without a key, the same body opens another ticket.
    other = await api.http.post("/api/tickets", json=ticket_body(workspace, email))
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert tickets_of(api, email) == 2


async def test_a_retried_comment_is_logged_once(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = new_key()
    url = f"/api/tickets/{ticket['id']}/comments"
    first = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
    assert first.status_code == 201, first.text
    again = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
    assert (again.status_code, again.content) == (201, first.content)
    assert await comments_of(api, ticket["id"]) == ["Left a voicemail"]


async def test_the_key_with_another_body_is_refused_in_the_readers_language(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = new_key()
    url = f"/api/tickets/{ticket['id']}/comments"
    assert (await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})).status_code == 201
    other = await api.http.post(url, json={"comment": "Called again"}, headers={HEADER: key})
    assert other.status_code == 422, other.text
    assert "Idempotency-Key was already used for another request" in other.json()["detail"]
    german = await api.http.post(url, json={"comment": "Called again"}, headers={HEADER: key, "Accept-Language": "de"})
    assert german.status_code == 422 and german.headers["Content-Language"] == "de"
    assert "Idempotency-Key" in german.json()["detail"] and "already" not in german.json()["detail"]
    # Another path (the same key on another ticket) is another request too.
    elsewhere = await new_ticket(api, workspace)
    moved = await api.http.post(
        f"/api/tickets/{elsewhere['id']}/comments", json={"comment": "Left a voicemail"}, headers={HEADER: key}
    )
    assert moved.status_code == 422, moved.text
    assert await comments_of(api, ticket["id"]) == ["Left a voicemail"]
    assert await comments_of(api, elsewhere["id"]) == []


async def test_two_users_keys_never_collide(api: ApiEnv, workspace: str) -> None:
    key = new_key()
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    mine = await api.http.post("/api/tickets", json=ticket_body(workspace, email), headers={HEADER: key})
    other_admin = api.headers_for(f"admin-2-{api.task_queue}")
    theirs = await api.http.post(
        "/api/tickets", json=ticket_body(workspace, email), headers={**other_admin, HEADER: key}
    )
    assert mine.status_code == theirs.status_code == 201, theirs.text
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    # And a different body under the other user's key is theirs to send.
    comment = await api.http.post(
        f"/api/tickets/{mine.json()['id']}/comments", json={"comment": "Seen"}, headers={**other_admin, HEADER: new_key()}
    )
    assert comment.status_code == 201, comment.text
    assert tickets_of(api, email) == 2


async def test_concurrent_requests_with_one_key_do_the_work_once(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = new_key()
    url = f"/api/tickets/{ticket['id']}/comments"
    answers = await asyncio.gather(
        *(api.http.post(url, json={"comment": "Refund sent"}, headers={HEADER: key}) for _ in range(4))
    )
    done = [a for a in answers if a.status_code == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(done) == 1, [(a.status_code, a.headers.get("Idempotent-Replayed")) for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            # Still being answered: try again shortly.
            assert int(answer.headers["Retry-After"]) > 0
            assert "still being answered" in answer.json()["detail"]
        else:
            assert (answer.status_code, answer.json()) == (201, done[0].json())
    assert await comments_of(api, ticket["id"]) == ["Refund sent"]
    retry = await api.http.post(url, json={"comment": "Refund sent"}, headers={HEADER: key})
    assert (retry.status_code, retry.json()) == (201, done[0].json())


async def test_a_key_is_forgotten_after_a_day_and_swept(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    url = f"/api/tickets/{ticket['id']}/comments"
    key, unused = new_key(), new_key()
    assert (await api.http.post(url, json={"comment": "Day one"}, headers={HEADER: key})).status_code == 201
    assert (await api.http.post(url, json={"comment": "Other"}, headers={HEADER: unused})).status_code == 201
    a_day_ago = datetime.now(UTC) - timedelta(hours=24, seconds=1)
    set_key(api, key, created_at=a_day_ago)
    set_key(api, unused, created_at=a_day_ago)
    # The expired key is claimed anew: the request is done again.
    later = await api.http.post(url, json={"comment": "Day one"}, headers={HEADER: key})
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert await comments_of(api, ticket["id"]) == ["Day one", "Other", "Day one"]
    # Nobody sends the other key again; the claim swept it all the same.
    assert key_row(api, unused) is None
    assert key_row(api, key).created_at > a_day_ago
    # Just within the day, a key still answers its first result.
    set_key(api, key, created_at=datetime.now(UTC) - timedelta(hours=23, minutes=59))
    replay = await api.http.post(url, json={"comment": "Day one"}, headers={HEADER: key})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await comments_of(api, ticket["id"]) == ["Day one", "Other", "Day one"]


@pytest.mark.parametrize("key", ["x" * 256, "tab\there", ""])
async def test_a_malformed_key_is_refused(api: ApiEnv, workspace: str, key: str) -> None:
    ticket = await new_ticket(api, workspace)
    response = await api.http.post(
        f"/api/tickets/{ticket['id']}/comments", json={"comment": "Left a voicemail"}, headers={HEADER: key}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["header", HEADER]
    assert await comments_of(api, ticket["id"]) == []


async def test_the_longest_key_is_accepted(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = "k" * 255
    url = f"/api/tickets/{ticket['id']}/comments"
    for _ in range(2):
        response = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
        assert response.status_code == 201, response.text
    assert await comments_of(api, ticket["id"]) == ["Left a voicemail"]


async def test_a_refused_request_lets_its_key_go(api: ApiEnv, workspace: str) -> None:
    key = new_key()
    body = {**ticket_body(workspace, "pat@example.com"), "segment": "atlantis"}
    for _ in range(2):
        # Refused again rather than "in progress": only a success is remembered.
        response = await api.http.post("/api/tickets", json=body, headers={HEADER: key})
        assert response.status_code == 422 and "unknown segment" in response.json()["detail"]
    # An invalid body never reaches the route, and claims nothing.
    response = await api.http.post("/api/tickets", json={"segment": "retail"}, headers={HEADER: new_key()})
    assert response.status_code == 422


async def test_a_comment_whose_answer_was_lost_is_applied_once_when_retried(api: ApiEnv, workspace: str) -> None:
    """The API sent the update, Temporal applied it, and the process died
    before the answer was remembered: the retry takes the lapsed claim over
    and sends the update again under the same id, which Temporal applies once."""
    ticket = await new_ticket(api, workspace)
    key = new_key()
    url = f"/api/tickets/{ticket['id']}/comments"
    first = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
    assert first.status_code == 201
    set_key(api, key, status_code=None, response=None, claimed_until=datetime.now(UTC) - timedelta(seconds=1))
    retry = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
    assert retry.status_code == 201, retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert retry.json()["id"] == ticket["id"] and retry.json()["version"] == first.json()["version"]
    assert await comments_of(api, ticket["id"]) == ["Left a voicemail"]


async def test_a_claim_still_held_answers_in_progress(api: ApiEnv, workspace: str) -> None:
    ticket = await new_ticket(api, workspace)
    key = new_key()
    url = f"/api/tickets/{ticket['id']}/comments"
    assert (await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})).status_code == 201
    # As if its first request were still waiting for the ticket.
    set_key(api, key, status_code=None, response=None, claimed_until=datetime.now(UTC) + timedelta(minutes=1))
    response = await api.http.post(url, json={"comment": "Left a voicemail"}, headers={HEADER: key})
    assert response.status_code == 409 and response.headers["Retry-After"] == "2"
    assert await comments_of(api, ticket["id"]) == ["Left a voicemail"]


async def test_a_creation_whose_answer_was_lost_meets_its_ticket_when_retried(api: ApiEnv, workspace: str) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    key = new_key()
    first = await api.http.post("/api/tickets", json=ticket_body(workspace, email), headers={HEADER: key})
    assert first.status_code == 201
    set_key(api, key, status_code=None, response=None, claimed_until=None)
    retry = await api.http.post("/api/tickets", json=ticket_body(workspace, email), headers={HEADER: key})
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert tickets_of(api, email) == 1


async def test_the_header_is_documented_on_each_creating_operation(api: ApiEnv) -> None:
    schema = (await api.http.get("/openapi.json")).json()
    for path in ("/api/tickets", "/api/tickets/{ticket_id}/comments"):
        operation = schema["paths"][path]["post"]
        (header,) = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == HEADER]
        assert header["required"] is False and "24 hours" in header["description"]
        assert header["schema"]["anyOf"][0]["maxLength"] == 255
        assert "409" in operation["responses"] and "422" in operation["responses"]
