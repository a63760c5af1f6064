"""Who may see and change which tickets (DESIGN.md "Access").

- admin: every ticket, and the configuration;
- manager: the tickets of the segments they manage, and the tickets they own;
- agent: the tickets they own.

A ticket outside one's reach is answered as unknown (404), never as
forbidden, so that its existence does not leak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.ticket import TicketState


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


class TicketReach(BaseModel):
    """The tickets of one workspace a user may see: owned by `owner`, or in
    one of `segments`. The read model turns it into a WHERE clause."""

    model_config = ConfigDict(frozen=True)

    owner: str
    segments: frozenset[str] = Field(default_factory=frozenset)


class Principal(BaseModel):
    """The signed-in user a request acts for."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    username: str
    role: Role
    # workspace id -> the names of the segments the user is a manager of there
    segments: Mapping[str, frozenset[str]] = Field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def managed_segments(self, workspace_id: str) -> frozenset[str]:
        """The segments whose every ticket this user sees (agents see none whole)."""
        if self.role is not Role.MANAGER:
            return frozenset()
        return self.segments.get(workspace_id, frozenset())

    def reach(self, workspace_id: str) -> TicketReach | None:
        """None: no restriction (an admin)."""
        if self.is_admin:
            return None
        return TicketReach(owner=self.username, segments=self.managed_segments(workspace_id))

    def reaches(self, ticket: TicketState) -> bool:
        reach = self.reach(ticket.workspace_id)
        return reach is None or ticket.owner == reach.owner or ticket.segment in reach.segments

    def may_open_ticket_in(self, workspace_id: str, segment: str) -> bool:
        """Admins anywhere; managers in the segments they manage; agents in the
        segments they work in (their `segment_managers` membership: the
        segments whose tickets they may own), and the ticket becomes theirs."""
        return self.is_admin or segment in self.segments.get(workspace_id, frozenset())

    def segments_to_open_tickets_in(self, workspace_id: str, segments: Iterable[str]) -> list[str]:
        """Of the workspace's `segments`, those where this user may open a
        ticket, in the order given: what the new-ticket dialog offers."""
        return [segment for segment in segments if self.may_open_ticket_in(workspace_id, segment)]

    @property
    def owns_the_tickets_they_open(self) -> bool:
        """An agent sees only the tickets they own: a ticket they open is
        theirs, or they could not see what they made."""
        return self.role is Role.AGENT

    @property
    def workspaces(self) -> frozenset[str]:
        """The workspaces where the user has a segment (all, for an admin: see
        the caller)."""
        return frozenset(self.segments)
