"""The API against its own OpenAPI schema, under generated input (Schemathesis),
on SQLite and on PostgreSQL.

Schemathesis reads /openapi.json from the app and, for every operation in it,
generates requests: valid ones (positive: they fit the schema) and invalid
ones (negative: a wrong type, a missing field, a body that is not JSON). They
are sent as an admin, a manager and an agent, each with a bearer token. The
admin also sends the coverage phase's requests (Schemathesis's deterministic
boundary cases: a method the path does not serve, a missing header, a value
of the wrong format, null), the ones the CLI sends first. Every answer is
held to every check Schemathesis has (EVERY_CHECK), among them:

- not a 5xx;
- a status code the operation documents, the documented content type and
  headers, and a body that conforms to the documented model;
- an invalid request is refused (4xx), not acted on; a valid one is accepted:
  the schema says exactly what validation lets through (see
  `validation_agrees_with_schema` for the refusals in words);
- a 405 names, in Allow, every method the path serves; a route that wants a
  bearer token refuses a request without one or with a wrong one (401).

No operation of the schema is left out (the test checks that each one was
called); the routes outside it (dashboard pages, sign-in, the customer's
links) are tests/test_hostile_input.py's. Half of the requests aim at the
test's own data: a ticket in the caller's reach where a ticket id is asked
for, the test's workspace in the list filters, a segment the caller may open
tickets in, so that real tickets come back and their answers are checked too.

Bounded and repeatable: EXAMPLES requests per operation, mode and role
(invalid ones as the admin only: refusing bad input does not depend on who
sends it), drawn with `derandomize` (the same requests on every run), no
shrinking, no example database; the coverage phase's cases, bounded too
(EVERY_COVERAGE_CASE_OF), on SQLite only. About 1,700 requests in all, fewer
than the 2,600 of the test's first version (5 examples of both modes for each
role): 84 s for the whole file, both databases, on the 2-core development
machine shared with other test runs (201 s at load average 12), where the
first version took 104 s at load average 7-8. The
failures of one role are gathered and reported together (an exception the
app raises stops the role's run at once, with the request to reproduce it).
The password change is the slowest operation (each attempt verifies an
Argon2 hash).

The app under test is served in-process by Schemathesis's ASGI client, which
runs it (and its lifespan) on an event loop thread of its own; it shares the
database, the Temporal dev server and the task queue of the `api` fixture,
whose worker runs on the test's loop. Hence Hypothesis runs in a thread while
the test awaits it: the worker must go on answering the tickets' updates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, checks
from schemathesis.config._checks import PositiveDataAcceptanceConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.python.asgi import shutdown_lifespans

from api.app import create_app
from tests.api_fixtures import ApiEnv, Cast, cast_of

EXAMPLES = 3
ROLES = ("admin", "manager", "agent")


# The one rule of validation that JSON Schema cannot state: a range's min is
# at most its max (an alert rule's score or answer criterion).
NO_SCHEMA_CAN_STATE = re.compile(r"^Value error, min \(.*\) is greater than max \(.*\)$")


def validation_agrees_with_schema(ctx: checks.CheckContext, response: Response, case: Case) -> None:
    """A request the schema calls valid passes validation: FastAPI's 422 (a
    list of fields and why) never answers one, but for NO_SCHEMA_CAN_STATE.
    A 422 in words may: the API's refusals of valid input (an unknown segment,
    an owner who is not a manager of it: DESIGN.md's 422s), which
    positive_data_acceptance is told to expect below, since no schema can say
    which segments exist."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 422:
        return
    detail = response.json().get("detail")
    if isinstance(detail, list) and not all(NO_SCHEMA_CAN_STATE.match(str(e.get("msg"))) for e in detail):
        raise AssertionError(f"valid by the schema, refused by validation: {detail}")


