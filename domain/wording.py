"""How a ticket's machine words read to a person (pure: no I/O, no catalogs).

The ticket's log keeps its machine cause: an actor such as `rule:<id>`,
`alert-rule:<id>` or `system:snooze`, raw values (`new`, `high`) and, for
what the system did by itself, an English comment written by domain/commands.py
and the workflows. The pages and the mails render each line for a person, in
their language: this module says *what* to say, as `Phrase`s (an English
message marked with `N_`, its catalog's msgid, and the values that fill it
in); api/dashboard/i18n.py and the mail activities translate them.

- `actor_phrase`: who, by name (a rule's name, a user's display name) from
  a directory the caller read from the configuration;
- `change_phrase`: what changed, statuses, priorities and fields as words;
- `comment_phrase`: a system comment, recognised by its machine cause and
  the exact text the workflow writes, with a translated template; a person's
  comment is theirs and is shown as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.commands import N_
from domain.ticket import EventKind, Priority, TicketEvent, TicketStatus


@dataclass(frozen=True)
class Phrase:
    """An English message with named {placeholders} and the values that fill
    them in; a value may be a Phrase, a `timedelta` or a `datetime` of its own,
    which the translator words in the reader's language. str(): English."""

    message: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message.format(**{name: str(value) for name, value in self.params.items()})


STATUS_LABELS = {
    TicketStatus.NEW: N_("New"),
    TicketStatus.OPEN: N_("Open"),
    TicketStatus.ANSWERED: N_("Answered"),
    TicketStatus.ESCALATED: N_("Escalated"),
    TicketStatus.POSTPONED: N_("Postponed"),
    TicketStatus.RESOLVED: N_("Resolved"),
    TicketStatus.CLOSED: N_("Closed"),
    TicketStatus.SPAM: N_("Spam"),
    TicketStatus.DELETED: N_("Deleted"),
}
PRIORITY_LABELS = {
    Priority.LOW: N_("Low"),
    Priority.MEDIUM: N_("Medium"),
    Priority.HIGH: N_("High"),
    Priority.CRITICAL: N_("Critical"),
}
FIELD_LABELS = {
    "status": N_("Status"),
    "priority": N_("Priority"),
    "segment": N_("Segment"),
    "owner": N_("Owner"),
    "snooze_until": N_("Snoozed until"),
    "escalation_due_at": N_("Escalates on"),
    "auto_close_at": N_("Closes by itself on"),
}
EVENT_LABELS = {
    "created": N_("Created"),
    "changed": N_("Changed"),
    "commented": N_("Commented"),
    "customer_replied": N_("Customer replied"),
    "replied": N_("Replied to the customer"),
    "escalated_by_rule": N_("Escalated by rule"),
    "woke_up": N_("Woke up"),
    "auto_closed": N_("Closed automatically"),
    "purged": N_("Purged"),
    "rules_replaced": N_("Escalation rules changed"),
    "directory_replaced": N_("Segment managers changed"),
    "rejected": N_("Rejected"),
}
# Fields whose values are times written into the log as ISO text.
TIME_FIELDS = frozenset({"snooze_until", "escalation_due_at", "auto_close_at"})

NOTHING = "—"


def status_phrase(value: str) -> Phrase | str:
    """A status as a word ("open" -> Open); an unknown value as it is."""
    try:
        return Phrase(STATUS_LABELS[TicketStatus(value)])
    except ValueError:
        return value


def priority_phrase(value: str) -> Phrase | str:
    try:
        return Phrase(PRIORITY_LABELS[Priority(value)])
    except ValueError:
        return value


# --- who ---------------------------------------------------------------------------------

ESCALATION_RULE_ACTOR = "rule:"
ALERT_RULE_ACTOR = "alert-rule:"
# The system's own actors, and the intake's, as people call them.
SYSTEM_ACTORS = {
    "system:snooze": N_("Snooze timer"),
    "system:auto-close": N_("Automatic close"),
    "system:escalation": N_("Escalation"),
    "system:configuration": N_("Configuration change"),
    "system:intake": N_("Intake"),
    "intake:form": N_("Web form"),
    "intake:email": N_("Inbound mail"),
    "operator": N_("Operator"),
}


def actor_phrase(actor: str, names: Mapping[str, str]) -> Phrase | str:
    """Who did it, for a person: `names` maps an actor (`rule:<id>`,
    `alert-rule:<id>`, a username) to its name in the configuration."""
    if actor in SYSTEM_ACTORS:
        return Phrase(SYSTEM_ACTORS[actor])
    name = names.get(actor)
    if actor.startswith(ESCALATION_RULE_ACTOR):
        return Phrase(N_("Escalation rule “{name}”"), {"name": name}) if name else Phrase(
            N_("An escalation rule since removed"))
    if actor.startswith(ALERT_RULE_ACTOR):
        return Phrase(N_("Alert rule “{name}”"), {"name": name}) if name else Phrase(
            N_("An alert rule since removed"))
    return name or actor


