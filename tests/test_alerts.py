"""Action-alert rules: which survey responses need a human (domain.alerts).

Rules are written as the API receives them (JSON-shaped dicts), so these tests
also pin the shape clients send.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

with workflow.unsafe.imports_passed_through():
    # The sandbox re-imports this module for its workflow: everything else
    # comes from the host.
    from tests.conftest import execute_in_sandbox
    from domain.alerts import (
        AlertDecision,
        AlertRule,
        CreateTicket,
        DoNothing,
        Notify,
        detractor_rule,
        evaluate,
    )
    from domain.assignment import AssignmentMode, Candidate, choose_owner
    from domain.responses import Answer, MappedResponse, SurveyResponse
    from domain.ticket import Priority, ticket_id_for_response

SUBMITTED = datetime(2026, 3, 2, 9, 30, tzinfo=timezone.utc)
TICKET = {"type": "create_ticket", "priority": "high"}


def response(
    answers: dict[str, Any] | None = None,
    hidden: dict[str, str] | None = None,
    survey_id: str = "nps-delivery",
    response_id: str = "resp-1",
) -> SurveyResponse:
    return SurveyResponse(
        survey_id=survey_id,
        response_id=response_id,
        submitted_at=SUBMITTED,
        answers=[Answer(key=key, type="text", value=value) for key, value in (answers or {}).items()],
        hidden=hidden or {},
    )


def rule(*criteria: dict, **fields: Any) -> AlertRule:
    return AlertRule.model_validate(
        {"id": "r", "name": "Rule", "criteria": list(criteria), "when_met": [TICKET]} | fields
    )


def check(criterion: dict, answers: dict[str, Any] | None = None, **mapped: Any) -> tuple[bool, str]:
    """Whether one criterion holds for a response, and the reason given."""
    outcome = evaluate([rule(criterion)], response(answers), MappedResponse(**mapped)).outcomes[0]
    return outcome.met, outcome.reason


# --- score ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "score", "met"),
    [
        ({"min": 0, "max": 6}, 0, True),
        ({"min": 0, "max": 6}, 6, True),
        ({"min": 0, "max": 6}, 7, False),
        ({"min": 7, "max": 8}, 6, False),
        ({"min": 7, "max": 8}, 8, True),
        ({"min": 9}, 9, True),
        ({"min": 9}, 10, True),
        ({"min": 9}, 8, False),
        ({"max": 3}, 0, True),
        ({"max": 3}, 4, False),
        ({"min": 5, "max": 5}, 5, True),
    ],
)
def test_score_range_is_inclusive_and_either_bound_optional(bounds: dict, score: int, met: bool) -> None:
    assert check({"on": "score"} | bounds, score=score)[0] is met


def test_score_criterion_reasons() -> None:
    assert check({"on": "score", "min": 0, "max": 6}, score=3) == (True, "score 3 in 0-6")
    assert check({"on": "score", "min": 0, "max": 6}, score=8) == (False, "score 8 not in 0-6")
    assert check({"on": "score", "min": 9}, score=10) == (True, "score 10 in 9 or more")
    assert check({"on": "score", "max": 6}, score=7) == (False, "score 7 not in 6 or less")


def test_a_response_without_score_never_matches_a_score_criterion() -> None:
    assert check({"on": "score", "min": 0, "max": 10}) == (False, "no score (wanted 0-10)")


# --- answers: equals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "value", "met"),
    [
        pytest.param("Pro", "Pro", True, id="same-text"),
        pytest.param("Pro", "pro", True, id="case-ignored"),
        pytest.param("  Pro ", "pro", True, id="whitespace-ignored"),
        pytest.param("Pro", "Team", False, id="other-text"),
        pytest.param("Pro plan", "Pro", False, id="equals-is-not-contains"),
        pytest.param(7, 7, True, id="number"),
        pytest.param("7", 7, True, id="numeric-text-answer"),
        pytest.param(7, "7", True, id="numeric-text-value"),
        pytest.param("7.0", 7, True, id="numeric-text-decimal"),
        pytest.param(7.5, 7, False, id="other-number"),
        pytest.param(True, True, True, id="boolean"),
        pytest.param(False, True, False, id="other-boolean"),
        pytest.param(True, "true", True, id="boolean-as-text"),
        pytest.param(True, 1, False, id="boolean-is-not-a-number"),
        pytest.param(["Pro"], "pro", True, id="one-choice-list"),
        pytest.param(["Pro", "Team"], "pro", False, id="several-choices-is-not-one"),
    ],
)
def test_answer_equals(answer: Any, value: Any, met: bool) -> None:
    assert check({"on": "answer", "key": "plan", "op": "equals", "value": value}, {"plan": answer})[0] is met


def test_answer_equals_reasons() -> None:
    criterion = {"on": "answer", "key": "plan", "op": "equals", "value": "pro"}
    assert check(criterion, {"plan": "Pro"}) == (True, "plan is 'Pro'")
    assert check(criterion, {"plan": "Team"}) == (False, "plan is 'Team', not 'pro'")


def test_answer_criteria_read_hidden_fields() -> None:
    criterion = {"on": "answer", "key": "hidden:tier", "op": "equals", "value": "gold"}
    decision = evaluate([rule(criterion)], response(hidden={"tier": "Gold"}), MappedResponse())
    assert decision.outcomes[0].met
    decision = evaluate([rule(criterion)], response(hidden={"tier": "silver"}), MappedResponse())
    assert not decision.outcomes[0].met


# --- answers: contains ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "value", "met"),
    [
        pytest.param("The courier was LATE again", "late", True, id="substring-case-ignored"),
        pytest.param("on time", "late", False, id="absent-substring"),
        pytest.param(["SSO", "API access"], "sso", True, id="list-has-the-choice"),
        pytest.param(["SSO", "API access"], "API", False, id="list-membership-not-substring"),
        pytest.param(["SSO"], "audit log", False, id="list-lacks-the-choice"),
        pytest.param([1, 2, 3], "2", True, id="list-of-numbers-numeric-text"),
        pytest.param(1200, "20", True, id="number-as-text"),
    ],
)
def test_answer_contains(answer: Any, value: Any, met: bool) -> None:
    assert check({"on": "answer", "key": "q", "op": "contains", "value": value}, {"q": answer})[0] is met


def test_answer_contains_reasons() -> None:
    criterion = {"on": "answer", "key": "features", "op": "contains", "value": "SSO"}
    assert check(criterion, {"features": ["sso", "API"]}) == (True, "features ['sso', 'API'] contains 'SSO'")
    assert check(criterion, {"features": ["API"]}) == (False, "features ['API'] does not contain 'SSO'")


# --- answers: in ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "values", "met"),
    [
        pytest.param("Team", ["pro", "team"], True, id="one-of-them"),
        pytest.param("Free", ["pro", "team"], False, id="none-of-them"),
        pytest.param("3", [3, 4], True, id="numeric-text-in-numbers"),
        pytest.param(4.0, ["4"], True, id="number-in-numeric-text"),
        pytest.param(["Free", "Team"], ["pro", "team"], True, id="list-any-choice"),
        pytest.param(["Free", "Basic"], ["pro", "team"], False, id="list-no-choice"),
    ],
)
def test_answer_in(answer: Any, values: list, met: bool) -> None:
    assert check({"on": "answer", "key": "plan", "op": "in", "values": values}, {"plan": answer})[0] is met


def test_answer_in_reason() -> None:
    criterion = {"on": "answer", "key": "plan", "op": "in", "values": ["pro", "team"]}
    assert check(criterion, {"plan": "Free"}) == (False, "plan 'Free' not in ['pro', 'team']")


# --- answers: range -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "bounds", "met"),
    [
        pytest.param(25, {"min": 18, "max": 30}, True, id="inside"),
        pytest.param(18, {"min": 18, "max": 30}, True, id="min-inclusive"),
        pytest.param(30, {"min": 18, "max": 30}, True, id="max-inclusive"),
        pytest.param(31, {"min": 18, "max": 30}, False, id="above"),
        pytest.param(" 25 ", {"min": 18, "max": 30}, True, id="numeric-text"),
        pytest.param("2.5", {"max": 2.5}, True, id="decimal-text"),
        pytest.param("2.51", {"max": 2.5}, False, id="decimal-text-above"),
        pytest.param(-3, {"min": -5, "max": -1}, True, id="negative"),
        pytest.param(1000, {"min": 100}, True, id="min-only"),
        pytest.param(99, {"min": 100}, False, id="below-min-only"),
        pytest.param("n/a", {"min": 0}, False, id="text-is-not-a-number"),
        pytest.param(True, {"min": 0}, False, id="boolean-is-not-a-number"),
        pytest.param([20], {"min": 0}, False, id="list-is-not-a-number"),
        pytest.param("nan", {"min": 0}, False, id="nan-is-not-a-number"),
    ],
)
def test_answer_range(answer: Any, bounds: dict, met: bool) -> None:
    assert check({"on": "answer", "key": "age", "op": "range"} | bounds, {"age": answer})[0] is met


def test_answer_range_reasons() -> None:
    criterion = {"on": "answer", "key": "age", "op": "range", "min": 18, "max": 30}
    assert check(criterion, {"age": "25"}) == (True, "age '25' in 18-30")
    assert check(criterion, {"age": 40}) == (False, "age 40 not in 18-30")
    assert check(criterion, {"age": "n/a"}) == (False, "age 'n/a' is not a number (wanted 18-30)")
    negative = {"on": "answer", "key": "delta", "op": "range", "min": -5, "max": -1.5}
    assert check(negative, {"delta": -2}) == (True, "delta -2 in -5 to -1.5")


# --- answers: missing and is_empty ----------------------------------------------------------------

MISSING = [
    pytest.param({}, id="not-in-response"),
    pytest.param({"q": None}, id="null"),
    pytest.param({"q": ""}, id="empty-text"),
    pytest.param({"q": "   "}, id="blank-text"),
    pytest.param({"q": []}, id="no-choice"),
]
EVERY_OPERATOR = [
    {"op": "equals", "value": "x"},
    {"op": "contains", "value": "x"},
    {"op": "in", "values": ["x", "y"]},
    {"op": "range", "min": -1000000},
]


@pytest.mark.parametrize("answers", MISSING)
@pytest.mark.parametrize("operator", EVERY_OPERATOR, ids=lambda operator: operator["op"])
def test_a_missing_answer_never_matches(answers: dict, operator: dict) -> None:
    met, reason = check({"on": "answer", "key": "q"} | operator, answers)
    assert (met, reason) == (False, "q not answered")


@pytest.mark.parametrize("answers", MISSING)
def test_is_empty_matches_a_missing_answer(answers: dict) -> None:
    assert check({"on": "answer", "key": "q", "op": "is_empty"}, answers) == (True, "q not answered")


@pytest.mark.parametrize("answer", ["no", 0, False, ["x"]])
def test_is_empty_does_not_match_an_answer(answer: Any) -> None:
    assert check({"on": "answer", "key": "q", "op": "is_empty"}, {"q": answer}) == (False, "q answered")


# --- segment and comment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criterion", "segment", "met"),
    [
        ({"op": "equals", "value": "retail"}, "retail", True),
        ({"op": "equals", "value": "retail"}, "Retail ", True),
        ({"op": "equals", "value": "retail"}, "b2b", False),
        ({"op": "equals", "value": "retail"}, None, False),
        ({"op": "in", "values": ["retail", "b2b"]}, "B2B", True),
        ({"op": "in", "values": ["retail", "b2b"]}, "public", False),
        ({"op": "in", "values": ["retail", "b2b"]}, None, False),
    ],
)
def test_segment_criterion(criterion: dict, segment: str | None, met: bool) -> None:
    assert check({"on": "segment"} | criterion, segment=segment)[0] is met


def test_segment_criterion_reasons() -> None:
    assert check({"on": "segment", "op": "equals", "value": "retail"}, segment="b2b") == (
        False,
        "segment is 'b2b', not 'retail'",
    )
    assert check({"on": "segment", "op": "in", "values": ["retail", "b2b"]}, segment="b2b") == (
        True,
        "segment 'b2b' in ['retail', 'b2b']",
    )
    assert check({"on": "segment", "op": "equals", "value": "retail"}) == (
        False,
        "no segment (wanted 'retail')",
    )


@pytest.mark.parametrize(
    ("criterion", "comment", "met"),
    [
        ({"op": "contains", "value": "refund"}, "I want a REFUND now", True),
        ({"op": "contains", "value": "refund"}, "all good", False),
        ({"op": "contains", "value": "refund"}, None, False),
        ({"op": "contains", "value": "refund"}, "   ", False),
        ({"op": "any", "values": ["cancel", "lawyer"]}, "Cancel my subscription", True),
        ({"op": "any", "values": ["cancel", "lawyer"]}, "my LAWYER will call", True),
        ({"op": "any", "values": ["cancel", "lawyer"]}, "thanks", False),
        ({"op": "any", "values": ["cancel", "lawyer"]}, None, False),
    ],
)
def test_comment_criterion(criterion: dict, comment: str | None, met: bool) -> None:
    assert check({"on": "comment"} | criterion, comment=comment)[0] is met


def test_comment_criterion_reasons() -> None:
    keywords = {"on": "comment", "op": "any", "values": ["cancel", "lawyer", "refund"]}
    assert check(keywords, comment="Refund or I cancel") == (True, "comment contains 'cancel', 'refund'")
    assert check(keywords, comment="thanks") == (
        False,
        "comment contains none of 'cancel', 'lawyer', 'refund'",
    )
    assert check(keywords) == (False, "no comment (wanted 'cancel', 'lawyer', 'refund')")
    assert check({"on": "comment", "op": "contains", "value": "late"}, comment="ok") == (
        False,
        "comment lacks 'late'",
    )


def test_long_answers_are_shortened_in_reasons() -> None:
    criterion = {"on": "answer", "key": "why", "op": "contains", "value": "late"}
    met, reason = check(criterion, {"why": "The parcel came late " + "and broken " * 20})
    assert met
    # 59 characters of the answer and an ellipsis.
    assert reason == "why 'The parcel came late and broken and broken and broken and b…' contains 'late'"


# --- criteria together ----------------------------------------------------------------------------


def test_every_criterion_must_hold_and_the_reason_names_each() -> None:
    vip_detractor = rule(
        {"on": "score", "max": 6},
        {"on": "segment", "op": "equals", "value": "vip"},
        {"on": "answer", "key": "plan", "op": "in", "values": ["pro", "team"]},
    )
    answers = {"plan": "Pro"}
    met = evaluate([vip_detractor], response(answers), MappedResponse(score=2, segment="vip")).outcomes[0]
    assert met.met
    assert met.reason == "score 2 in 6 or less and segment is 'vip' and plan 'Pro' in ['pro', 'team']"
    # The reason for not meeting names only what failed.
    retail = MappedResponse(score=2, segment="retail")
    missed = evaluate([vip_detractor], response(answers), retail).outcomes[0]
    assert not missed.met
    assert missed.reason == "segment is 'retail', not 'vip'"
    both = evaluate([vip_detractor], response({}), MappedResponse(score=9, segment="vip")).outcomes[0]
    assert both.reason == "score 9 not in 6 or less and plan not answered"


def test_a_rule_without_criteria_is_always_met() -> None:
    everyone = rule(when_met=[{"type": "notify", "recipients": ["cx-lead"]}])
    outcome = evaluate([everyone], response(), MappedResponse()).outcomes[0]
    assert (outcome.met, outcome.reason) == (True, "always met (no criteria)")


# --- validation: bad rules are refused with a reason ----------------------------------------------


# bad criterion -> what the refusal says
BAD_CRITERIA: dict[str, tuple[dict, str]] = {
    "score-no-bounds": ({"on": "score"}, "'score' needs `min`, `max` or both"),
    "score-min-gt-max": ({"on": "score", "min": 7, "max": 3}, "min (7) is greater than max (3)"),
    "score-above-10": ({"on": "score", "max": 11}, "less than or equal to 10"),
    "score-below-0": ({"on": "score", "min": -1}, "greater than or equal to 0"),
    "misspelt-field": ({"on": "score", "mni": 1}, "Extra inputs are not permitted"),
    "unknown-subject": ({"on": "nps"}, "does not match any of the expected tags"),
    "no-subject": ({"key": "q", "op": "equals", "value": "x"}, "Unable to extract tag using discriminator"),
    "answer-no-key": ({"on": "answer", "op": "equals", "value": "x"}, "answer.key\n  Field required"),
    "blank-key": ({"on": "answer", "key": " ", "op": "equals", "value": "x"}, "at least 1 character"),
    "unknown-op": (
        {"on": "answer", "key": "q", "op": "like", "value": "x"},
        "'equals', 'contains', 'in', 'range' or 'is_empty'",
    ),
    "equals-no-value": ({"on": "answer", "key": "q", "op": "equals"}, "'equals' needs `value`"),
    "equals-blank": ({"on": "answer", "key": "q", "op": "equals", "value": "  "}, "at least 1 character"),
    "equals-values": (
        {"on": "answer", "key": "q", "op": "equals", "values": ["x"]},
        "'equals' takes value, not values",
    ),
    "contains-min": (
        {"on": "answer", "key": "q", "op": "contains", "value": "x", "min": 1},
        "'contains' takes value, not min",
    ),
    "in-no-values": ({"on": "answer", "key": "q", "op": "in"}, "'in' needs `values`"),
    "in-empty-list": ({"on": "answer", "key": "q", "op": "in", "values": []}, "at least 1 item"),
    "in-not-a-list": ({"on": "answer", "key": "q", "op": "in", "values": "pro"}, "valid list"),
    "in-value": ({"on": "answer", "key": "q", "op": "in", "value": "pro"}, "'in' takes values, not value"),
    "range-no-bounds": ({"on": "answer", "key": "q", "op": "range"}, "'range' needs `min`, `max` or both"),
    "range-min-gt-max": (
        {"on": "answer", "key": "q", "op": "range", "min": 5, "max": 1},
        "min (5) is greater than max (1)",
    ),
    "range-not-a-number": ({"on": "answer", "key": "q", "op": "range", "min": "lots"}, "valid number"),
    "range-value": (
        {"on": "answer", "key": "q", "op": "range", "value": 3},
        "'range' takes min or max, not value",
    ),
    "is-empty-value": (
        {"on": "answer", "key": "q", "op": "is_empty", "value": "x"},
        "'is_empty' takes no operand, not value",
    ),
    "segment-no-value": ({"on": "segment", "op": "equals"}, "'equals' needs `value`"),
    "segment-contains": ({"on": "segment", "op": "contains", "value": "re"}, "'equals' or 'in'"),
    "segment-in-empty": ({"on": "segment", "op": "in", "values": []}, "at least 1 item"),
    "comment-any-empty": ({"on": "comment", "op": "any", "values": []}, "at least 1 item"),
    "comment-any-value": ({"on": "comment", "op": "any", "value": "refund"}, "'any' takes values, not value"),
    "comment-contains-empty": ({"on": "comment", "op": "contains", "value": ""}, "at least 1 character"),
}


@pytest.mark.parametrize(("criterion", "error"), BAD_CRITERIA.values(), ids=BAD_CRITERIA.keys())
def test_bad_criteria_are_refused(criterion: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(error)) as refused:
        rule(criterion)
    # The error points at the criterion, as the API's 422 will.
    assert all(problem["loc"][:2] == ("criteria", 0) for problem in refused.value.errors())


# bad rule fields -> what the refusal says
BAD_RULES: dict[str, tuple[dict, str]] = {
    "unknown-action": ({"when_met": [{"type": "escalate"}]}, "does not match any of the expected tags"),
    "bad-priority": (
        {"when_met": [{"type": "create_ticket", "priority": "urgent"}]},
        "'low', 'medium', 'high' or 'critical'",
    ),
    "notify-nobody": ({"when_met": [{"type": "notify", "recipients": []}]}, "at least 1 item"),
    "notify-no-recipients": ({"when_met": [{"type": "notify"}]}, "recipients"),
    "bad-username": (
        {"when_met": [{"type": "notify", "recipients": ["ann smith"]}]},
        "neither a username nor an email",
    ),
    "bad-email": ({"when_met": [{"type": "notify", "recipients": ["ann@example"]}]}, "not an email address"),
    "nothing-and-ticket": ({"when_met": [TICKET, {"type": "nothing"}]}, "'nothing' cannot be combined"),
    "two-tickets": ({"when_not_met": [TICKET, TICKET]}, "when_not_met: at most one create_ticket"),
    "empty-id": ({"id": ""}, "at least 1 character"),
    "blank-name": ({"name": "  "}, "at least 1 character"),
    "bad-enabled": ({"enabled": "maybe"}, "valid boolean"),
    "unknown-field": ({"priority": "high"}, "Extra inputs are not permitted"),
}


@pytest.mark.parametrize(("fields", "error"), BAD_RULES.values(), ids=BAD_RULES.keys())
def test_bad_rules_are_refused(fields: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(error)):
        rule(**fields)


def test_a_rule_survives_a_round_trip_through_json() -> None:
    original = rule(
        {"on": "score", "min": 0, "max": 6},
        {"on": "answer", "key": "plan", "op": "in", "values": ["pro", 3, True]},
        {"on": "answer", "key": "age", "op": "range", "min": 18.5},
        {"on": "comment", "op": "any", "values": ["refund"]},
        when_met=[
            {"type": "create_ticket", "priority": "critical", "segment": "vip", "owner": "ann"},
            {"type": "notify", "recipients": ["ann", "lead@example.com"], "message": "VIP detractor"},
        ],
        when_not_met=[{"type": "nothing"}],
    )
    again = AlertRule.model_validate_json(original.model_dump_json())
    assert again == original
    assert again.criteria[1].values == ["pro", 3, True]  # type: ignore[union-attr]
    assert isinstance(again.when_not_met[0], DoNothing)


# --- actions --------------------------------------------------------------------------------------


def test_met_and_not_met_apply_their_own_actions() -> None:
    promoters = rule(
        {"on": "score", "min": 9},
        when_met=[{"type": "notify", "recipients": ["marketing"], "message": "ask for a review"}],
        when_not_met=[{"type": "create_ticket", "priority": "low"}],
    )
    promoter = evaluate([promoters], response(), MappedResponse(score=10))
    assert promoter.outcomes[0].met
    assert promoter.outcomes[0].actions == [Notify(recipients=["marketing"], message="ask for a review")]
    assert promoter.ticket is None
    assert [(n.recipient, n.message) for n in promoter.notifications] == [("marketing", "ask for a review")]

    passive = evaluate([promoters], response(), MappedResponse(score=8))
    assert not passive.outcomes[0].met
    assert passive.outcomes[0].actions == [CreateTicket(priority=Priority.LOW)]
    assert passive.ticket is not None and passive.ticket.priority is Priority.LOW
    assert passive.notifications == []


def test_a_met_rule_without_actions_does_nothing() -> None:
    decision = evaluate([rule(when_met=[])], response(), MappedResponse(score=0))
    assert decision.outcomes[0].met and decision.outcomes[0].actions == []
    assert decision.ticket is None and decision.notifications == []


def test_disabled_rules_are_ignored() -> None:
    off = rule(id="off", enabled=False, when_met=[{"type": "create_ticket", "priority": "critical"},
                                                  {"type": "notify", "recipients": ["ann"]}])
    on = rule({"on": "score", "max": 6}, id="on", when_met=[{"type": "create_ticket", "priority": "low"}])
    decision = evaluate([off, on], response(), MappedResponse(score=3))
    assert [outcome.rule_id for outcome in decision.outcomes] == ["on"]
    assert decision.ticket is not None
    assert (decision.ticket.priority, decision.ticket.rule_ids) == (Priority.LOW, ["on"])
    assert decision.notifications == []
    assert evaluate([off], response(), MappedResponse(score=3)) == AlertDecision(outcomes=[])


def test_no_rules_no_ticket() -> None:
    assert evaluate([], response(), MappedResponse(score=0)) == AlertDecision(outcomes=[])


# --- merging several rules ------------------------------------------------------------------------


def test_several_rules_make_one_ticket_with_the_highest_priority_and_first_overrides() -> None:
    rules = [
        rule({"on": "score", "max": 6}, id="detractor", name="Detractors",
             when_met=[{"type": "create_ticket", "priority": "medium"}]),
        rule({"on": "comment", "op": "contains", "value": "lawyer"}, id="legal", name="Legal threat",
             when_met=[{"type": "create_ticket", "priority": "critical", "owner": "legal-desk"}]),
        rule({"on": "segment", "op": "equals", "value": "retail"}, id="vip", name="VIP",
             when_met=[{"type": "create_ticket", "priority": "high", "segment": "vip", "owner": "ann"}]),
        rule({"on": "segment", "op": "equals", "value": "b2b"}, id="b2b", name="B2B",
             when_met=[{"type": "create_ticket", "priority": "critical", "segment": "b2b"}]),
        rule(id="late", name="Late",
             when_met=[{"type": "create_ticket", "priority": "low", "segment": "ops"}]),
    ]
    answers = response(survey_id="nps-delivery", response_id="resp-42")
    mapped = MappedResponse(score=2, comment="My lawyer will hear of this", segment="retail")
    decision = evaluate(rules, answers, mapped)

    assert [outcome.met for outcome in decision.outcomes] == [True, True, True, False, True]
    ticket = decision.ticket
    assert ticket is not None
    assert ticket.ticket_id == ticket_id_for_response("nps-delivery", "resp-42")
    assert ticket.priority is Priority.CRITICAL
    assert ticket.segment == "vip"  # the first rule that routed it; "ops" came later
    assert ticket.owner == "legal-desk"  # the first rule that named an owner; "ann" came later
    assert ticket.rule_ids == ["detractor", "legal", "vip", "late"]
    assert ticket.reason == (
        "Detractors: score 2 in 6 or less; Legal threat: comment contains 'lawyer'; "
        "VIP: segment is 'retail'; Late: always met (no criteria)"
    )


def test_priority_never_drops_when_a_later_rule_asks_for_less() -> None:
    rules = [
        rule(id="a", when_met=[{"type": "create_ticket", "priority": "high"}]),
        rule(id="b", when_met=[{"type": "create_ticket", "priority": "low"}]),
    ]
    decision = evaluate(rules, response(), MappedResponse())
    assert decision.ticket is not None and decision.ticket.priority is Priority.HIGH
    assert decision.ticket.segment is None and decision.ticket.owner is None


def test_the_ticket_id_derives_from_the_response() -> None:
    first = evaluate([detractor_rule()], response(response_id="resp-1"), MappedResponse(score=1))
    again = evaluate([detractor_rule()], response(response_id="resp-1"), MappedResponse(score=1))
    other = evaluate([detractor_rule()], response(response_id="resp-2"), MappedResponse(score=1))
    assert first.ticket and again.ticket and other.ticket
    assert first.ticket.ticket_id == ticket_id_for_response("nps-delivery", "resp-1")
    assert again.ticket.ticket_id == first.ticket.ticket_id
    assert other.ticket.ticket_id != first.ticket.ticket_id


def test_each_recipient_is_notified_once_for_the_first_rule_that_asked() -> None:
    rules = [
        rule(id="detractor", name="Detractors", when_met=[
            {"type": "notify", "recipients": ["ann", "Lead@Example.com", "ann"], "message": "detractor"},
        ]),
        rule({"on": "score", "min": 9}, id="never", name="Never met",
             when_met=[{"type": "notify", "recipients": ["zed"]}]),
        rule(id="legal", name="Legal", when_met=[
            {"type": "notify", "recipients": ["lead@example.com", "bob"]},
            {"type": "notify", "recipients": ["ANN", "cal@example.com"], "message": "again"},
        ]),
    ]
    decision = evaluate(rules, response(), MappedResponse(score=2))
    assert decision.ticket is None
    assert [(n.recipient, n.rule_id, n.rule_name, n.message) for n in decision.notifications] == [
        ("ann", "detractor", "Detractors", "detractor"),
        ("Lead@Example.com", "detractor", "Detractors", "detractor"),
        ("bob", "legal", "Legal", None),
        ("cal@example.com", "legal", "Legal", "again"),
    ]


# --- the default rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("score", range(11))
def test_the_detractor_rule_tickets_scores_0_to_6_only(score: int) -> None:
    decision = evaluate([detractor_rule()], response(), MappedResponse(score=score))
    outcome = decision.outcomes[0]
    if score <= 6:
        assert outcome.met and outcome.reason == f"score {score} in 0-6"
        assert decision.ticket is not None
        assert decision.ticket.priority is Priority.HIGH
        assert (decision.ticket.segment, decision.ticket.owner) == (None, None)
        assert decision.ticket.rule_ids == ["detractor"]
        assert decision.ticket.reason == f"Detractors (score 0-6): score {score} in 0-6"
    else:
        assert not outcome.met and outcome.reason == f"score {score} not in 0-6"
        assert outcome.actions == [DoNothing()]
        assert decision.ticket is None
    assert decision.notifications == []


def test_the_detractor_rule_ignores_a_response_without_score() -> None:
    decision = evaluate([detractor_rule()], response(), MappedResponse(comment="no score given"))
    assert decision.ticket is None
    assert decision.outcomes[0].reason == "no score (wanted 0-6)"


def test_the_detractor_rule_is_stable() -> None:
    rule_ = detractor_rule()
    assert (rule_.id, rule_.name, rule_.enabled) == ("detractor", "Detractors (score 0-6)", True)
    assert detractor_rule() == rule_
    assert rule_.model_dump(mode="json") == {
        "id": "detractor",
        "name": "Detractors (score 0-6)",
        "enabled": True,
        "criteria": [{"on": "score", "min": 0, "max": 6}],
        "when_met": [{"type": "create_ticket", "priority": "high", "segment": None, "owner": None}],
        "when_not_met": [{"type": "nothing"}],
    }


# --- inside Temporal's workflow sandbox -----------------------------------------------------------


class IntakeRequest(BaseModel):
    rules: list[AlertRule]
    response: SurveyResponse
    mapped: MappedResponse
    mode: AssignmentMode
    managers: list[Candidate]
    previous_owner: str | None = None


class IntakeAnswer(BaseModel):
    decision: AlertDecision
    owner: str | None


@workflow.defn
class AlertIntakeWorkflow:
    """Decides a response's ticket and owner the way survey intake will."""

    @workflow.run
    async def run(self, request: IntakeRequest) -> IntakeAnswer:
        decision = evaluate(request.rules, request.response, request.mapped)
        owner = choose_owner(request.mode, request.managers, request.previous_owner)
        return IntakeAnswer(decision=decision, owner=owner)


