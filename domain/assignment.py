"""Who owns a new ticket of a segment: the segment's assignment mode, applied to
its managers.

A manager marked unavailable (on leave) never gets a new ticket, in any mode;
nor does one who already holds `max_open_tickets` open tickets. When nobody
fits, the ticket stays unassigned for a person to pick up: an automatic rule
never overrides those two settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, Field


class AssignmentMode(StrEnum):
    MANUAL = "manual"
    SINGLE_MANAGER = "single_manager"
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"


# DESIGN.md: "when the segment has exactly one manager, that manager is
# assigned by default".
DEFAULT_ASSIGNMENT_MODE = AssignmentMode.SINGLE_MANAGER


class Candidate(BaseModel):
    """A manager of the segment, as assignment sees them."""

    username: str
    available: bool = True
    open_tickets: int = Field(default=0, ge=0)
    max_open_tickets: int | None = Field(default=None, ge=0, description="None: no cap")

    @property
    def can_take_one_more(self) -> bool:
        return self.available and (self.max_open_tickets is None or self.open_tickets < self.max_open_tickets)


def choose_owner(
    mode: AssignmentMode, candidates: Sequence[Candidate], previous_owner: str | None = None
) -> str | None:
    """The username that owns the new ticket, or None: unassigned.

    `candidates` are the segment's managers (a username listed twice counts
    once, as first listed); `previous_owner` is who got the segment's previous
    ticket, for round robin. Usernames are ordered ignoring case. An unknown
    mode raises ValueError.

    - manual: nobody; a person assigns every ticket.
    - single_manager: the segment's only manager; nobody when it has none or
      several (DESIGN.md's default).
    - least_loaded: the eligible manager with the fewest open tickets, ties
      broken by username.
    - round_robin: the eligible manager after `previous_owner` in username
      order, wrapping around; the first when there is no previous owner.

    Eligible: available and below their `max_open_tickets` cap.
    """
    managers = _distinct(candidates)
    match AssignmentMode(mode):  # a stored "round_robin" works as well as the enum
        case AssignmentMode.MANUAL:
            return None
        case AssignmentMode.SINGLE_MANAGER:
            return _single_manager(managers)
        case AssignmentMode.LEAST_LOADED:
            return _least_loaded(managers)
        case AssignmentMode.ROUND_ROBIN:
            return _round_robin(managers, previous_owner)


def _single_manager(managers: list[Candidate]) -> str | None:
    """The segment's only manager, if they can take it. With no manager or
    several, nobody: which of several is a person's call (or another mode's)."""
    if len(managers) != 1 or not managers[0].can_take_one_more:
        return None
    return managers[0].username


def _least_loaded(managers: list[Candidate]) -> str | None:
    """The eligible manager with the fewest open tickets; ties go to the first
    by username, so the choice does not depend on the order of the list."""
    eligible = [manager for manager in managers if manager.can_take_one_more]
    if not eligible:
        return None
    return min(eligible, key=lambda manager: (manager.open_tickets, _order(manager.username))).username


def _round_robin(managers: list[Candidate], previous_owner: str | None) -> str | None:
    """The eligible manager after the previous owner in username order,
    wrapping around to the first; the first when there was no previous owner.
    The previous owner need not be a manager any more: the turn passes to
    whoever follows their name."""
    eligible = sorted(
        (manager for manager in managers if manager.can_take_one_more), key=lambda m: _order(m.username)
    )
    if not eligible:
        return None
    if previous_owner is not None:
        after = _order(previous_owner)
        for manager in eligible:
            if _order(manager.username) > after:
                return manager.username
    return eligible[0].username


def _order(username: str) -> tuple[str, str]:
    # Case-insensitive, then exact, so "ann" and "Ann" still have a fixed order.
    return username.casefold(), username


def _distinct(candidates: Sequence[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    distinct = []
    for candidate in candidates:
        if candidate.username not in seen:
            seen.add(candidate.username)
            distinct.append(candidate)
    return distinct
