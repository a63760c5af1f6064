"""A late response's ticket is in view (issue 14, defect 7): a ticket's
`reported_at` is when the ticket was made, which the lists' default "last 30
days" window and their date filter use; the survey response's submission
time is kept beside it as `submitted_at`, in the API's ticket and the
dashboard's details. Migration 0009 backfills `submitted_at` of the tickets
made before it from their stored responses.

Over real HTTP through the app, a real dev server and worker, on SQLite and
PostgreSQL (tests/api_fixtures.py, tests/db_fixtures.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, inspect, text

import reconcile
from api.auth.caller import SESSION_COOKIE
from domain.ticket import Priority, Source, TicketProjection, TicketState, reference_for
from store import accounts
from store.db import make_engine, migrate
from store.models import Survey, SurveyResponse as SurveyResponseRow, TicketRow, UserRole
from store.tickets import TicketStore
from tests.api_fixtures import ApiEnv, created, deliver, ticket_of, user_id_for
from tests.db_fixtures import downgrade

MAPPING = {"score": "nps", "comment": "why", "customer_email": "email", "segment": "hidden:segment"}
# Weeks before it reaches cxloop: beyond the lists' default 30 days.
LATE = timedelta(days=45)


async def late_response(api: ApiEnv, workspace: str, submitted_at: datetime) -> str:
    """A detractor's response submitted at `submitted_at`, delivered now; its ticket's id."""
    survey = await created(api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": f"NPS {uuid.uuid4().hex[:6]}", "field_mapping": MAPPING,
        "default_segment": "retail"}))
    body = json.dumps({
        "response_id": uuid.uuid4().hex, "submitted_at": submitted_at.isoformat(),
        "answers": {"nps": 1, "why": "Nobody called back", "email": "lou@example.com"},
        "hidden": {"segment": "retail"},
    }).encode()
    answer = await deliver(api, survey, body)
    assert answer.status_code == 202, answer.text
    return answer.json()["response_id"]


async def test_a_late_responses_ticket_is_in_the_default_window(api: ApiEnv, workspace: str) -> None:
    before = datetime.now(UTC)
    submitted = (before - LATE).replace(microsecond=0)
    ticket_id = await late_response(api, workspace, submitted)
    ticket = await ticket_of(api, ticket_id)

    # Reported when the ticket was made; the submission kept as its own field.
    assert datetime.fromisoformat(ticket["reported_at"]) >= before - timedelta(seconds=1)
    assert datetime.fromisoformat(ticket["reported_at"]) == datetime.fromisoformat(ticket["created_at"])
    assert datetime.fromisoformat(ticket["submitted_at"]) == submitted

    # The default window (no from, no to): in the list, the counts and the export's rows.
    listed = (await api.http.get("/api/tickets", params={"workspace": workspace})).json()["items"]
    assert [t["id"] for t in listed] == [ticket_id]
    counts = (await api.http.get("/api/tickets/counts", params={"workspace": workspace})).json()
    assert (counts["new"], counts["total"]) == (1, 1)

    # The date filter is on the day the ticket was made, not on the submission.
    today = {"workspace": workspace, "from": (before - timedelta(days=1)).isoformat()}
    assert [t["id"] for t in (await api.http.get("/api/tickets", params=today)).json()["items"]] == [ticket_id]
    then = {"workspace": workspace, "from": (submitted - timedelta(days=1)).isoformat(),
            "to": (submitted + timedelta(days=1)).isoformat()}
    assert (await api.http.get("/api/tickets", params=then)).json()["items"] == []


async def test_the_submission_is_shown_in_the_tickets_details(api: ApiEnv, workspace: str) -> None:
    submitted = datetime(2026, 10, 20, 9, 30, tzinfo=UTC)
    ticket_id = await late_response(api, workspace, submitted)
    await ticket_of(api, ticket_id)
    token, _ = accounts.open_session(api.engine, user_id_for(api.engine, api.admin_username, UserRole.ADMIN),
                                     timedelta(hours=1))
    app = api.http._transport.app
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cxloop.test",
                                 cookies={SESSION_COOKIE: token}) as browser:
        page = await browser.get(f"/dashboard/tickets/{ticket_id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    assert "Response submitted on" in page.text
    shown = page.text.split('data-field="submitted_at">', 1)[1].split("</dd>", 1)[0]
    assert "2026" in shown and "20" in shown


async def test_a_manual_tickets_json_has_no_submission(api: ApiEnv, workspace: str) -> None:
    ticket = await created(api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "pat@example.com", "segment": "retail", "comment": "Phoned"}))
    assert ticket["submitted_at"] is None
    assert ticket["reported_at"] == ticket["created_at"]


# --- migration 0009 --------------------------------------------------------------------------


def test_migration_0009_backfills_the_submission_from_the_stored_response(database_url: str) -> None:
    migrate(database_url, "0008")
    engine = make_engine(database_url)
    submitted = datetime(2026, 9, 1, 8, 15, tzinfo=UTC)
    made = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            # Only the columns 0008 has (today's model has more).
            connection.execute(text("INSERT INTO workspaces (id, name, config_revision) VALUES ('w', 'Before 0009', 0)"))
            connection.execute(insert(Survey.__table__).values(
                id="s", workspace_id="w", name="NPS", webhook_secret="secret", adapter="cxloop"))
            connection.execute(insert(SurveyResponseRow.__table__).values(
                id="r1", survey_id="s", received_at=made,
                payload={"survey_id": "s", "response_id": "p1", "submitted_at": "2026-09-01T08:15:00Z",
                         "answers": [], "hidden": {}}))
            # A survey ticket with its response, a manual one without, as 0008's schema holds them.
            columns = {c["name"] for c in inspect(connection).get_columns("tickets")}
            assert "submitted_at" not in columns
            for state in (_ticket("survey-ticket", Source.SURVEY, "r1", made),
                          _ticket("manual-ticket", Source.MANUAL, None, made)):
                row = {**state.model_dump(), "priority_rank": 2}
                connection.execute(insert(TicketRow.__table__).values(
                    **{name: value for name, value in row.items() if name in columns}))

        # Through 0009 to the head: the store reads the columns of today's model.
        migrate(database_url)
        store = TicketStore(engine)
        assert store.get("survey-ticket").submitted_at == submitted
        assert store.get("survey-ticket").reported_at == made
        assert store.get("manual-ticket").submitted_at is None

        # A projection from a workflow started before 0009 carries no
        # submission: the backfilled one stays.
        later = store.get("survey-ticket").model_copy(
            update={"submitted_at": None, "version": 2, "updated_at": made + timedelta(minutes=1),
                    "priority": Priority.HIGH})
        assert store.apply(TicketProjection(state=later, events=[])).written
        assert (store.get("survey-ticket").priority, store.get("survey-ticket").submitted_at) == (
            Priority.HIGH, submitted)

        downgrade(database_url, "0008")
        assert "submitted_at" not in {c["name"] for c in inspect(engine).get_columns("tickets")}
        migrate(database_url)
        assert TicketStore(engine).get("survey-ticket").submitted_at == submitted
    finally:
        engine.dispose()


def _ticket(ticket_id: str, source: Source, response_id: str | None, made: datetime) -> TicketState:
    return TicketState(
        id=ticket_id, reference=reference_for(ticket_id), source=source, workspace_id="w",
        survey_id="s" if response_id else None, response_id=response_id, customer_email="pat@example.com",
        origin_segment="retail", reported_at=made, created_at=made, segment="retail", version=1,
        updated_at=made, escalation_clock_started_at=made,
    )


def test_a_backfilled_submission_is_no_divergence_for_reconcile() -> None:
    """A workflow from before `submitted_at` holds none; the read model's
    backfilled one is not a difference to repair (reconcile.py), while a
    workflow that holds one is the truth."""
    made = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    truth = _ticket("t", Source.SURVEY, "r1", made)
    held = truth.model_copy(update={"submitted_at": made - LATE})
    assert reconcile.compare("t", held, [], truth, []) is None
    fix = reconcile.compare("t", held, [], truth.model_copy(update={"submitted_at": made}), [])
    assert fix is not None and set(fix.changed_fields) == {"submitted_at"}
