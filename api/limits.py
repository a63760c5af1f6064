"""Limits on what a caller may send: bodies over the configured size (413)
before they are read, and request rates on the public and sign-in endpoints
(429 with Retry-After). Both answer in the reader's language (api/errors.py).

Request rates are counted by the `limits` library's moving window, in the
read model's database by default (`DatabaseStorage`), so that every API
replica counts against the same limit; `CXLOOP_RATE_LIMIT_STORAGE=memory`
counts in each process instead."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, status
from limits import parse as parse_rate
from limits.errors import StorageError
from limits.storage import MemoryStorage, MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter, RateLimiter
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.dashboard.i18n import N_
from api.deps import Services, ServicesDep
from api.errors import TranslatedError, answer_in_readers_language
from settings import Settings
from store import rate_limits
from store.db import ping

logger = logging.getLogger(__name__)

# What a limit does when its counts cannot be read or written (the database
# is down, or refuses): the sign-in limits fail closed, refusing as if spent,
# since a brute-force guard that opens whenever the database struggles is one
# an attacker can open (and sign-in needs the database to check a password
# anyway). Every other limit fails open: intake (survey webhooks, inbound
# mail, the web form) and the customer's links would otherwise lose a
# customer's feedback to a hiccup of a counter; what they let through
# meanwhile still meets their signatures and validation.
FAIL_CLOSED_SCOPES = frozenset({"login-address", "login-user"})
# The Retry-After of a closed limit whose counts could not be read: soon, as
# a database hiccup is usually short.
UNCOUNTED_RETRY_AFTER_SECONDS = 5
# How often a replica deletes the hits that have left their windows.
SWEEP_EVERY_SECONDS = 60.0


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def hit_rate_limit(services: Services, rate_text: str, scope: str, key: str, message: str) -> None:
    """Count one request against `rate_text` ("10/minute", limits' notation)
    for (scope, key); refuse with 429 and `message` (marked with `N_`) once
    it is spent. When the count fails, FAIL_CLOSED_SCOPES refuse and every
    other scope lets the request through.

    In a worker thread: the database storage waits on the database (on
    SQLite, possibly for another writer's lock), which must not hold up the
    event loop."""
    rate = parse_rate(rate_text)
    limiter = services.rate_limiter
    try:
        if await asyncio.to_thread(limiter.hit, rate, scope, key):
            return
        reset_at, _ = await asyncio.to_thread(limiter.get_window_stats, rate, scope, key)
        # Rounded up: a client that waits exactly this long finds room.
        retry_after = max(1, math.ceil(reset_at - time.time()))
    except StorageError as error:
        # The driver's own words, not SQLAlchemy's, which quote the statement's
        # parameters: the key holds a client's address or a typed username.
        cause = getattr(error.storage_error, "orig", None) or error.storage_error
        if scope not in FAIL_CLOSED_SCOPES:
            logger.warning("rate limit %s not counted, request let through: %r", scope, cause)
            return
        logger.error("rate limit %s not counted, request refused: %r", scope, cause)
        retry_after = UNCOUNTED_RETRY_AFTER_SECONDS
    raise TranslatedError(
        status.HTTP_429_TOO_MANY_REQUESTS, message, headers={"Retry-After": str(retry_after)}
    )


def rate_limit_per_client(setting: str, scope: str, message: str) -> Callable[..., Awaitable[None]]:
    """A route dependency: at most `Settings.<setting>` requests per client address."""

    async def dependency(request: Request, services: ServicesDep) -> None:
        rate_text = getattr(services.settings, setting)
        await hit_rate_limit(services, rate_text, scope, client_address(request), message)

    return dependency


def build_rate_limiter(settings: Settings, engine: Engine) -> RateLimiter:
    """The API process's rate limiter, counting where `settings.rate_limit_storage` says."""
    if settings.rate_limit_storage == "memory":
        return MovingWindowRateLimiter(MemoryStorage())
    return MovingWindowRateLimiter(DatabaseStorage(engine))


class DatabaseStorage(Storage, MovingWindowSupport):
    """A `limits` storage on the read model's database (store/rate_limits.py),
    shared by every replica that uses the database, for the moving window
    strategy that cxloop counts with.

    It lives here rather than in store/ because it speaks the library's
    protocol (its method names, its StorageError, when to sweep), while
    store/rate_limits.py keeps the table's queries, free of the library.

    Database errors come out as limits' StorageError (`wrap_exceptions`), which
    `hit_rate_limit` turns into its fail-open or fail-closed answer."""

    def __init__(self, engine: Engine, sweep_every: float = SWEEP_EVERY_SECONDS) -> None:
        super().__init__(wrap_exceptions=True)
        self.engine = engine
        self.sweep_every = sweep_every
        # Each replica sweeps on its first hit, then every `sweep_every`
        # seconds. Two threads may both find a sweep due: the second deletes
        # nothing, which is cheaper than a lock on every hit.
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self.sweep_every
            rate_limits.sweep_expired(self.engine, now)
        return rate_limits.record_hit_if_room(self.engine, key, limit, amount, now, now + expiry)

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        # (when the window's oldest hit was recorded, how many hits count),
        # as MemoryStorage answers; the strategy adds `expiry` for the reset.
        now = time.time()
        first_expiry, hits = rate_limits.window(self.engine, key, now)
        return (now, 0) if first_expiry is None else (first_expiry - expiry, hits)

    def clear(self, key: str) -> None:
        rate_limits.clear(self.engine, key)

    def reset(self) -> int | None:
        return rate_limits.clear(self.engine)

    def check(self) -> bool:
        try:
            ping(self.engine)
        except SQLAlchemyError:
            return False
        return True

    # The fixed window's counters, which `Storage` declares too: cxloop's
    # limits count with the moving window only, so these refuse rather than
    # count in a way nothing here uses or tests.
    MOVING_WINDOW_ONLY = "DatabaseStorage serves the moving window (MovingWindowRateLimiter) only"

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError(self.MOVING_WINDOW_ONLY)

    def get(self, key: str) -> int:
        raise NotImplementedError(self.MOVING_WINDOW_ONLY)

    def get_expiry(self, key: str) -> float:
        raise NotImplementedError(self.MOVING_WINDOW_ONLY)


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
