"""The FastAPI application: `uvicorn api.app:app` (or `create_app(settings)`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from api import health, metrics
from api.auth import router as auth
from api.auth.caller import SignInRequired
from api.dashboard.i18n import N_
from api.deps import Services
from api.errors import UNAVAILABLE, TranslatedError, answer_in_readers_language, retry_later
from api.limits import BodySizeLimit, build_rate_limiter
from api.configuration import router as configuration
from api.configuration.reply_templates import router as reply_templates
from api.configuration.resolution_reasons import router as resolution_reasons
from api.customer import router as customer
from api.customers import router as customers
from api.dashboard import router as dashboard
from api.dashboard.pages import STATIC_DIR, STATIC_PATH
from api.intake import router as intake
from api.tickets import router as tickets
from observability import configure_logging
from settings import Settings, get_settings
from store.db import is_transient, make_engine
from store.tickets import TicketStore

DESCRIPTION = """
Closed-loop customer-experience tickets. Every ticket is a Temporal workflow;
changes go to it as updates and are answered once the read model holds them,
so a client reads its own writes. Every endpoint but the health check, the
signed intake and the sign-in wants `Authorization: Bearer <token>` (POST
/api/tokens makes one). Errors are `{"detail": ...}`: 401 not signed in,
403 not allowed, 404 unknown (or outside your reach),
409 not allowed from the current status, 413 body too large, 422 invalid input,
503 Temporal or the database unavailable for a moment (retry after Retry-After).
A `detail` in words is in the language of Accept-Language (English when none
is asked for or cxloop does not speak it), named by Content-Language.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # lazy: the API starts (and /healthz says 503) while Temporal is down.
        temporal = await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=pydantic_data_converter,
            lazy=True,
        )
        engine = make_engine(settings.database_url)
        app.state.services = Services(
            settings=settings, temporal=temporal, engine=engine, tickets=TicketStore(engine),
            rate_limiter=build_rate_limiter(settings, engine),
        )
        try:
            yield
        finally:
            engine.dispose()

    # UNAVAILABLE: the handlers below answer 503 to any route whose database
    # or Temporal did not answer.
    app = FastAPI(
        title="cxloop", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, responses=UNAVAILABLE
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so outermost: it also counts the 413s refused above.
    metrics.instrument(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(tickets.router)
    app.include_router(intake.router)
    app.include_router(configuration.router)
    app.include_router(reply_templates.router)
    app.include_router(resolution_reasons.router)
    app.include_router(dashboard.router)
    app.include_router(customer.router)
    app.include_router(customers.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-static")

    app.add_exception_handler(TranslatedError, answer_in_readers_language)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, missing: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?{urlencode({'next': missing.next_url})}", status_code=303)

    @app.exception_handler(RPCError)
    async def temporal_unavailable(request: Request, error: RPCError) -> JSONResponse:
        if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return await answer_in_readers_language(request, retry_later(N_("Temporal is unavailable; retry later")))
        raise error

    @app.exception_handler(StarletteHTTPException)
    async def method_not_allowed(request: Request, error: StarletteHTTPException) -> Response:
        # Starlette's 405 names the methods of the first route matching the
        # path; a resource served by several routes (GET and PATCH of a
        # ticket) accepts the methods of them all: those of every route with
        # the path template of the first that matches.
        if error.status_code == 405:
            path = request.scope["path"]
            routes = [route for route in iter_route_contexts(app.routes) if route.path and route.methods]
            template = next((r.path for r in routes if compile_path(r.path)[0].match(path)), None)
            allowed = {method for route in routes if route.path == template for method in route.methods}
            error.headers = {**(error.headers or {}), "Allow": ", ".join(sorted(allowed))}
        return await http_exception_handler(request, error)

    @app.exception_handler(SQLAlchemyError)
    async def database_unavailable(request: Request, error: SQLAlchemyError) -> JSONResponse:
        # A failure of the moment (a lock held past the busy timeout, a lost
        # serialization race, a connection refused or cut) is the client's to
        # retry; anything else is a bug, answered 500.
        if is_transient(error):
            busy = retry_later(N_("the database is busy or unavailable; retry in a moment"))
            return await answer_in_readers_language(request, busy)
        raise error

    return app


def __getattr__(name: str):
    # `uvicorn api.app:app` builds the app from the environment on first use,
    # and the API process logs in the configured format from then on.
    if name == "app":
        settings = get_settings()
        configure_logging(settings.log_format)
        return create_app(settings)
    raise AttributeError(name)
