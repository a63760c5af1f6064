"""Survey platforms' payloads and signatures, turned into cxloop's SurveyResponse.

Each adapter verifies the raw body's signature first (nothing is parsed before
that) and then reads the platform's native payload:

- `cxloop`: our own JSON, signed with `X-Cxloop-Timestamp` (unix seconds) and
  `X-Cxloop-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`;
  a timestamp more than 5 minutes away from now is refused (replays).
- `typeform`: Typeform's `form_response` webhook, signed with
  `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>`; answers are
  keyed by the question's `ref` (its id when it has none), hidden fields are
  kept as hidden fields.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.configuration.fields import storable_document
from api.dashboard.i18n import N_
from api.errors import TranslatedError
from domain.responses import Answer, SurveyResponse

SIGNATURE_MAX_AGE_SECONDS = 5 * 60
# Unix seconds in ASCII digits: str.isdigit() also takes "²" and "١", which
# int() refuses, and a thousand digits would overflow the comparison with now.
UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class IntakeRefused(TranslatedError):
    """A delivery refused with an HTTP status and a reason the sender can act
    on (in their language, like every error of the API: api/errors.py)."""

    def __init__(self, status_code: int, message: str, **params: Any) -> None:
        super().__init__(status_code, message, params)


# A reason worded elsewhere (pydantic's, domain/responses.py's), given as it is:
# no message of the catalogs, it reads the same in every language.
AS_WORDED = "{problem}"


def sign_cxloop(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Cxloop-Signature value for a body (senders and tests use this)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_typeform(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def verify_cxloop(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    timestamp = headers.get("x-cxloop-timestamp", "")
    signature = headers.get("x-cxloop-signature", "")
    if not timestamp or not signature:
        raise IntakeRefused(401, N_("missing X-Cxloop-Timestamp or X-Cxloop-Signature"))
    if not UNIX_SECONDS.fullmatch(timestamp):
        raise IntakeRefused(401, N_("X-Cxloop-Timestamp must be unix seconds"))
    if abs(now.timestamp() - int(timestamp)) > SIGNATURE_MAX_AGE_SECONDS:
        raise IntakeRefused(401, N_("stale or future X-Cxloop-Timestamp (more than 5 minutes off)"))
    if not hmac.compare_digest(sign_cxloop(secret, int(timestamp), body), signature):
        raise IntakeRefused(401, N_("wrong signature"))


def verify_typeform(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    signature = headers.get("typeform-signature", "")
    if not signature:
        raise IntakeRefused(401, N_("missing Typeform-Signature"))
    if not hmac.compare_digest(sign_typeform(secret, body), signature):
        raise IntakeRefused(401, N_("wrong signature"))


def _object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IntakeRefused(422, N_("the body is not JSON: {error}"), error=str(error)) from None
    except RecursionError:
        # json.loads recurses once per level: [[[...]]] a few thousand deep.
        raise IntakeRefused(422, N_("the body is not JSON that can be read: nested too deeply")) from None
    if not isinstance(payload, dict):
        raise IntakeRefused(422, N_("the body must be a JSON object"))
    try:
        # Refused now rather than started as a workflow that would retry
        # storing it for ever (or could not even be handed to Temporal).
        return storable_document(payload)
    except ValueError as unstorable:
        raise IntakeRefused(422, AS_WORDED, problem=f"the body {unstorable}") from None


def _timestamp(value: Any, field: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise IntakeRefused(
            422, N_("{field} is not an ISO 8601 time: {value}"), field=field, value=repr(value)
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _answer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "choices"
    return "text"


def parse_cxloop(survey_id: str, body: bytes) -> SurveyResponse:
    """{"response_id": "...", "submitted_at": "...", "answers": {"nps": 3, ...},
    "hidden": {"segment": "retail"}}; answers may also be a list of
    {"key", "type", "value", "title"}."""
    payload = _object(body)
    response_id = payload.get("response_id")
    if not isinstance(response_id, (str, int)) or not str(response_id).strip():
        raise IntakeRefused(422, N_("response_id is required"))
    raw_answers = payload.get("answers", {})
    answers: list[Answer] = []
    if isinstance(raw_answers, dict):
        answers = [Answer(key=str(k), type=_answer_type(v), value=v) for k, v in raw_answers.items()]
    elif isinstance(raw_answers, list):
        for index, item in enumerate(raw_answers):
            if not isinstance(item, dict) or "key" not in item:
                raise IntakeRefused(422, N_("answers[{index}] needs a key"), index=index)
            value = item.get("value")
            answers.append(Answer(key=str(item["key"]), type=str(item.get("type") or _answer_type(value)),
                                  value=value, title=item.get("title")))
    else:
        raise IntakeRefused(422, N_("answers must be an object or a list"))
    hidden = payload.get("hidden") or {}
    if not isinstance(hidden, dict):
        raise IntakeRefused(422, N_("hidden must be an object"))
    return SurveyResponse(
        survey_id=survey_id,
        response_id=str(response_id).strip(),
        submitted_at=_timestamp(payload.get("submitted_at"), "submitted_at"),
        answers=answers,
        hidden={str(k): str(v) for k, v in hidden.items() if v is not None},
    )


# Typeform answer types and where each keeps its value.
TYPEFORM_VALUE = {
    "number": lambda a: a.get("number"),
    "text": lambda a: a.get("text"),
    "email": lambda a: a.get("email"),
    "url": lambda a: a.get("url"),
    "phone_number": lambda a: a.get("phone_number"),
    "date": lambda a: a.get("date"),
    "boolean": lambda a: a.get("boolean"),
    "file_url": lambda a: a.get("file_url"),
    "choice": lambda a: (a.get("choice") or {}).get("label") or (a.get("choice") or {}).get("other"),
    "choices": lambda a: [*(a.get("choices") or {}).get("labels", []),
                          *([o] if (o := (a.get("choices") or {}).get("other")) else [])],
    "payment": lambda a: a.get("payment"),
}


def parse_typeform(survey_id: str, body: bytes) -> SurveyResponse:
    payload = _object(body)
    if payload.get("event_type") != "form_response":
        event_type = repr(payload.get("event_type"))
        raise IntakeRefused(422, N_("event_type {event_type} is not form_response"), event_type=event_type)
    form_response = payload.get("form_response")
    if not isinstance(form_response, dict) or not form_response.get("token"):
        raise IntakeRefused(422, N_("form_response.token is required"))
    titles = {
        field.get("id"): field.get("title")
        for field in (form_response.get("definition") or {}).get("fields", [])
        if isinstance(field, dict)
    }
    answers = []
    for index, item in enumerate(form_response.get("answers") or []):
        field = item.get("field") if isinstance(item, dict) else None
        if not isinstance(field, dict) or not (field.get("ref") or field.get("id")):
            raise IntakeRefused(
                422, N_("form_response.answers[{index}].field needs a ref or an id"), index=index
            )
        kind = str(item.get("type", ""))
        value = TYPEFORM_VALUE[kind](item) if kind in TYPEFORM_VALUE else item.get(kind)
        answers.append(Answer(key=str(field.get("ref") or field["id"]), type=kind, value=value,
                              title=titles.get(field.get("id"))))
    hidden = form_response.get("hidden") or {}
    return SurveyResponse(
        survey_id=survey_id,
        response_id=str(form_response["token"]),
        submitted_at=_timestamp(form_response.get("submitted_at"), "form_response.submitted_at"),
        answers=answers,
        hidden={str(k): str(v) for k, v in hidden.items() if v is not None} if isinstance(hidden, dict) else {},
    )


@dataclass(frozen=True)
class Adapter:
    verify: Callable[[str, Mapping[str, str], bytes, datetime], None]
    parse: Callable[[str, bytes], SurveyResponse]


ADAPTERS: dict[str, Adapter] = {
    "cxloop": Adapter(verify_cxloop, parse_cxloop),
    "typeform": Adapter(verify_typeform, parse_typeform),
}
