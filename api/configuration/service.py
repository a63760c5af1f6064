"""The configuration endpoints' dealings with the store and with Temporal:
store calls run in a thread with their refusals turned into HTTP answers (in
the reader's language: api/errors.py), and changes that tickets depend on are
rolled out before the endpoint answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from fastapi import status

from api.configuration.rollout import request_rollout
from api.deps import Services
from api.errors import TranslatedError
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
        raise refusal(refused) from None


def refusal(refused: ConfigurationError) -> TranslatedError:
    """The answer to a refusal of the store (store.accounts' included: an
    AccountError is an InvalidConfiguration)."""
    status_code = next(code for kind, code in HTTP_STATUS_OF_REFUSAL.items() if isinstance(refused, kind))
    return TranslatedError(status_code, refused.message, refused.params)


async def roll_out(services: Services, *workspace_ids: str) -> None:
    """Bring the workspaces' new configuration to their running tickets; returns
    once Temporal holds the roll-out (it reaches the tickets shortly after)."""
    for workspace_id in dict.fromkeys(workspace_ids):
        await request_rollout(services, workspace_id)
