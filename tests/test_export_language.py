"""The Excel export shows what the list shows, in the reader's language, the
ticket's reference first: over real HTTP (the ASGI app), on both databases."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import openpyxl

from tests.api_fixtures import ApiEnv, deliver, eventually


async def sheet_of(api: ApiEnv, workspace: str, language: str | None = None) -> tuple[list[tuple], dict]:
    headers = {"Accept-Language": language} if language else {}
    answer = await api.http.get("/api/tickets/export.xlsx", params={"workspace": workspace}, headers=headers)
    assert answer.status_code == 200, answer.text
    rows = list(openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True).active.iter_rows(values_only=True))
    return rows, answer.headers


async def survey_ticket(api: ApiEnv, workspace: str, score: int) -> dict:
    """A ticket from a signed survey response (with a score and a customer name)."""
    survey = await api.http.post("/api/surveys", json={
        "workspace_id": workspace, "name": "NPS", "default_segment": "retail",
        "field_mapping": {"score": "nps", "customer_email": "email", "customer_name": "name"}})
    assert survey.status_code == 201, survey.text
    survey = survey.json()
    body = json.dumps({"response_id": uuid.uuid4().hex, "submitted_at": datetime.now(UTC).isoformat(),
                       "answers": {"nps": score, "email": "vera@example.com", "name": "Vera Nagy"}}).encode()
    accepted = await deliver(api, survey, body)
    assert accepted.status_code == 202, accepted.text

    async def listed() -> list[dict]:
        answer = await api.http.get("/api/tickets", params={"workspace": workspace, "q": "vera@example.com"})
        return answer.json()["items"]

    return (await eventually(listed, "the survey's ticket"))[0]


async def test_the_export_is_the_list_in_the_readers_language_reference_first(api: ApiEnv, workspace: str) -> None:
    manual = await api.http.post("/api/tickets", json={
        "workspace_id": workspace, "customer_email": "ilse@example.com", "customer_name": "Ilse Berg",
        "segment": "b2b", "priority": "critical", "comment": "Phoned in"})
    assert manual.status_code == 201, manual.text
    manual = manual.json()
    survey = await survey_ticket(api, workspace, score=3)

    rows, headers = await sheet_of(api, workspace, "de")
    assert headers["content-language"] == "de"
    assert rows[0] == ("Ticket", "Antwort-ID", "Kundenname", "Kunden-E-Mail", "Ursprungssegment", "Aktuelles Segment",
                       "Zuständig", "Priorität", "Status", "Bewertung", "Gemeldet am (UTC)",
                       "Kundenkommentar", "Lösungsgrund")
    by_reference = {row[0]: row for row in rows[1:]}
    assert set(by_reference) == {manual["reference"], survey["reference"]}
    # A manual ticket has no response: its row still starts with its reference.
    row = by_reference[manual["reference"]]
    assert row[1:10] == (None, "Ilse Berg", "ilse@example.com", "b2b", "b2b", None, "Kritisch", "Neu", None)
    row = by_reference[survey["reference"]]
    assert (row[1], row[2], row[3], row[7], row[8], row[9]) == (
        survey["response_id"], "Vera Nagy", "vera@example.com", "Hoch", "Neu", 3)

    # In Japanese, and in English for a reader who asks for no language.
    rows, _ = await sheet_of(api, workspace, "ja")
    assert rows[0][1] == "回答 ID" and {row[8] for row in rows[1:]} == {"新規"}
    rows, headers = await sheet_of(api, workspace)
    assert rows[0][:4] == ("Ticket", "Response ID", "Customer name", "Customer email")
    assert {row[7] for row in rows[1:]} == {"Critical", "High"} and headers["content-language"] == "en"