async def test_runs_inside_the_workflow_sandbox(time_skipping_server: WorkflowEnvironment) -> None:
    """domain.alerts and domain.assignment are passed through (see the imports at
    the top), as workflows do for domain modules; the request goes as plain JSON,
    so the rules are validated inside the sandbox too."""
    request = {
        "rules": [
            detractor_rule().model_dump(mode="json"),
            {"id": "plan", "name": "Paying customers", "criteria": [
                {"on": "answer", "key": "plan", "op": "in", "values": ["pro", "team"]},
                {"on": "comment", "op": "any", "values": ["cancel"]},
            ], "when_met": [{"type": "create_ticket", "priority": "critical", "segment": "retention"},
                            {"type": "notify", "recipients": ["lead@example.com"]}]},
        ],
        "response": response({"plan": "Pro"}, response_id="resp-sandbox").model_dump(mode="json"),
        "mapped": {"score": 4, "comment": "I will CANCEL", "segment": "retail"},
        "mode": "round_robin",
        "managers": [{"username": "cal"}, {"username": "ann"}, {"username": "bob", "available": False}],
        "previous_owner": "ann",
    }
    answer = await execute_in_sandbox(time_skipping_server, AlertIntakeWorkflow, request, IntakeAnswer)

    ticket = answer.decision.ticket
    assert ticket is not None
    assert ticket.ticket_id == ticket_id_for_response("nps-delivery", "resp-sandbox")
    assert (ticket.priority, ticket.segment, ticket.owner) == (Priority.CRITICAL, "retention", None)
    assert ticket.rule_ids == ["detractor", "plan"]
    assert ticket.reason == (
        "Detractors (score 0-6): score 4 in 0-6; "
        "Paying customers: plan 'Pro' in ['pro', 'team'] and comment contains 'cancel'"
    )
    assert [n.recipient for n in answer.decision.notifications] == ["lead@example.com"]
    assert answer.owner == "cal"  # after ann comes bob, who is on leave
    # The same as deciding directly, outside the sandbox.
    parsed = IntakeRequest.model_validate(request)
    assert answer.decision == evaluate(parsed.rules, parsed.response, parsed.mapped)
    assert answer.owner == choose_owner(parsed.mode, parsed.managers, parsed.previous_owner)
