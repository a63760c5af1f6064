"""Signing in and out of the dashboard, the caller's own account, and API tokens."""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.auth.caller import SESSION_COOKIE, PageCallerDep, PrincipalDep, check_csrf
from api.configuration.fields import NO_CONTROL_CHARACTERS, Label
from api.configuration.service import in_store, refusal
from api.dashboard.i18n import N_
from api.dashboard.pages import Reader, render, safe_next
from api.deps import ServicesDep
from api.errors import BODY_ERRORS, Problem, TranslatedError, error_responses
from api.limits import client_address, hit_rate_limit
from domain.access import Principal, Role
from store import accounts
from store import configuration

router = APIRouter()

# The sign-in form's CSRF token before there is a session: the same random
# value in a cookie and in the form (double submit), so that another site
# cannot sign a browser in as someone else.
LOGIN_CSRF_COOKIE = "cxloop_login_csrf"
TOO_MANY_ATTEMPTS = N_("too many sign-in attempts; wait a minute and try again")


# --- dashboard sign-in -----------------------------------------------------------------


def _login_page(request: Request, next_url: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    # Kept while the cookie lives, so that two sign-in tabs both work.
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, Reader.of(request), "login.html", status_code=status_code,
        view="login", next_url=next_url, login_csrf=csrf, error=error,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/login")
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str = "/dashboard") -> HTMLResponse:
    return _login_page(request, safe_next(next))


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/dashboard",
) -> Response:
    next_url = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token, expected):
        return _login_page(request, next_url, "csrf", status.HTTP_403_FORBIDDEN)
    settings = services.settings
    try:
        # Per address (one client guessing) and per username (many guessing one).
        await hit_rate_limit(
            services, settings.login_rate_limit, "login-address", client_address(request), TOO_MANY_ATTEMPTS
        )
        await hit_rate_limit(
            services, settings.login_rate_limit, "login-user", username.strip().lower(), TOO_MANY_ATTEMPTS
        )
    except HTTPException as refused:
        page = _login_page(request, next_url, "rate", status.HTTP_429_TOO_MANY_REQUESTS)
        page.headers.update(refused.headers or {})
        return page
    principal = await asyncio.to_thread(accounts.authenticate, services.engine, username.strip(), password)
    if principal is None:
        return _login_page(request, next_url, "credentials", status.HTTP_401_UNAUTHORIZED)
    token, _ = await asyncio.to_thread(
        accounts.open_session, services.engine, principal.user_id, timedelta(hours=settings.session_hours)
    )
    response = RedirectResponse(next_url, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=settings.session_hours * 3600,
        httponly=True, samesite="lax", secure=settings.cookie_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(
    caller: PageCallerDep, services: ServicesDep, csrf_token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    check_csrf(caller, csrf_token)
    if caller.session_token is not None:
        await asyncio.to_thread(accounts.close_session, services.engine, caller.session_token)
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- the caller's own account ----------------------------------------------------------


class Me(BaseModel):
    id: str
    username: str
    role: Role
    # workspace id -> the segments the user is a manager of there
    segments: dict[str, list[str]]


@router.get(
    "/api/me", tags=["account"], summary="Who the credentials belong to, and their segments",
    responses=error_responses(401),
)
async def me(principal: PrincipalDep) -> Me:
    return Me(
        id=principal.user_id, username=principal.username, role=principal.role,
        segments={workspace: sorted(names) for workspace, names in principal.segments.items()},
    )


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: SecretStr
    new_password: SecretStr = Field(description="10 characters or more")


@router.put(
    "/api/me/password", status_code=status.HTTP_204_NO_CONTENT, tags=["account"],
    summary="Change one's own password (signs out every browser)",
    responses={
        **error_responses(*BODY_ERRORS, 401),
        403: {"model": Problem, "description": "the current password is wrong"},
    },
)
async def change_my_password(body: PasswordChange, principal: PrincipalDep, services: ServicesDep) -> Response:
    current = await asyncio.to_thread(
        accounts.authenticate, services.engine, principal.username, body.current_password.get_secret_value()
    )
    if current is None:
        raise TranslatedError(status.HTTP_403_FORBIDDEN, N_("the current password is wrong"))
    try:
        await asyncio.to_thread(
            accounts.set_password, services.engine, principal.user_id, body.new_password.get_secret_value()
        )
    except accounts.AccountError as weak:
        raise refusal(weak) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- API tokens ------------------------------------------------------------------------


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "CRM sync"}]}
    )

    name: Label = Field(default="", description="what the token is for")
    user_id: str | None = Field(default=None, description="admins only: a token for another user")


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="the bearer token; shown this once, only its hash is kept")


@router.get(
    "/api/tokens", tags=["account"], summary="One's API tokens (an admin: anyone's, with user_id)",
    responses=error_responses(401, 403, 422),
)
async def list_tokens(
    principal: PrincipalDep, services: ServicesDep,
    user_id: Annotated[str | None, Query(pattern=NO_CONTROL_CHARACTERS)] = None,
) -> list[TokenOut]:
    if user_id is None:
        user_id = principal.user_id
    elif user_id != principal.user_id and not principal.is_admin:
        raise TranslatedError(status.HTTP_403_FORBIDDEN, N_("only admins see other users' tokens"))
    rows = await asyncio.to_thread(accounts.list_tokens, services.engine, user_id)
    return [TokenOut.model_validate(row) for row in rows]


@router.post(
    "/api/tokens", status_code=status.HTTP_201_CREATED, tags=["account"],
    summary="Create an API token (for oneself; an admin: for anyone)",
    responses=error_responses(*BODY_ERRORS, 401, 403, 404),
)
async def create_token(body: TokenCreate, principal: PrincipalDep, services: ServicesDep) -> NewToken:
    user_id = body.user_id or principal.user_id
    if user_id != principal.user_id:
        if not principal.is_admin:
            raise TranslatedError(status.HTTP_403_FORBIDDEN, N_("only admins create tokens for other users"))
        await in_store(configuration.get_user, services.engine, user_id)  # 404 when unknown
    # in_store: a user deleted meanwhile is a 404, not a 500.
    row, secret = await in_store(accounts.create_token, services.engine, user_id, body.name)
    return NewToken.model_validate({**TokenOut.model_validate(row).model_dump(), "token": secret})


@router.delete(
    "/api/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["account"],
    summary="Revoke an API token (one's own; an admin: anyone's)",
    responses=error_responses(401, 404, 422),
)
async def revoke_token(token_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    # No token id has a NUL, which PostgreSQL would refuse in the lookup.
    row = None if "\x00" in token_id else await asyncio.to_thread(accounts.get_token, services.engine, token_id)
    if row is None or not _may_manage(principal, row.user_id):
        raise TranslatedError(status.HTTP_404_NOT_FOUND, N_("token not found"))
    await asyncio.to_thread(accounts.revoke_token, services.engine, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _may_manage(principal: Principal, user_id: str) -> bool:
    return principal.is_admin or principal.user_id == user_id

