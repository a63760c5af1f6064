"""A survey's test response: a typical response in the survey's own payload
format, built from its field mapping, signed with its webhook secret and
delivered to its webhook through the app itself, exactly as the platform
would deliver it; then what became of it (the refusal, or the alert rules'
verdict and the ticket).

The delivery goes through the whole HTTP stack of this process (ASGI, the
rate limit, the signature check, the mapping): whatever would refuse the
platform's deliveries refuses this one, with the same words.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from api.deps import Services
from api.intake.adapters import sign_cxloop, sign_typeform
from domain.contracts import IntakeResult
from domain.responses import HIDDEN_PREFIX, FieldMapping
from store.models import Survey, SurveyAdapter
from workflows.intake import SurveyResponseWorkflow, response_key, survey_intake_workflow_id

# How long the answer waits for the alert rules' verdict and the ticket in
# the read model; a worker that is down makes it answer without them.
OUTCOME_WAIT_SECONDS = 20
READ_MODEL_POLL_SECONDS = 0.2

TEST_CUSTOMER_EMAIL = "test.customer@example.com"
TEST_CUSTOMER_NAME = "Test customer"
TEST_COMMENT = "A test response sent from cxloop's survey settings."


def _sample_values(score: int, segment: str | None) -> dict[str, Any]:
    return {
        "score": score,
        "comment": TEST_COMMENT,
        "customer_email": TEST_CUSTOMER_EMAIL,
        "customer_name": TEST_CUSTOMER_NAME,
        "segment": segment,
    }


def _answers_and_hidden(mapping: FieldMapping, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each mapped field's value under the question key the mapping names."""
    answers: dict[str, Any] = {}
    hidden: dict[str, str] = {}
    for field, value in values.items():
        reference = getattr(mapping, field)
        if not reference or value is None:
            continue
        if reference.startswith(HIDDEN_PREFIX):
            hidden[reference.removeprefix(HIDDEN_PREFIX)] = str(value)
        else:
            answers[reference] = value
    return answers, hidden


def _cxloop_payload(response_id: str, submitted_at: datetime, answers: dict, hidden: dict) -> dict[str, Any]:
    return {"response_id": response_id, "submitted_at": submitted_at.isoformat(), "answers": answers,
            "hidden": hidden}


def _typeform_answer(key: str, value: Any) -> dict[str, Any]:
    field = {"id": key, "ref": key}
    if isinstance(value, int):
        return {"type": "number", "number": value, "field": {**field, "type": "opinion_scale"}}
    if isinstance(value, str) and "@" in value and " " not in value:
        return {"type": "email", "email": value, "field": {**field, "type": "email"}}
    return {"type": "text", "text": str(value), "field": {**field, "type": "long_text"}}


def _typeform_payload(response_id: str, submitted_at: datetime, answers: dict, hidden: dict) -> dict[str, Any]:
    return {
        "event_id": response_id,
        "event_type": "form_response",
        "form_response": {
            "token": response_id,
            "submitted_at": submitted_at.isoformat().replace("+00:00", "Z"),
            "definition": {"fields": [{"id": key, "ref": key, "title": key} for key in answers]},
            "answers": [_typeform_answer(key, value) for key, value in answers.items()],
            "hidden": hidden,
        },
    }


def _cxloop_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {"X-Cxloop-Timestamp": str(timestamp), "X-Cxloop-Signature": sign_cxloop(secret, timestamp, body)}


def _typeform_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    return {"Typeform-Signature": sign_typeform(secret, body)}


# Each adapter's native payload and signature (api/intake/adapters.py reads them).
FORMATS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[str, bytes, datetime], dict[str, str]]]] = {
    SurveyAdapter.CXLOOP.value: (_cxloop_payload, _cxloop_headers),
    SurveyAdapter.TYPEFORM.value: (_typeform_payload, _typeform_headers),
}


async def deliver_test_response(
    app: FastAPI, services: Services, survey: Survey, score: int, locale: str
) -> dict[str, Any]:
    """Deliver the test response and report (SurveyTestResult's fields)."""
    adapter = survey.adapter.value if isinstance(survey.adapter, SurveyAdapter) else str(survey.adapter)
    build_payload, sign = FORMATS[adapter]
    mapping = FieldMapping.model_validate(survey.field_mapping or {})
    now = datetime.now(UTC)
    response_id = f"test-{uuid.uuid4().hex[:12]}"
    answers, hidden = _answers_and_hidden(mapping, _sample_values(score, survey.default_segment))
    payload = build_payload(response_id, now, answers, hidden)
    body = json.dumps(payload).encode()
    headers = {**sign(survey.webhook_secret, body, now), "Content-Type": "application/json",
               "Accept-Language": locale}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cxloop.internal") as client:
        answer = await client.post(f"/api/webhooks/surveys/{quote(survey.id, safe='')}", content=body,
                                   headers=headers)
    result: dict[str, Any] = {"status_code": answer.status_code, "accepted": answer.status_code == 202,
                              "payload": payload}
    if answer.status_code != 202:
        detail = _detail(answer)
        result["detail"] = detail
        return result
    result["response_id"] = response_key(survey.id, response_id)
    outcome = await _outcome(services, survey.id, response_id)
    if outcome is not None:
        result.update(ticket_id=outcome.ticket_id, reference=outcome.reference, reasons=outcome.reasons)
    return result


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except (ValueError, AttributeError):
        return answer.text
    return detail if isinstance(detail, str) else json.dumps(detail)


async def _outcome(services: Services, survey_id: str, response_id: str) -> IntakeResult | None:
    """The intake's verdict once its ticket (if any) is in the read model;
    None when the worker did not get to it in time."""
    handle = services.temporal.get_workflow_handle_for(
        SurveyResponseWorkflow.run, survey_intake_workflow_id(survey_id, response_id)
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OUTCOME_WAIT_SECONDS
    try:
        outcome = await asyncio.wait_for(handle.result(), OUTCOME_WAIT_SECONDS)
    except TimeoutError:
        return None
    if outcome.ticket_id:
        # The ticket's page reads the read model: answer once it is there.
        while loop.time() < deadline:
            if await asyncio.to_thread(services.tickets.get, outcome.ticket_id) is not None:
                break
            await asyncio.sleep(READ_MODEL_POLL_SECONDS)
    return outcome
