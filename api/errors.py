"""The error answers of the JSON API, as the OpenAPI schema documents them.

Every error is `{"detail": ...}` with a code of DESIGN.md; a route lists the
codes it can answer with (`responses=error_responses(404, 409)`), so that a
client, and tests/test_schema_fuzz.py, find each one in the schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
    503: "Temporal did not answer in time; retry",
}

# What any route that reads a JSON body may answer before it even runs.
BODY_ERRORS = (400, 413, 422)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": MEANINGS[code]} for code in codes}
