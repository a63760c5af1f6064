"""Action-alert rules: which survey responses need a human, and what happens then.

Each survey has named rules, evaluated in order. A rule's criteria must all hold
for it to be met (a rule without criteria is always met); it then applies its
`when_met` actions, otherwise its `when_not_met` ones. Actions create a ticket,
notify people, or do nothing. However many rules ask, a response makes at most
one ticket: its id derives from the response, so a webhook delivered twice also
makes one.

Matching rules, the same for every criterion:
- Text comparisons ignore case and surrounding whitespace.
- A missing answer (absent, null, blank text, empty list) never matches, except
  an `is_empty` criterion, which matches exactly that.
- Numbers compare as numbers whether the platform sent 7 or "7".

Every new CX survey starts with `detractor_rule()`: a score 0-6 creates a
high-priority ticket (DESIGN.md's default).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.responses import MappedResponse, SurveyResponse
from domain.ticket import Priority, ticket_id_for_response

# What the API's schema says of a rule's text, as patterns: no NUL (the read
# model refuses one; api/configuration/fields.storable_document says so in
# words) and, stripped, not blank. Stripping removes Unicode's White_Space
# (_TRIMMED); a username or email address has none of what Python's `\s` is.
_TRIMMED = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_SPACE = r"\t-\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_NO_NUL = r"^[^\x00]*$"
_NOT_BLANK = rf"^[^\x00]*[^\x00{_TRIMMED}][^\x00]*$"
_WORD = rf"[^@\x00{_SPACE}]+"
_RECIPIENT = rf"^[{_TRIMMED}]*({_WORD}|{_WORD}@{_WORD}\.{_WORD})[{_TRIMMED}]*$"

Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    Field(json_schema_extra={"pattern": _NOT_BLANK}),
]
# What an answer is compared with. "7" stays text and 7 a number, so a rule
# reads back as it was written; matching treats both as the number 7.
Scalar = Text | int | float | bool
Score = Annotated[int, Field(ge=0, le=10)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[^\s@]+$")

# --- criteria ---------------------------------------------------------------------------------------


class _Strict(BaseModel):
    # A misspelt field ("mni") is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        # A criterion's `on` and an action's `type` pick the model of a union
        # (its discriminator): they have defaults, but an item without one is
        # refused, so the schema requires them.
        documented = handler(schema)
        model_schema = handler.resolve_ref_schema(documented)
        tags = [name for name in ("on", "type") if name in cls.model_fields]
        if tags:
            model_schema["required"] = [*model_schema.get("required", []), *tags]
        if cls.OPERANDS:
            model_schema["anyOf"] = [_operands_of(op, *operands) for op, operands in cls.OPERANDS.items()]
        return documented

    # A criterion's operands by operator (None: the criterion has none): the
    # ones it takes, and those of which it needs one. What _check_operands and
    # _check_range refuse, said in the schema (but that min is at most max).
    OPERANDS: ClassVar[dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]]] = {}


_OPERAND_FIELDS = ("value", "values", "min", "max")
_NULL = {"type": "null"}


def _operands_of(op: str | None, takes: tuple[str, ...], needs_one_of: tuple[str, ...]) -> dict[str, Any]:
    branch: dict[str, Any] = {"properties": {name: _NULL for name in _OPERAND_FIELDS if name not in takes}}
    if op is not None:
        branch["properties"]["op"] = {"const": op}
        branch["required"] = ["op"]
    if needs_one_of:
        branch["anyOf"] = [
            {"required": [name], "properties": {name: {"not": _NULL}}} for name in needs_one_of
        ]
    return branch


def _given(model: BaseModel, *fields: str) -> list[str]:
    return [field for field in fields if getattr(model, field, None) is not None]


def _check_operands(model: BaseModel, op: str, needs: str | None, allowed: tuple[str, ...]) -> None:
    """Refuse operands the operator does not take, and a missing one it needs."""
    extra = [field for field in _given(model, "value", "values", "min", "max") if field not in allowed]
    if extra:
        raise ValueError(f"'{op}' takes {' or '.join(allowed) or 'no operand'}, not {', '.join(extra)}")
    if needs is not None and getattr(model, needs) is None:
        raise ValueError(f"'{op}' needs `{needs}`")


def _check_range(minimum: float | None, maximum: float | None, op: str) -> None:
    if minimum is None and maximum is None:
        raise ValueError(f"'{op}' needs `min`, `max` or both")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValueError(f"min ({_show(minimum)}) is greater than max ({_show(maximum)})")


class ScoreCriterion(_Strict):
    """The NPS score lies in [min, max], both inclusive, either bound optional."""

    on: Literal["score"] = "score"
    min: Score | None = None
    max: Score | None = None
    OPERANDS = {None: (("min", "max"), ("min", "max"))}

    @model_validator(mode="after")
    def _bounds(self) -> ScoreCriterion:
        _check_range(self.min, self.max, "score")
        return self

    def check(self, response: SurveyResponse, mapped: MappedResponse) -> tuple[bool, str]:
        score, wanted = mapped.score, _show_range(self.min, self.max)
        if score is None:
            return False, f"no score (wanted {wanted})"
        met = (self.min is None or score >= self.min) and (self.max is None or score <= self.max)
        return met, f"score {score} {'in' if met else 'not in'} {wanted}"


class AnswerCriterion(_Strict):
    """An answer, by its question key (or `hidden:<name>` for a hidden field).

    - `equals` `value`: the answer is the value. A multi-choice answer equals a
      value when it is that one choice alone.
    - `contains` `value`: text containing it; a multi-choice answer (a list)
      containing it as one of its choices.
    - `in` `values`: the answer is one of them; for a multi-choice answer, any
      of its choices is.
    - `range` `min`/`max`: a number (or numeric text) within, both inclusive.
    - `is_empty`: the question was not answered.
    """

    on: Literal["answer"] = "answer"
    key: Text
    op: Literal["equals", "contains", "in", "range", "is_empty"]
    value: Scalar | None = None
    values: Annotated[list[Scalar], Field(min_length=1)] | None = None
    min: float | None = None
    max: float | None = None
    OPERANDS = {
        "equals": (("value",), ("value",)),
        "contains": (("value",), ("value",)),
        "in": (("values",), ("values",)),
        "range": (("min", "max"), ("min", "max")),
        "is_empty": ((), ()),
    }

    @model_validator(mode="after")
    def _operands(self) -> AnswerCriterion:
        if self.op in ("equals", "contains"):
            _check_operands(self, self.op, "value", ("value",))
        elif self.op == "in":
            _check_operands(self, self.op, "values", ("values",))
        elif self.op == "range":
            _check_operands(self, self.op, None, ("min", "max"))
            for bound in _given(self, "min", "max"):
                if not math.isfinite(getattr(self, bound)):
                    raise ValueError(f"`{bound}` must be a finite number")
            _check_range(self.min, self.max, "range")
        else:
            _check_operands(self, self.op, None, ())
        return self

    def check(self, response: SurveyResponse, mapped: MappedResponse) -> tuple[bool, str]:
        answer, key = response.value_of(self.key), self.key
        if self.op == "is_empty":
            return (True, f"{key} not answered") if _is_empty(answer) else (False, f"{key} answered")
        if _is_empty(answer):
            return False, f"{key} not answered"
        shown = _show(answer)
        if self.op == "range":
            number, wanted = _number(answer), _show_range(self.min, self.max)
            if number is None:
                return False, f"{key} {shown} is not a number (wanted {wanted})"
            met = (self.min is None or number >= self.min) and (self.max is None or number <= self.max)
            return met, f"{key} {shown} {'in' if met else 'not in'} {wanted}"
        if self.op == "in":
            choices = answer if isinstance(answer, list) else [answer]
            met = any(_same(choice, value) for choice in choices for value in self.values or [])
            return met, f"{key} {shown} {'in' if met else 'not in'} {_show(self.values)}"
        if self.op == "contains":
            if isinstance(answer, list):
                met = any(_same(choice, self.value) for choice in answer)
            else:
                met = _normal_text(self.value) in _normal_text(answer)
            return met, f"{key} {shown} {'contains' if met else 'does not contain'} {_show(self.value)}"
        if isinstance(answer, list):
            met = len(answer) == 1 and _same(answer[0], self.value)
        else:
            met = _same(answer, self.value)
        return met, f"{key} is {shown}" if met else f"{key} is {shown}, not {_show(self.value)}"


class SegmentCriterion(_Strict):
    """The response's segment `equals` `value`, or is `in` `values`."""

    on: Literal["segment"] = "segment"
    op: Literal["equals", "in"]
    value: Text | None = None
    values: Annotated[list[Text], Field(min_length=1)] | None = None
    OPERANDS = {"equals": (("value",), ("value",)), "in": (("values",), ("values",))}

    @model_validator(mode="after")
    def _operands(self) -> SegmentCriterion:
        needs = "value" if self.op == "equals" else "values"
        _check_operands(self, self.op, needs, (needs,))
        return self

    def check(self, response: SurveyResponse, mapped: MappedResponse) -> tuple[bool, str]:
        segment = mapped.segment
        if self.op == "equals":
            if _is_empty(segment):
                return False, f"no segment (wanted {_show(self.value)})"
            met = _same(segment, self.value)
            shown = f"segment is {_show(segment)}"
            return met, shown if met else f"{shown}, not {_show(self.value)}"
        if _is_empty(segment):
            return False, f"no segment (wanted one of {_show(self.values)})"
        met = any(_same(segment, value) for value in self.values or [])
        return met, f"segment {_show(segment)} {'in' if met else 'not in'} {_show(self.values)}"


