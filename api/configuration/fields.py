"""Field types and error documentation that the configuration bodies share
(and the ticket and intake bodies, for names, references and free text)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, StringConstraints, model_validator

from api.errors import BODY_ERRORS, Problem, error_responses


def _printable(value: str) -> str:
    # A NUL is refused by PostgreSQL; other control characters have no place
    # in a name shown in lists, search attributes and spreadsheets.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


def _free_text(value: str) -> str:
    # Lines and tabs belong to a comment or a message; other control characters
    # are not text, and a NUL would never reach the read model (PostgreSQL refuses it).
    if any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


# Free text (a comment, a message): `Annotated[str, ..., FreeText]`.
FreeText = AfterValidator(_free_text)
# A query parameter's `pattern`: an id or a text to look for has no control
# characters, and a NUL would reach the database (PostgreSQL refuses it).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"


# No stored document (a field mapping, an alert rule, a survey's answers) is
# nested deeper than this; pydantic cannot even serialize one past ~250 levels.
MAX_DOCUMENT_DEPTH = 32


def storable_document(document: Any) -> Any:
    """The JSON document, if the read model can store it: no NUL in any key or
    string (PostgreSQL's text and JSONB refuse one anywhere; refusing it here
    keeps both databases answering alike) and no deeper than MAX_DOCUMENT_DEPTH.
    Walked with a stack rather than recursion, whatever the depth."""
    pending: list[tuple[Any, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DOCUMENT_DEPTH:
            raise ValueError(f"must not be nested deeper than {MAX_DOCUMENT_DEPTH} levels")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
    return document


def _known_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]
# A reference to a row by its id (workspace, survey): refused early when it
# could never be one, so that the lookup answers "not found" for the rest.
Ref = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]
WorkspaceSlug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=150, pattern=r"^[^\s]+$"),
    AfterValidator(_printable),
]
Locale = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
]
TimeZone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_known_time_zone),
]

# Room for any sensible count, and well inside a 32-bit INTEGER column.
MAX_INT_COLUMN = 2**31 - 1


NOT_FOUND = {404: {"model": Problem, "description": "unknown id"}}
CONFLICT = {409: {"model": Problem, "description": "a duplicate, or still in use"}}
# Every route that reads a body: one that is not JSON, too large, or invalid.
UNPROCESSABLE = error_responses(*BODY_ERRORS)


class PatchBody(BaseModel):
    """A partial change: fields left out stay as they are. Fields named in
    IMMUTABLE are refused by name; `null` is refused for fields in
    NOT_NULLABLE (a change to "nothing" is not a change)."""

    IMMUTABLE: ClassVar[tuple[str, ...]] = ()
    NOT_NULLABLE: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _no_immutable(cls, data: Any) -> Any:
        if isinstance(data, dict):
            immutable = [field for field in cls.IMMUTABLE if field in data]
            if immutable:
                raise ValueError(f"{', '.join(immutable)} cannot be changed")
        return data

    @model_validator(mode="after")
    def _no_null(self) -> PatchBody:
        nulls = [
            field
            for field in self.NOT_NULLABLE
            if field in self.model_fields_set and getattr(self, field) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


# A name that may be left empty (an escalation rule is then shown by its id).
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_printable)]
