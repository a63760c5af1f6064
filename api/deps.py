"""FastAPI dependencies: the services a request needs, from the app's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits.strategies import RateLimiter
from sqlalchemy import Engine
from temporalio.client import Client

from settings import Settings
from store.tickets import TicketStore


@dataclass
class Services:
    """What the API process holds for its lifetime (built in api.app's lifespan)."""

    settings: Settings
    temporal: Client
    engine: Engine
    tickets: TicketStore
    # Counts requests to the rate-limited endpoints, per client address (and
    # sign-ins per username): in the database, shared by every replica, or in
    # this process's memory (api.limits.build_rate_limiter).
    rate_limiter: RateLimiter


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