class CommentCriterion(_Strict):
    """The customer's comment `contains` `value`, or `any` of `values`
    (keywords), as case-insensitive substrings."""

    on: Literal["comment"] = "comment"
    op: Literal["contains", "any"]
    value: Text | None = None
    values: Annotated[list[Text], Field(min_length=1)] | None = None
    OPERANDS = {"contains": (("value",), ("value",)), "any": (("values",), ("values",))}

    @model_validator(mode="after")
    def _operands(self) -> CommentCriterion:
        needs = "value" if self.op == "contains" else "values"
        _check_operands(self, self.op, needs, (needs,))
        return self

    def check(self, response: SurveyResponse, mapped: MappedResponse) -> tuple[bool, str]:
        keywords = [self.value] if self.op == "contains" else list(self.values or [])
        wanted = ", ".join(_show(keyword) for keyword in keywords)
        if _is_empty(mapped.comment):
            return False, f"no comment (wanted {wanted})"
        text = _normal_text(mapped.comment)
        found = [keyword for keyword in keywords if _normal_text(keyword) in text]
        if found:
            return True, f"comment contains {', '.join(_show(keyword) for keyword in found)}"
        return False, f"comment contains none of {wanted}" if len(keywords) > 1 else f"comment lacks {wanted}"


Criterion = Annotated[
    ScoreCriterion | AnswerCriterion | SegmentCriterion | CommentCriterion, Field(discriminator="on")
]

