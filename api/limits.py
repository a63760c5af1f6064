"""Limits on what a caller may send: bodies over the configured size (413)
before they are read, and request rates on the public and sign-in endpoints
(429 with Retry-After). Both answer in the reader's language (api/errors.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Request, status
from limits import parse as parse_rate
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.dashboard.i18n import N_
from api.deps import Services, ServicesDep
from api.errors import TranslatedError, answer_in_readers_language


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def hit_rate_limit(services: Services, rate_text: str, scope: str, key: str, message: str) -> None:
    """Count one request against `rate_text` ("10/minute", limits' notation)
    for (scope, key); refuse with 429 and `message` (marked with `N_`) once
    it is spent. Counted in the API process's memory: each replica counts its
    own."""
    rate = parse_rate(rate_text)
    limiter = services.rate_limiter
    if not limiter.hit(rate, scope, key):
        reset_at, _ = limiter.get_window_stats(rate, scope, key)
        retry_after = max(1, int(reset_at - datetime.now(UTC).timestamp()))
        raise TranslatedError(
            status.HTTP_429_TOO_MANY_REQUESTS, message, headers={"Retry-After": str(retry_after)}
        )


def rate_limit_per_client(setting: str, scope: str, message: str) -> Callable[..., None]:
    """A route dependency: at most `Settings.<setting>` requests per client address."""

    def dependency(request: Request, services: ServicesDep) -> None:
        hit_rate_limit(services, getattr(services.settings, setting), scope, client_address(request), message)

    return dependency


class BodyTooLarge(TranslatedError):
    """Raised while a body is read. An HTTPException (a TranslatedError), so
    that FastAPI's body parsing passes it on as the 413 it is rather than a
    400 "error parsing the body" (it turns any other exception into that)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            status.HTTP_413_CONTENT_TOO_LARGE, N_("request body larger than {max_bytes} bytes"),
            {"max_bytes": max_bytes},
        )


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length up front and counts the
    bytes of a chunked body as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The answer the app gives a BodyTooLarge it catches: the reader's
        # language is in the request's headers, which the scope holds.
        answer = await answer_in_readers_language(Request(scope), BodyTooLarge(self.max_bytes))
        await answer(scope, receive, send)
