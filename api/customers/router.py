"""GET /api/customers/{email}/history: bounded, not paginated. The newest
`limit` tickets and the newest `limit` responses, with a flag that says more
exist; a customer with more than a page of feedback is rare, and the ticket
page shows the newest."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.auth.caller import PrincipalDep
from api.customers.schemas import CustomerHistoryOut
from api.deps import ServicesDep
from api.errors import error_responses
from store.customers import customer_history

router = APIRouter(prefix="/api/customers", tags=["customers"], responses=error_responses(401, 422))

# An address: something@domain.tld, no spaces, control characters or slashes
# (the schema states it, so a client can tell what is refused with 422).
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f/]+@[^@\s\x00-\x1f\x7f/.]+(\.[^@\s\x00-\x1f\x7f/.]+)+$"


@router.get("/{email}/history", summary="A customer's tickets and survey responses")
async def history(
    email: Annotated[str, Path(max_length=254, pattern=EMAIL_PATTERN, description="matched case-insensitively")],
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=200, description="at most this many tickets, and as many responses")] = 50,
) -> CustomerHistoryOut:
    """Within the caller's reach (an unknown address: empty lists), newest first."""
    address = email.lower()
    found = await asyncio.to_thread(customer_history, services.engine, address, principal, limit)
    return CustomerHistoryOut.of(address, found)