# --- actions ----------------------------------------------------------------------------------------


class CreateTicket(_Strict):
    """Make the response a ticket. `segment` routes it to another segment than
    the response's own; `owner` assigns it to someone instead of the segment's
    assignment mode."""

    type: Literal["create_ticket"] = "create_ticket"
    priority: Priority = Priority.MEDIUM
    segment: Text | None = None
    owner: Text | None = None


def _recipient(value: str) -> str:
    if "@" in value:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
    elif not _USERNAME.match(value):
        raise ValueError(f"{value!r} is neither a username nor an email address")
    return value


Recipient = Annotated[
    Text, AfterValidator(_recipient),
    Field(description="a username or an email address", json_schema_extra={"pattern": _RECIPIENT}),
]


class Notify(_Strict):
    """Tell people about the response: cxloop usernames or email addresses."""

    type: Literal["notify"] = "notify"
    recipients: Annotated[list[Recipient], Field(min_length=1)]
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000), Field(json_schema_extra={"pattern": _NO_NUL})
    ] | None = None


class DoNothing(_Strict):
    type: Literal["nothing"] = "nothing"


Action = Annotated[CreateTicket | Notify | DoNothing, Field(discriminator="type")]


def _check_actions(actions: list[Any], which: str) -> None:
    kinds = [action.type for action in actions]
    if "nothing" in kinds and len(kinds) > 1:
        raise ValueError(f"{which}: 'nothing' cannot be combined with other actions")
    if kinds.count("create_ticket") > 1:
        raise ValueError(f"{which}: at most one create_ticket (a response makes one ticket)")


class AlertRule(_Strict):
    id: Text
    name: Text
    enabled: bool = True
    criteria: list[Criterion] = Field(default_factory=list, description="all must hold; none: always met")
    when_met: list[Action] = Field(default_factory=list)
    when_not_met: list[Action] = Field(default_factory=list)

    @model_validator(mode="after")
    def _actions(self) -> AlertRule:
        _check_actions(self.when_met, "when_met")
        _check_actions(self.when_not_met, "when_not_met")
        return self


DETRACTOR_RULE_ID = "detractor"
# The detractor rule's scores (NPS: 0-6), which the customer's history counts too.
DETRACTOR_SCORES = range(0, 7)


def is_detractor(score: int | None) -> bool:
    return score is not None and score in DETRACTOR_SCORES


def detractor_rule() -> AlertRule:
    """The rule every new CX survey starts with: a detractor (score 0-6)
    becomes a high-priority ticket; anyone else, nothing."""
    return AlertRule(
        id=DETRACTOR_RULE_ID,
        name="Detractors (score 0-6)",
        criteria=[ScoreCriterion(min=0, max=6)],
        when_met=[CreateTicket(priority=Priority.HIGH)],
        when_not_met=[DoNothing()],
    )


# --- evaluation -------------------------------------------------------------------------------------


class RuleOutcome(BaseModel):
    rule_id: str
    rule_name: str
    met: bool
    reason: str = Field(description='why, e.g. "score 3 in 0-6"')
    actions: list[Action] = Field(description="when_met or when_not_met, whichever applies")


