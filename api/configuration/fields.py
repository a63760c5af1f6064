"""Field types and error documentation that the configuration bodies share
(and the ticket and intake bodies, for names, references and free text)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic import StringConstraints, WithJsonSchema, model_validator
from pydantic_core import core_schema

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


# A query parameter's `pattern`: an id or a text to look for has no control
# characters, and a NUL would reach the database (PostgreSQL refuses it).
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"

# The same refusals as JSON Schema patterns, so that the OpenAPI schema says
# what is accepted (Schemathesis' positive_data_acceptance holds the API to
# it): no control character; in free text, none but tab and line breaks.
# "Not blank" (a stripped value of at least one character) asks for one
# character that pydantic's strip_whitespace keeps: none of Unicode's
# White_Space, which is what it strips.
_CONTROL = r"\x00-\x1f\x7f"
_FREE_TEXT_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_WHITE_SPACE = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class _Refusing:
    """`Annotated` metadata: a validator with friendly words, and the pattern
    that documents what it lets through."""

    check: Callable[[str], str]
    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        documented = handler(schema)
        documented["pattern"] = self.pattern
        return documented


def _refusing(check: Callable[[str], str], control: str, *, not_blank: bool) -> _Refusing:
    if not_blank:
        return _Refusing(check, f"^[^{control}]*[^{control}{_WHITE_SPACE}][^{control}]*$")
    return _Refusing(check, f"^[^{control}]*$")


# Free text (a comment, a message): `Annotated[str, ..., FreeText]`;
# `NonBlankFreeText` with strip_whitespace and min_length=1.
FreeText = _refusing(_free_text, _FREE_TEXT_CONTROL, not_blank=False)
NonBlankFreeText = _refusing(_free_text, _FREE_TEXT_CONTROL, not_blank=True)
Printable = _refusing(_printable, _CONTROL, not_blank=False)
NonBlankPrintable = _refusing(_printable, _CONTROL, not_blank=True)


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


_RFC_3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?"
)


def _rfc_3339_text(value: Any) -> Any:
    # pydantic would also read a number ("0.5", "1700000000") as seconds
    # since 1970; a date is written as a date.
    if not isinstance(value, str) or not _RFC_3339.fullmatch(value):
        raise ValueError("must be a date (2026-01-31) or a date and time with its offset (2026-01-31T09:00:00Z)")
    return value


# A date or an RFC 3339 date-time (a date alone is its midnight, UTC), as
# the schema documents it: nothing else.
DateOrDateTime = Annotated[
    datetime,
    BeforeValidator(_rfc_3339_text),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}),
]

# The IANA zones this machine knows, listed in the schema as the choices.
TIME_ZONES = frozenset(available_timezones())


def _known_time_zone(value: str) -> str:
    if value not in TIME_ZONES:
        raise ValueError(f"unknown IANA time zone {value!r}")
    return value


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NonBlankPrintable
]
# A reference to a row by its id (workspace, survey): refused early when it
# could never be one, so that the lookup answers "not found" for the rest.
Ref = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NonBlankPrintable
]
WorkspaceSlug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
]
Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=150, pattern=r"^[^\s]+$"),
    # Documented as one pattern: no white space, no control character.
    _Refusing(_printable, f"^[^{_CONTROL}{_WHITE_SPACE}]+$"),
]
Locale = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
]
TimeZone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_known_time_zone),
    Field(json_schema_extra={"enum": sorted(TIME_ZONES)}),
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

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        # A field of NOT_NULLABLE is `X | None` in Python (left out: None),
        # but null is refused: the schema offers only X.
        documented = super().__get_pydantic_json_schema__(schema, handler)
        not_nullable(handler.resolve_ref_schema(documented), *cls.NOT_NULLABLE)
        return documented


def not_nullable(model_schema: dict[str, Any], *names: str) -> None:
    """Document the model's fields `names` (`X | None = None` in Python: left
    out, they are None) as refusing null."""
    properties = model_schema.get("properties", {})
    for name in names:
        field = properties.get(name)
        if field is None or "anyOf" not in field:
            continue
        kept = [option for option in field["anyOf"] if option != {"type": "null"}]
        if len(kept) == 1:
            del field["anyOf"]
            field.update(kept[0])
        else:
            field["anyOf"] = kept
        if "default" in field and field["default"] is None:
            del field["default"]


# A name that may be left empty (an escalation rule is then shown by its id).
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), Printable]