# --- what changed -------------------------------------------------------------------------


def value_phrase(field_name: str | None, value: str | None, names: Mapping[str, str]) -> Any:
    """A value of the log (from or to) as a person reads it."""
    if value is None or value == "":
        return NOTHING
    if field_name == "status":
        return status_phrase(value)
    if field_name == "priority":
        return priority_phrase(value)
    if field_name == "owner":
        return names.get(value) or value
    if field_name in TIME_FIELDS:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def field_phrase(field_name: str) -> Phrase | str:
    return Phrase(FIELD_LABELS[field_name]) if field_name in FIELD_LABELS else field_name


def change_phrase(event: TicketEvent, names: Mapping[str, str]) -> Phrase:
    """What a log line changed ("Status: New → Open"), or its kind when it
    changed no field ("Commented")."""
    if event.kind is EventKind.CREATED and event.field == "status" and event.new:
        return Phrase(N_("Created as {status}"), {"status": value_phrase("status", event.new, names)})
    if event.field and event.field in FIELD_LABELS and event.kind is not EventKind.REJECTED:
        return Phrase(N_("{field}: {old} → {new}"), {
            "field": field_phrase(event.field),
            "old": value_phrase(event.field, event.old, names),
            "new": value_phrase(event.field, event.new, names),
        })
    return Phrase(EVENT_LABELS.get(event.kind.value, event.kind.value))


# --- the system's comments ----------------------------------------------------------------


@dataclass(frozen=True)
class SystemComment:
    """A comment the system writes: `written` is its text exactly as the
    workflow writes it (named {placeholders} for what varies), `shown` the
    message a person reads (the catalogs' msgid), with the same placeholders."""

    kinds: frozenset[EventKind]
    written: str
    shown: str
    # `written` as a regular expression, compiled once.
    pattern: re.Pattern[str]


# Values that stop at "; " (where an alert reason of several rules goes on).
_ONE_RULES_VALUES = frozenset({"alert_rule", "score", "range"})


