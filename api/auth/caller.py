"""The dependencies that authenticate a request and say who may call a route.

- API clients send `Authorization: Bearer cxl_...` (a token created per user).
- The dashboard's browser sends the session cookie; since a browser sends
  cookies to any page that makes it post here, every change made with the
  cookie must also carry the session's CSRF token (the `X-CSRF-Token` header
  from the page's script, or a `csrf_token` form field).

Every route declares one of: `PrincipalDep` (any signed-in user; tickets are
then narrowed to the user's reach), `AdminDep` (configuration), or nothing
for the public routes listed in tests/test_access.py.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.dashboard.i18n import N_
from api.deps import ServicesDep
from api.errors import TranslatedError
from domain.access import Principal
from store import accounts

SESSION_COOKIE = "cxloop_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    principal: Principal
    # The session's CSRF token; None when the caller used a bearer token
    # (a browser never adds one by itself, so there is nothing to forge).
    csrf_token: str | None
    session_token: str | None = None


class SignInRequired(Exception):
    """A dashboard page was asked for without a session: the app answers with
    a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def _unauthenticated(message: str) -> TranslatedError:
    return TranslatedError(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


async def identify(request: Request, services: ServicesDep) -> Caller | None:
    """The caller, or None when the request carries no credentials. Wrong
    credentials are refused (401) rather than treated as none."""
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    caller = None
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthenticated(N_("use 'Authorization: Bearer <token>'"))
        principal = await asyncio.to_thread(accounts.token_principal, services.engine, secret.strip())
        if principal is None:
            raise _unauthenticated(N_("unknown or revoked token"))
        caller = Caller(principal, None)
    elif token := request.cookies.get(SESSION_COOKIE):
        signed_in = await asyncio.to_thread(accounts.session_principal, services.engine, token)
        if signed_in is not None:
            caller = Caller(signed_in.principal, signed_in.csrf_token, token)
    request.state.caller = caller
    return caller


def check_csrf(caller: Caller, sent: str | None) -> None:
    if caller.csrf_token is not None and not secrets.compare_digest(sent or "", caller.csrf_token):
        raise TranslatedError(status.HTTP_403_FORBIDDEN, N_("missing or wrong CSRF token; reload the page"))


# Documents the bearer token in the OpenAPI schema, on every route that
# wants a caller (`identify` reads the header itself: the dashboard's session
# cookie is the other way in, which this would not know about).
BEARER = HTTPBearer(auto_error=False, description="an API token: POST /api/tokens makes one")


async def current_caller(
    request: Request,
    caller: Annotated[Caller | None, Depends(identify)],
    _documented: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Caller:
    if caller is None:
        raise _unauthenticated(N_("sign in: send a bearer token, or use the dashboard"))
    if request.method not in SAFE_METHODS:
        check_csrf(caller, request.headers.get(CSRF_HEADER))
    return caller


async def current_principal(caller: Annotated[Caller, Depends(current_caller)]) -> Principal:
    return caller.principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


async def admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise TranslatedError(status.HTTP_403_FORBIDDEN, N_("only admins may do this"))
    return principal


AdminDep = Annotated[Principal, Depends(admin)]


async def page_caller(request: Request, caller: Annotated[Caller | None, Depends(identify)]) -> Caller:
    """A dashboard page's reader: without a session, off to the sign-in page
    (and back here afterwards). A page's form checks its CSRF field itself."""
    if caller is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(here)
    return caller


PageCallerDep = Annotated[Caller, Depends(page_caller)]
