"""The configuration endpoints' dealings with the store and with Temporal:
store calls run in a thread with their refusals turned into HTTP answers, and
changes that tickets depend on are rolled out before the endpoint answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi import HTTPException, status

from api.configuration.rollout import request_rollout
from api.deps import Services
from store.configuration import ConfigurationError, Conflict, InvalidConfiguration, NotFound

P = ParamSpec("P")
T = TypeVar("T")

HTTP_STATUS_OF_REFUSAL: dict[type[ConfigurationError], int] = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    InvalidConfiguration: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


async def in_store(call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a store.configuration function off the event loop."""
    try:
        return await asyncio.to_thread(call, *args, **kwargs)
    except ConfigurationError as refused:
        raise HTTPException(HTTP_STATUS_OF_REFUSAL[type(refused)], refused.message) from None


async def roll_out(services: Services, *workspace_ids: str) -> None:
    """Bring the workspaces' new configuration to their running tickets; returns
    once Temporal holds the roll-out (it reaches the tickets shortly after)."""
    for workspace_id in dict.fromkeys(workspace_ids):
        await request_rollout(services, workspace_id)