def _pattern(written: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", written)
    regex = "".join(
        re.escape(part) if index % 2 == 0
        else f"(?P<{part}>[^;]*?)" if part in _ONE_RULES_VALUES else f"(?P<{part}>.*?)"
        for index, part in enumerate(parts)
    )
    return re.compile(regex + r"\Z", re.DOTALL)


def _system(kinds: set[EventKind], written: str, shown: str | None = None) -> SystemComment:
    return SystemComment(frozenset(kinds), written, shown or written, _pattern(written))


# The comments of domain/commands.py and workflows/ (which stay as they are:
# the log keeps its machine cause). tests/test_log_language.py has the
# workflow write each of them and checks that it is recognised.
SYSTEM_COMMENTS = (
    _system({EventKind.WOKE_UP}, N_("Snooze ended: the ticket is open again.")),
    _system(
        {EventKind.AUTO_CLOSED},
        "Closed automatically: not reopened within the verification window ({window}).",
        N_("Closed automatically: not reopened within the verification window ({window})."),
    ),
    _system(
        {EventKind.ESCALATED_BY_RULE},
        "Escalated automatically by rule '{rule}': no resolution within {after} of the escalation clock starting.",
        N_("Escalated automatically by rule “{rule}”: not resolved within {after} of the escalation clock "
           "starting."),
    ),
    _system({EventKind.RULES_REPLACED}, N_("Configuration changed: the deadline moved.")),
    _system({EventKind.RULES_REPLACED}, N_("Configuration changed; no deadline of this ticket moved.")),
    # The detractor rule's reason, the commonest (domain/alerts.py's score
    # criterion); other reasons are quoted as the rule gave them.
    _system({EventKind.CREATED}, "Created by action-alert rule: {alert_rule}: score {score} in {range}",
            N_("Created by the action-alert rule “{alert_rule}”: score {score} in {range}.")),
    _system({EventKind.CREATED}, "Created by action-alert rule: {reason}",
            N_("Created by an action-alert rule: {reason}")),
    _system({EventKind.CREATED}, "Created from a web form.", N_("Created from a web form.")),
    _system({EventKind.CREATED}, "Created from a email.", N_("Created from an email.")),
    _system({EventKind.CREATED}, "Created from a email. It answers {reference}, which is closed.",
            N_("Created from an email. It answers {reference}, which is closed.")),
    _system({EventKind.CREATED}, "Created from a web form. It answers {reference}, which is closed.",
            N_("Created from a web form. It answers {reference}, which is closed.")),
    _system({EventKind.CHANGED, EventKind.COMMENTED}, N_("Replied to the customer.")),
    _system({EventKind.REJECTED}, "signal '{name}' rejected: {reason}", N_("Signal “{name}” rejected: {reason}")),
)
# The system's words on a person's line: a reply's status change made
# without an internal note (domain/commands.py REPLIED_COMMENT).
WORDED_FOR_PEOPLE = frozenset({"Replied to the customer."})
_DURATION = re.compile(r"(?:(?P<days>-?\d+) days?, )?(?P<hours>\d+):(?P<minutes>\d\d):(?P<seconds>\d\d(?:\.\d+)?)\Z")


def parse_duration(text: str) -> timedelta | None:
    """A `timedelta` written as str() writes it ("1 day, 2:00:00")."""
    found = _DURATION.match(text.strip())
    if found is None:
        return None
    return timedelta(
        days=int(found["days"] or 0), hours=int(found["hours"]), minutes=int(found["minutes"]),
        seconds=float(found["seconds"]),
    )


# Lines only the system writes; a ticket's creation is the system's when
# intake or an alert rule made it, a person's when someone opened it.
SYSTEM_KINDS = frozenset({
    EventKind.WOKE_UP, EventKind.AUTO_CLOSED, EventKind.ESCALATED_BY_RULE, EventKind.RULES_REPLACED,
    EventKind.DIRECTORY_REPLACED, EventKind.REJECTED,
})


def is_machine_actor(actor: str) -> bool:
    return actor in SYSTEM_ACTORS or actor.startswith((ESCALATION_RULE_ACTOR, ALERT_RULE_ACTOR))


def is_system_line(event: TicketEvent) -> bool:
    """A line whose comment the system wrote (machine words), not a person."""
    return event.kind in SYSTEM_KINDS or (event.kind is EventKind.CREATED and is_machine_actor(event.actor))


# What a ticket's creation adds when its source named a segment the workspace
# does not have (domain/commands.py's decide_create): by whom, as written, and
# as a person reads it.
UNKNOWN_SEGMENT = re.compile(
    r"(?P<before>.*?) ?(?P<named_by>The response|The web form|The mail|Its source) named segment "
    r"'(?P<segment>.*)', which this workspace does not have: the ticket went to '(?P<went>.*)'\.\Z",
    re.DOTALL,
)
UNKNOWN_SEGMENT_SHOWN = {
    "The response": N_("The response named the segment “{segment}”, which this workspace does not have: "
                       "the ticket went to “{went}”."),
    "The web form": N_("The web form named the segment “{segment}”, which this workspace does not have: "
                       "the ticket went to “{went}”."),
    "The mail": N_("The mail named the segment “{segment}”, which this workspace does not have: "
                   "the ticket went to “{went}”."),
    "Its source": N_("Its source named the segment “{segment}”, which this workspace does not have: "
                     "the ticket went to “{went}”."),
}


def comment_phrase(event: TicketEvent, names: Mapping[str, str]) -> Phrase | str:
    """A line's comment for a person: a system comment as a translatable
    Phrase; a person's (or one not recognised) as written."""
    if event.kind is EventKind.CREATED and (unknown := UNKNOWN_SEGMENT.match(event.comment)):
        # Said after the creation's own comment (a person's or the system's).
        before = event.model_copy(update={"comment": unknown["before"]})
        said = Phrase(UNKNOWN_SEGMENT_SHOWN[unknown["named_by"]], {
            "segment": unknown["segment"], "went": unknown["went"]})
        if not unknown["before"]:
            return said
        # Two sentences side by side: the same in every language.
        return Phrase("{before} {said}", {"before": comment_phrase(before, names), "said": said})
    if not is_system_line(event) and event.comment not in WORDED_FOR_PEOPLE:
        return event.comment
    for system in SYSTEM_COMMENTS:
        if event.kind not in system.kinds:
            continue
        found = system.pattern.match(event.comment)
        if found is None:
            continue
        params: dict[str, Any] = dict(found.groupdict())
        for duration in ("after", "window"):
            if duration in params:
                params[duration] = parse_duration(params[duration]) or params[duration]
        if "rule" in params and event.actor.startswith(ESCALATION_RULE_ACTOR):
            # The rule's name today; the one written then if it is gone.
            params["rule"] = names.get(event.actor) or params["rule"]
        return Phrase(system.shown, params)
    return event.comment
