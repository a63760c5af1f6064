"""The API against its own OpenAPI schema, under generated input (Schemathesis),
on SQLite and on PostgreSQL.

Schemathesis reads /openapi.json from the app and, for every operation in it,
generates requests: valid ones (positive: they fit the schema) and invalid
ones (negative: a wrong type, a missing field, a body that is not JSON). They
are sent as an admin, a manager and an agent, each with a bearer token. Every
answer must

- not be a 5xx,
- have a status code the operation documents, the documented content type,
  and a body that conforms to the documented model,
- and, for an invalid request, be a 4xx: bad input is refused, not acted on.

No operation of the schema is left out (the test checks that each one was
called); the routes outside it (dashboard pages, sign-in, the customer's
links) are tests/test_hostile_input.py's. Half of the requests aim at the
test's own data: a ticket in the caller's reach where a ticket id is asked
for, the test's workspace in the list filters, a segment the caller may open
tickets in, so that real tickets come back and their answers are checked too.

Bounded and repeatable: EXAMPLES requests per operation, mode and role, drawn
with `derandomize` (the same requests on every run), no shrinking, no example
database; the failures of one role are gathered and reported together (an
exception the app raises stops the role's run at once, with the request to
reproduce it). Measured: 104 s for the whole file, both databases, on the
2-core development machine at load average 7-8; the password change is the
slowest operation (each attempt verifies an Argon2 hash).

The app under test is served in-process by Schemathesis's ASGI client, which
runs it (and its lifespan) on an event loop thread of its own; it shares the
database, the Temporal dev server and the task queue of the `api` fixture,
whose worker runs on the test's loop. Hence Hypothesis runs in a thread while
the test awaits it: the worker must go on answering the tickets' updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, checks
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from tests.api_fixtures import ApiEnv, Cast, cast_of

EXAMPLES = 5
ROLES = ("admin", "manager", "agent")

CONFORMANCE = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
REJECTS_INVALID = [*CONFORMANCE, checks.negative_data_rejection]

# Reads that must succeed at least once for each role: proof that real
# tickets, not only refusals, were checked against the schema.
READS_IN_REACH = (
    "GET /api/tickets",
    "GET /api/tickets/counts",
    "GET /api/tickets/{ticket_id}",
    "GET /api/tickets/{ticket_id}/events",
)


@pytest.fixture(scope="session")
def schema_under_test(api: ApiEnv) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(api.settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        yield schema
    finally:
        # The app's lifespan shutdown: its engine and its Temporal client.
        shutdown_lifespans()


@dataclass
class Caller:
    """One role of the cast, as the generated requests present it."""

    headers: dict[str, str]
    workspace: str
    ticket_id: str  # a ticket in the caller's reach
    segment: str  # one the caller may open tickets in
    calls: int = 0
    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, api: ApiEnv, cast: Cast, role: str) -> Caller:
        username, ticket, segment = {
            "admin": (api.admin_username, cast.b2b_ticket, "retail"),
            "manager": (cast.manager, cast.manager_ticket, "retail"),
            "agent": (cast.agent, cast.agent_ticket, "b2b"),
        }[role]
        return cls(api.headers_for(username), cast.workspace, ticket["id"], segment)

    def known_values(self, operation: APIOperation) -> dict[str, dict]:
        """Path and query values that name the test's own data."""
        names = {(p.location.value, p.name) for p in operation.iter_parameters()}
        known: dict[str, dict] = {}
        if ("path", "ticket_id") in names:
            known["path_parameters"] = {"ticket_id": self.ticket_id}
        if ("query", "workspace") in names:
            known["query"] = {"workspace": self.workspace}
        return known

    def aim_ticket_body(self, case: Case) -> Case:
        """A new ticket in the test's workspace and a segment the caller may
        use; a change of status or priority only: without this nearly every
        generated ticket body stops at "unknown segment" and nothing changes."""
        if not isinstance(case.body, dict):
            return case
        if case.method.upper() == "POST":
            case.body.pop("owner", None)
            case.body.update(workspace_id=self.workspace, segment=self.segment)
        else:  # a change: its extra fields would be refused by name
            case.body = {k: v for k, v in case.body.items() if k in ("status", "priority", "comment")}
        return case

    def strategy(self, operation: APIOperation, mode: GenerationMode):
        generated = operation.as_strategy(generation_mode=mode)
        known = self.known_values(operation)
        if not known and operation.label != "POST /api/tickets":
            return generated
        aimed = operation.as_strategy(generation_mode=mode, **known)
        if mode is GenerationMode.POSITIVE and operation.path.startswith("/api/tickets"):
            # Positive only: a negative body must stay as invalid as it was made.
            aimed = aimed.map(self.aim_ticket_body)
        return st.one_of(generated, aimed)

    def fuzz(self, operation: APIOperation, mode: GenerationMode) -> None:
        """Send EXAMPLES generated requests of one operation; note what fails."""
        checks_to_run = REJECTS_INVALID if mode is GenerationMode.NEGATIVE else CONFORMANCE

        @settings(
            max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )
        @given(case=self.strategy(operation, mode))
        def send(case: Case) -> None:
            response = case.call(headers=self.headers)
            self.calls += 1
            self.statuses.setdefault(operation.label, set()).add(response.status_code)
            try:
                case.validate_response(response, checks=checks_to_run, headers=self.headers)
            except FailureGroup as failed:
                self.failures.append(f"{mode.value} {operation.label}: {failed}")

        send()


def has_input(operation: APIOperation) -> bool:
    """Whether there is anything to make invalid: a path parameter is any
    string, so an operation with only those has no negative requests."""
    return len(operation.body) > 0 or any(p.location.value != "path" for p in operation.iter_parameters())


@pytest.mark.parametrize("role", ROLES)
async def test_every_answer_conforms_to_the_schema(
    api: ApiEnv, workspace: str, schema_under_test: schemathesis.BaseSchema, role: str
) -> None:
    caller = Caller.of(api, await cast_of(api, workspace), role)
    operations = [result.ok() for result in schema_under_test.get_all_operations()]

    def fuzz_every_operation() -> None:
        for operation in operations:
            caller.fuzz(operation, GenerationMode.POSITIVE)
            if has_input(operation):
                caller.fuzz(operation, GenerationMode.NEGATIVE)

    await asyncio.to_thread(fuzz_every_operation)
    assert set(caller.statuses) == {operation.label for operation in operations}
    assert not caller.failures, f"{len(caller.failures)} of {caller.calls} requests:\n\n" + "\n\n".join(
        caller.failures
    )
    never_answered = [label for label in READS_IN_REACH if not any(c < 300 for c in caller.statuses[label])]
    assert not never_answered, f"no success, so no real ticket checked: {never_answered}"
