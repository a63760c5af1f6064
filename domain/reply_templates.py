"""Reply templates: a named answer the team reuses, one body per language,
with placeholders filled in for the ticket it answers.

A body is text with `{customer_name}`, `{reference}`, `{agent_name}` and
`{workspace_name}`; a literal brace is written twice (`{{`, `}}`), as in
Python's str.format, which fills them. Pure: the replies endpoint gives the
values; nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Formatter
from typing import Literal, get_args

# The customer-facing languages (the dashboard's, and the customer_locale of a ticket).
Language = Literal["en", "de", "es", "ja", "hu"]
LANGUAGES: tuple[str, ...] = get_args(Language)
FALLBACK_LANGUAGE = "en"

PLACEHOLDERS = ("customer_name", "reference", "agent_name", "workspace_name")

# What a body may be, as a JSON Schema pattern (the API's schema states it):
# text without control characters but tab and line breaks, braces doubled or
# around a known placeholder.
BODY_PATTERN = (
    r"^([^{}\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\{\{|\}\}|\{(" + "|".join(PLACEHOLDERS) + r")\})*$"
)

_BODY = re.compile(BODY_PATTERN)


def body_errors(body: str) -> list[str]:
    """Why `body` cannot be filled in, in words naming the culprit; [] if it can."""
    try:
        parsed = list(Formatter().parse(body))
    except ValueError as error:
        # "Single '}' encountered in format string", "expected '}' before end of string"
        return [f"malformed brace ({error}); write a literal brace twice: {{{{ or }}}}"]
    errors = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            errors.append(f"unknown placeholder {{{name}}}; the placeholders are {known}")
        elif spec or conversion:
            errors.append(f"placeholder {{{name}}} takes no format or conversion; write {{{name}}}")
    if not errors and not _BODY.fullmatch(body):
        # A control character, or a placeholder with an empty format ("{reference:}").
        errors.append("write each placeholder exactly as {name}, and no control characters but tabs and line breaks")
    return errors


def pick_body(bodies: Mapping[str, str], language: str, workspace_language: str | None = None) -> tuple[str, str]:
    """(language, body): the body in `language`, else in the workspace's
    language, else English, else the first there is (a template has at least one)."""
    for candidate in (language, workspace_language, FALLBACK_LANGUAGE):
        if candidate and bodies.get(candidate):
            return candidate, bodies[candidate]
    for candidate in LANGUAGES:
        if bodies.get(candidate):
            return candidate, bodies[candidate]
    raise ValueError("a reply template has at least one body")


def render(
    bodies: Mapping[str, str],
    language: str,
    *,
    customer_name: str | None,
    reference: str,
    agent_name: str,
    workspace_name: str,
    workspace_language: str | None = None,
) -> tuple[str, str]:
    """(language, text): the template's body for a ticket, in the customer's
    `language` if it has one (falling back as `pick_body` says), its
    placeholders filled in. A customer without a name is greeted without one
    (an empty string, never "None")."""
    chosen, body = pick_body(bodies, language, workspace_language)
    values = {
        "customer_name": customer_name or "",
        "reference": reference,
        "agent_name": agent_name,
        "workspace_name": workspace_name,
    }
    return chosen, body.format_map(values)