class TicketDecision(BaseModel):
    """The one ticket a response makes, merged from every rule that asked."""

    ticket_id: str
    priority: Priority = Field(description="the highest any asking rule gave")
    segment: str | None = Field(
        default=None, description="set by the first asking rule that routes it; None: the response's segment"
    )
    owner: str | None = Field(
        default=None,
        description="set by the first asking rule that names one; None: the segment's assignment mode",
    )
    rule_ids: list[str] = Field(description="every rule that asked for it, in rule order")
    reason: str = Field(description="for the ticket's first log line")


class Notification(BaseModel):
    recipient: str
    rule_id: str = Field(description="the first rule that asked to notify this recipient")
    rule_name: str
    message: str | None = None


class AlertDecision(BaseModel):
    outcomes: list[RuleOutcome] = Field(description="one per enabled rule, in rule order")
    ticket: TicketDecision | None = None
    notifications: list[Notification] = Field(default_factory=list)


_PRIORITY_RANK = {priority: rank for rank, priority in enumerate(Priority)}


def evaluate(rules: Sequence[AlertRule], response: SurveyResponse, mapped: MappedResponse) -> AlertDecision:
    """Evaluate the enabled rules in order and merge what they ask for.

    At most one ticket: the highest priority any rule asked for; the segment
    and owner of the first rule (in rule order) that set them. Each recipient
    is notified once (case-insensitively), on behalf of the first rule naming
    them. Disabled rules are skipped and have no outcome.
    """
    outcomes: list[RuleOutcome] = []
    ticket_requests: list[tuple[AlertRule, CreateTicket, str]] = []
    notifications: dict[str, Notification] = {}
    for rule in rules:
        if not rule.enabled:
            continue
        met, reason = _check_rule(rule, response, mapped)
        actions = rule.when_met if met else rule.when_not_met
        outcomes.append(
            RuleOutcome(rule_id=rule.id, rule_name=rule.name, met=met, reason=reason, actions=actions)
        )
        for action in actions:
            if isinstance(action, CreateTicket):
                ticket_requests.append((rule, action, reason))
            elif isinstance(action, Notify):
                for recipient in action.recipients:
                    if recipient.casefold() not in notifications:
                        notifications[recipient.casefold()] = Notification(
                            recipient=recipient, rule_id=rule.id, rule_name=rule.name, message=action.message
                        )
    return AlertDecision(
        outcomes=outcomes,
        ticket=_one_ticket(response, ticket_requests) if ticket_requests else None,
        notifications=list(notifications.values()),
    )


def _one_ticket(
    response: SurveyResponse, requests: list[tuple[AlertRule, CreateTicket, str]]
) -> TicketDecision:
    actions = [action for _, action, _ in requests]
    return TicketDecision(
        ticket_id=ticket_id_for_response(response.survey_id, response.response_id),
        priority=max((action.priority for action in actions), key=_PRIORITY_RANK.__getitem__),
        segment=next((action.segment for action in actions if action.segment), None),
        owner=next((action.owner for action in actions if action.owner), None),
        rule_ids=[rule.id for rule, _, _ in requests],
        reason="; ".join(f"{rule.name}: {reason}" for rule, _, reason in requests),
    )


def _check_rule(rule: AlertRule, response: SurveyResponse, mapped: MappedResponse) -> tuple[bool, str]:
    if not rule.criteria:
        return True, "always met (no criteria)"
    checks = [criterion.check(response, mapped) for criterion in rule.criteria]
    failed = [reason for met, reason in checks if not met]
    if failed:
        return False, " and ".join(failed)
    return True, " and ".join(reason for _, reason in checks)


# --- comparing answers ------------------------------------------------------------------------------

# A reason is one log line: a whole comment quoted back would drown it.
_SHOWN_TEXT = 60


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _number(value: Any) -> float | None:
    """A number, or numeric text; never a boolean (True is not 1 here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _normal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def _same(answer: Any, value: Any) -> bool:
    """Equal as numbers when both are numbers, else as text ignoring case."""
    if isinstance(answer, (list, dict)) or isinstance(value, (list, dict)):
        return False
    answer_number, value_number = _number(answer), _number(value)
    if answer_number is not None and value_number is not None:
        return answer_number == value_number
    return _normal_text(answer) == _normal_text(value)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    text = " ".join(str(value).split())
    return repr(text if len(text) <= _SHOWN_TEXT else text[: _SHOWN_TEXT - 1] + "…")


def _show_range(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        # "0-6" as people write an NPS band; "-5 to -1" where a dash would mislead.
        joint = "-" if minimum >= 0 and maximum >= 0 else " to "
        return f"{_show(minimum)}{joint}{_show(maximum)}"
    if minimum is not None:
        return f"{_show(minimum)} or more"
    return f"{_show(maximum)} or less"
