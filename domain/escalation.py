"""Escalation rules and the due-time arithmetic behind them.

A rule says: a ticket of this survey and segment that has waited `after` since
its escalation clock started goes to `assignee`. Several rules may match one
ticket (tiers: after 4 hours to the team lead, after 2 days to the director);
each fires at most once per clock start.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from domain.calendar import BusinessCalendar, add_business_time


class EscalationRule(BaseModel):
    id: str
    name: str = ""
    survey_id: str | None = Field(default=None, description="None matches every survey")
    segment: str | None = Field(default=None, description="None matches every segment")
    after: timedelta
    assignee: str
    enabled: bool = True
    business_hours: bool = Field(
        default=False, description="count only the working hours of the segment's calendar"
    )

    def applies_to(self, survey_id: str | None, segment: str) -> bool:
        return (
            self.enabled
            and (self.survey_id is None or self.survey_id == survey_id)
            and (self.segment is None or self.segment == segment)
        )

    def due_at(self, clock_started_at: datetime, calendar: BusinessCalendar | None = None) -> datetime:
        # A segment without a calendar works around the clock.
        if self.business_hours and calendar is not None:
            return add_business_time(clock_started_at, self.after, calendar)
        return clock_started_at + self.after

    @property
    def label(self) -> str:
        return self.name or self.id


def next_escalation(
    rules: list[EscalationRule],
    survey_id: str | None,
    segment: str,
    clock_started_at: datetime,
    fired_rule_ids: list[str],
    calendar: BusinessCalendar | None = None,
) -> tuple[datetime, EscalationRule] | None:
    """The earliest pending escalation among the matching rules, or None."""
    pending = [
        (rule.due_at(clock_started_at, calendar), rule)
        for rule in rules
        if rule.applies_to(survey_id, segment) and rule.id not in fired_rule_ids
    ]
    if not pending:
        return None
    # Ties break on rule id so the choice is deterministic.
    return min(pending, key=lambda pair: (pair[0], pair[1].id))
