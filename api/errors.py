"""The error answers of the JSON API, as the OpenAPI schema documents them.

Every error is `{"detail": ...}` with a code of DESIGN.md; a route lists the
codes it can answer with (`responses=error_responses(404, 409)`), so that a
client, and tests/test_schema_fuzz.py, find each one in the schema.

Every error the API words itself (a ticket's refusals, the configuration's,
"not signed in", "too many requests") is a `TranslatedError`: its detail is
answered in the request's language, negotiated like the dashboard's (its
language cookie, then Accept-Language), with Content-Language. A client that
asks for no language reads English. FastAPI's 422 for malformed input stays
as pydantic words it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.dashboard import i18n


class Problem(BaseModel):
    """An error: what was wrong, in words (or, for malformed input, a list of
    the fields and why)."""

    detail: Any


MEANINGS = {
    400: "the body could not be read as JSON (not UTF-8, malformed, or nested too deeply)",
    401: "not signed in: no credentials, or an unknown or revoked token",
    403: "not allowed (or, with a session cookie, a missing CSRF token)",
    404: "unknown, or outside your reach",
    409: "not allowed from the current status",
    413: "body too large",
    422: "invalid input",
    429: "too many requests; see Retry-After",
    503: "Temporal or the database is unavailable for a moment; retry after Retry-After seconds",
}

# How long a client waits before retrying a 503: Temporal and the read model
# mostly come back within seconds (a lock released, a connection replaced).
RETRY_AFTER_SECONDS = 2

# What any route that reads a JSON body may answer before it even runs.
BODY_ERRORS = (400, 413, 422)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _documented(code) for code in codes}


def _documented(code: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"model": Problem, "description": MEANINGS[code]}
    if code in (429, 503):
        answer["headers"] = {
            "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    return answer


# Any route may meet a database or Temporal that is unavailable for a moment:
# the app documents 503 on every operation (FastAPI's `responses`).
UNAVAILABLE = error_responses(503)


class TranslatedError(HTTPException):
    """An error whose detail is a message of the dashboard's catalogs: an
    English template with named {placeholders} (marked with `N_`) and the
    values that fill it in. `detail` is the English text, for code that
    catches an HTTPException; `answer_in_readers_language` translates it.
    `headers` are answered with it (WWW-Authenticate, Retry-After)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message
        self.params = dict(params or {})
        answer_headers = dict(headers) if headers else None
        super().__init__(status_code, message.format(**self.params), headers=answer_headers)


def retry_later(message: str) -> TranslatedError:
    """503 with Retry-After: something cxloop needs did not answer; a retry
    soon may succeed. `message` is marked with `N_`."""
    return TranslatedError(503, message, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def answer_in_readers_language(request: Request, error: TranslatedError) -> JSONResponse:
    """The app's handler of `TranslatedError`: FastAPI's answer to an
    HTTPException, with the detail in the reader's language."""
    locale = i18n.locale_of(request)
    return JSONResponse(
        {"detail": i18n.translate(locale, error.message, error.params)},
        status_code=error.status_code,
        # Caches must tell readers of other languages apart.
        headers={**(error.headers or {}), "Content-Language": locale, "Vary": "Accept-Language, Cookie"},
    )