checks.load_all_checks()
# Every check Schemathesis has, and the one above. Three of them judge what no
# single request shows, and run here for what they can see:
# - use_after_free and ensure_resource_availability judge a stateful sequence
#   (created, then used; deleted, then gone), which Schemathesis builds from
#   the schema's links in its stateful phase; this test sends operations one
#   by one, so they never find a parent case and pass. The lifecycle they
#   would check is tests/test_api_*.py's (create, read, delete, 404 after).
# - object_level_authorization replays a read as the other identities of a
#   Web Fuzzing Commons auth document. The roles here send their own tokens
#   instead, and what each may reach is checked by aiming every role at a
#   ticket of its own and, for the others, by tests/test_access.py.
EVERY_CHECK = [*checks.CHECKS.get_all(), validation_agrees_with_schema]
# The coverage phase's requests: every method a path does not serve and every
# missing header, and one request of each other kind per operation and
# parameter (about 700 of some 4,000, most of those a body's fields each of the
# wrong type in turn): bounded.
EVERY_COVERAGE_CASE_OF = ("unspecified_http_method", "missing_parameter")

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
    # Valid input may be refused in words (422, see validation_agrees_with_schema).
    defaults = schema.config.checks.positive_data_acceptance.expected_statuses
    schema.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=[*defaults, "422"]
    )
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
        if case.operation.label == "POST /api/tickets":
            case.body.pop("owner", None)
            case.body.update(workspace_id=self.workspace, segment=self.segment)
        elif case.operation.label == "PATCH /api/tickets/{ticket_id}":
            # A change of status or priority only; the rest is fuzzed elsewhere.
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

    def send(self, case: Case) -> None:
        # A request made invalid in its headers (the bearer token left out or
        # mangled: the only header the schema declares) goes as made.
        headers = {} if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER) else self.headers
        response = case.call(headers=headers)
        self.calls += 1
        self.statuses.setdefault(case.operation.label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=EVERY_CHECK, headers=headers)
        except FailureGroup as failed:
            mode = case.meta.generation.mode.value if case.meta else ""
            self.failures.append(f"{mode} {case.operation.label}: {failed}")
        except AssertionError as failed:
            self.failures.append(f"{case.operation.label}: {failed}\n{case.as_curl_command()}")

    def cover(self, operation: APIOperation) -> None:
        """Send the coverage phase's requests of one operation (bounded: see
        EVERY_COVERAGE_CASE_OF); note what fails."""
        schema = operation.schema
        config = schema.config.generation_for(operation=operation, phase="coverage")
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        sent: set[tuple[str, ...]] = set()
        for case in schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config):
            data = case.meta.phase.data
            scenario = data.scenario.value
            # One of each kind per parameter: `from=0` as well as `limit=0.5`.
            kind = (scenario, case.meta.generation.mode.value, str(data.parameter_location), str(data.parameter))
            if scenario in EVERY_COVERAGE_CASE_OF or kind not in sent:
                sent.add(kind)
                self.send(case)

    def fuzz(self, operation: APIOperation, mode: GenerationMode) -> None:
        """Send EXAMPLES generated requests of one operation; note what fails."""

        @settings(
            max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )
        @given(case=self.strategy(operation, mode))
        def send(case: Case) -> None:
            self.send(case)

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

    # Bounded (about 1,000 requests on SQLite, 500 on PostgreSQL): what is
    # about input, not reach, is sent by the admin alone: the invalid requests,
    # and the coverage phase's on one database (its cases test the schema and
    # validation, which do not depend on the database).
    about_input = role == "admin"

    def fuzz_every_operation() -> None:
        for operation in operations:
            if about_input and api.database == "sqlite":
                caller.cover(operation)
            caller.fuzz(operation, GenerationMode.POSITIVE)
            if about_input and has_input(operation):
                caller.fuzz(operation, GenerationMode.NEGATIVE)

    await asyncio.to_thread(fuzz_every_operation)
    assert set(caller.statuses) == {operation.label for operation in operations}
    assert not caller.failures, f"{len(caller.failures)} of {caller.calls} requests:\n\n" + "\n\n".join(
        caller.failures
    )
    never_answered = [label for label in READS_IN_REACH if not any(c < 300 for c in caller.statuses[label])]
    assert not never_answered, f"no success, so no real ticket checked: {never_answered}"
