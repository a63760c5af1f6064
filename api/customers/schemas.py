"""What GET /api/customers/{email}/history answers."""

from __future__ import annotations


from pydantic import BaseModel, Field

from api.tickets.schemas import TicketOut
from store.customers import CustomerHistory, CustomerResponse


class CustomerResponseOut(CustomerResponse):
    """A survey response of the customer and the ticket it made, if any (and
    if that ticket is in the caller's reach: otherwise the response is not listed)."""


class CustomerHistoryOut(BaseModel):
    email: str = Field(description="the address asked for, lower-cased")
    tickets: list[TicketOut] = Field(description="newest first (by reported_at)")
    responses: list[CustomerResponseOut] = Field(description="newest first (by received_at)")
    more_tickets: bool = Field(description="more tickets matched than `limit`: only the newest are listed")
    more_responses: bool = Field(description="more responses matched than `limit`: only the newest are listed")

    @classmethod
    def of(cls, email: str, history: CustomerHistory) -> CustomerHistoryOut:
        return cls(
            email=email,
            tickets=[TicketOut.of(ticket) for ticket in history.tickets],
            responses=[CustomerResponseOut(**r.model_dump()) for r in history.responses],
            more_tickets=history.more_tickets,
            more_responses=history.more_responses,
        )
