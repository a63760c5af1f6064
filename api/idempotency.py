"""The `Idempotency-Key` header of the API's creating requests (a ticket, a
comment): a client that did not hear the answer sends the request again with
the same key and is answered what the first one was answered (the same
status and JSON body), while the work is done once.

A route takes `IdempotencyDep` and hands it its work:

    return await idempotency.once(201, lambda request_id: service.create_ticket(..., ticket_id=request_id))

`request_id` is stable across the retries of one key (None without a key):
the work names what it does outside the database with it (the ticket's id,
the update's id), so that a retry after a crash between Temporal and the read
model is applied by Temporal once.

- A key is the caller's own: two users' keys never meet.
- The same key with another method, path or body: 422.
- While the first request with a key is still working, another one with the
  key is answered 409 with Retry-After at once (not made to wait: a client
  that retries on a timeout should not pile up waiting requests). A request
  that crashed holds its key for `CLAIM_SECONDS` at most.
- Only a success is remembered: an error (a refusal, a timeout) lets the key
  go, and the retry is decided anew, under the same request_id.
- A key is remembered for 24 hours; older keys are swept on the next claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from api.auth.caller import PrincipalDep
from api.configuration.fields import NO_CONTROL_CHARACTERS
from api.dashboard.i18n import N_
from api.deps import Services, ServicesDep
from api.errors import RETRY_AFTER_SECONDS, TranslatedError
from api.tickets.service import UPDATE_TIMEOUT_SECONDS
from store import idempotency

HEADER = "Idempotency-Key"
JSON = "application/json"
LIFETIME = timedelta(hours=24)
# Longer than any answer may take (a ticket's update times out after
# UPDATE_TIMEOUT_SECONDS), so that only a crashed request's claim lapses.
CLAIM_SECONDS = 2 * UPDATE_TIMEOUT_SECONDS
# Tells a client that the answer is the remembered one.
REPLAYED_HEADER = "Idempotent-Replayed"

KEY_DESCRIPTION = (
    "Any string of up to 255 characters without control characters, new for each request (a UUID, say). "
    "Sent again with the same request within 24 hours, the request is not done again: it is answered "
    "what it was answered first (header Idempotent-Replayed: true). The same key with another body: 422; "
    "while the first request with the key is still being answered: 409 with Retry-After. Keys are the "
    "signed-in user's own. Only a success is remembered: after an error, the same key may be sent again."
)


class IdempotentRequest:
    """One request and its `Idempotency-Key` (or none)."""

    def __init__(self, services: Services, user_id: str, key: str | None, request_hash: str) -> None:
        self.services = services
        self.user_id = user_id
        self.key = key
        self.request_hash = request_hash

    async def once(self, status_code: int, work: Callable[[str | None], Awaitable[Any]]) -> Any:
        """`work`'s result, answered with `status_code`; with a key, done
        once and answered the same to every retry."""
        if self.key is None:
            return await work(None)
        engine = self.services.engine
        now = datetime.now(UTC)
        await asyncio.to_thread(idempotency.sweep_expired, engine, now - LIFETIME)
        claim = await asyncio.to_thread(
            idempotency.claim, engine, self.user_id, self.key, self.request_hash, now, LIFETIME,
            timedelta(seconds=CLAIM_SECONDS),
        )
        match claim:
            case idempotency.Answered(status_code=answered_code, response=response):
                return Response(
                    response, status_code=answered_code, media_type=JSON, headers={REPLAYED_HEADER: "true"}
                )
            case idempotency.OtherRequest():
                raise TranslatedError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    N_("This Idempotency-Key was already used for another request; send a new key with a new request."),
                )
            case idempotency.InProgress():
                raise TranslatedError(
                    status.HTTP_409_CONFLICT,
                    N_("A request with this Idempotency-Key is still being answered; retry in a moment."),
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
        request_id = claim.request_id
        try:
            result = await work(request_id)
        except BaseException:
            # Shielded: a cancelled request (the client went away) still lets go.
            await asyncio.shield(
                asyncio.to_thread(idempotency.release, engine, self.user_id, self.key, request_id)
            )
            raise
        # Rendered once, as FastAPI would, and remembered as sent: the first
        # answer and its replays are the same bytes.
        content = JSONResponse(jsonable_encoder(result)).body.decode("utf-8")
        await asyncio.to_thread(idempotency.answer, engine, self.user_id, self.key, request_id, status_code, content)
        return Response(content, status_code=status_code, media_type=JSON)


async def idempotent_request(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER, min_length=1, max_length=255, pattern=NO_CONTROL_CHARACTERS, description=KEY_DESCRIPTION
        ),
    ] = None,
) -> IdempotentRequest:
    """The request's key and what identifies the request (method, path,
    body). Nothing is claimed here: a body that fails validation never
    reaches the route, and must not hold the key."""
    return IdempotentRequest(services, principal.user_id, idempotency_key, _request_hash(request, await request.body()))


def _request_hash(request: Request, body: bytes) -> str:
    """SHA-256 of the method, path and body. A JSON body is hashed in a
    canonical form, so that a retry that spaces or orders its keys otherwise
    is the same request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        canonical = body.decode("latin-1")
    material = "\n".join((request.method, request.url.path, canonical))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()


IdempotencyDep = Annotated[IdempotentRequest, Depends(idempotent_request)]
