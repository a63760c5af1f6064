"""Survey responses as cxloop sees them, whatever platform sent them.

An adapter (api/intake) turns a platform's payload into a `SurveyResponse`: a
list of typed answers keyed by the platform's question reference, plus hidden
fields. The survey's `FieldMapping` says which answer is the NPS score, the
comment, the customer's email and name, and the segment.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.commands import N_
from domain.ticket import customer_locale

HIDDEN_PREFIX = "hidden:"


class Answer(BaseModel):
    """One answer. `key` is the platform's stable question reference."""

    key: str
    type: str = Field(description="number, text, email, choice, choices, boolean, date, url, phone...")
    value: Any
    title: str | None = Field(default=None, description="the question as the customer saw it")


class SurveyResponse(BaseModel):
    survey_id: str
    response_id: str
    submitted_at: datetime
    answers: list[Answer] = Field(default_factory=list)
    hidden: dict[str, str] = Field(default_factory=dict)

    def value_of(self, reference: str) -> Any:
        """The answer (or, as `hidden:<name>`, the hidden field) a mapping names."""
        if reference.startswith(HIDDEN_PREFIX):
            return self.hidden.get(reference.removeprefix(HIDDEN_PREFIX))
        for answer in self.answers:
            if answer.key == reference:
                return answer.value
        return None


class FieldMapping(BaseModel):
    """Which answer carries each of cxloop's fields: an answer key, or
    `hidden:<name>` for a hidden field. None: the survey does not ask it."""

    score: str | None = None
    comment: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    segment: str | None = None
    # The customer's language ("de", "de-DE"; Typeform: a hidden field).
    locale: str | None = None
    # Fields a response must carry to be accepted (422 otherwise).
    required: list[str] = Field(default_factory=lambda: ["customer_email"])


class MappedResponse(BaseModel):
    """The fields a ticket is made of, taken from a response."""

    score: int | None = None
    comment: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    segment: str | None = None
    # One of domain.ticket.CUSTOMER_LOCALES; None when not mapped or not one
    # cxloop writes in (the workspace's default then).
    locale: str | None = None


class UnusableResponse(ValueError):
    """A response no ticket can be made of. `message` is an English template
    with named {placeholders} (marked with `N_`) and `params` fill it in, so
    that the API answers in the sender's language (api/intake/router.py)."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


class MissingField(UnusableResponse):
    def __init__(self, field: str, reference: str | None) -> None:
        if reference:
            super().__init__(N_("the response has no {field} (mapped to '{reference}')"),
                             field=field, reference=reference)
        else:
            super().__init__(N_("the response has no {field} (not mapped)"), field=field)
        self.field = field


def _as_number(value: Any) -> float | None:
    """A number, or text that reads as one; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def map_response(response: SurveyResponse, mapping: FieldMapping) -> MappedResponse:
    """Apply the mapping; raise MissingField for a required field that is
    absent and UnusableResponse for a score that is not a whole number 0-10."""
    values: dict[str, Any] = {}
    for field in ("score", "comment", "customer_email", "customer_name", "segment", "locale"):
        reference = getattr(mapping, field)
        value = response.value_of(reference) if reference else None
        if isinstance(value, str):
            value = value.strip() or None
        if value is None and field in mapping.required:
            raise MissingField(field, reference)
        values[field] = value
    score = values["score"]
    if score is not None:
        number = _as_number(score)
        if number is None:
            raise UnusableResponse(N_("score must be a number from 0 to 10, not {value}"), value=repr(score))
        if not number.is_integer() or not 0 <= number <= 10:
            raise UnusableResponse(N_("score must be a whole number from 0 to 10, not {value}"), value=repr(score))
        values["score"] = int(number)
    for field in ("comment", "customer_email", "customer_name", "segment"):
        if values[field] is not None and not isinstance(values[field], str):
            values[field] = str(values[field])
    values["locale"] = customer_locale(str(values["locale"])) if values["locale"] is not None else None
    return MappedResponse(**values)
