"""Request and response bodies of the segment endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.configuration.fields import MAX_INT_COLUMN, Name, PatchBody, Ref, Username
from domain.assignment import DEFAULT_ASSIGNMENT_MODE, AssignmentMode
from domain.calendar import BusinessCalendar
from store.configuration import ManagerEntry, SegmentConfig

CALENDAR_EXAMPLE = {
    "time_zone": "Europe/Paris",
    "working_hours": {
        "0": [["09:00", "12:30"], ["13:30", "17:30"]],
        "1": [["09:00", "17:30"]],
        "2": [["09:00", "17:30"]],
        "3": [["09:00", "17:30"]],
        "4": [["09:00", "16:00"]],
    },
    "holidays": ["2025-12-25", "2026-01-01"],
}
CALENDAR_DESCRIPTION = (
    "when the segment works, for escalation rules that count business hours; null: around the clock. "
    "working_hours maps a weekday (0=Monday .. 6=Sunday) to its [start, end] local times"
)

ASSIGNMENT_DESCRIPTION = (
    "who owns a new ticket: manual (nobody), single_manager (the only manager, if there is one), "
    "least_loaded, round_robin; unavailable and full managers are skipped"
)


class ManagerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    available: bool = Field(default=True, description="false: on leave; not picked by automatic assignment")
    max_open_tickets: int | None = Field(
        default=None, ge=0, le=MAX_INT_COLUMN, description="cap for automatic assignment; null: no cap"
    )

    def entry(self) -> ManagerEntry:
        return ManagerEntry(self.username, self.available, self.max_open_tickets)


class ManagerList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    managers: list[ManagerIn]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "workspace_id": "acme-eu",
                    "name": "retail",
                    "managers": [{"username": "ann"}, {"username": "bob", "max_open_tickets": 20}],
                    "calendar": CALENDAR_EXAMPLE,
                    "assignment_mode": "least_loaded",
                }
            ]
        },
    )

    workspace_id: Ref
    name: Name = Field(description="unique in the workspace; tickets and rules name the segment by it")
    managers: list[ManagerIn] = Field(default_factory=list, description="who may own the segment's tickets")
    calendar: BusinessCalendar | None = Field(default=None, description=CALENDAR_DESCRIPTION)
    assignment_mode: AssignmentMode = Field(
        default=DEFAULT_ASSIGNMENT_MODE, description=ASSIGNMENT_DESCRIPTION
    )


class SegmentPatch(PatchBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"calendar": {"time_zone": "America/New_York"}}, {"name": "retail-eu"}]
        },
    )
    IMMUTABLE = ("id", "workspace_id")
    NOT_NULLABLE = ("name", "managers", "assignment_mode")

    name: Name | None = Field(
        default=None,
        description="a rename carries the workspace's escalation rules and surveys along; refused while "
        "tickets that are not closed are in the segment",
    )
    managers: list[ManagerIn] | None = Field(default=None, description="the whole new list")
    calendar: BusinessCalendar | None = Field(default=None, description=CALENDAR_DESCRIPTION)
    assignment_mode: AssignmentMode | None = Field(default=None, description=ASSIGNMENT_DESCRIPTION)


class ManagerOut(BaseModel):
    username: str
    available: bool
    max_open_tickets: int | None


class SegmentOut(BaseModel):
    id: str
    workspace_id: str
    name: str
    managers: list[ManagerOut]
    calendar: BusinessCalendar | None
    assignment_mode: AssignmentMode

    @classmethod
    def of(cls, segment: SegmentConfig) -> SegmentOut:
        return cls(
            id=segment.id,
            workspace_id=segment.workspace_id,
            name=segment.name,
            managers=[ManagerOut(**vars(m)) for m in segment.managers],
            calendar=segment.calendar,
            assignment_mode=segment.assignment_mode,
        )
