"""/api/users: list, create, read, change, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.auth.caller import PrincipalDep
from api.configuration.fields import CONFLICT, NOT_FOUND, UNPROCESSABLE
from api.configuration.service import in_store, refusal, roll_out
from api.configuration.users.schemas import PasswordSet, UserCreate, UserOut, UserPatch
from api.dashboard.i18n import N_
from api.deps import ServicesDep
from api.errors import TranslatedError
from store import accounts
from store import configuration as store

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", summary="List users")
async def list_users(services: ServicesDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await in_store(store.list_users, services.engine)]


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Create a user", responses={**CONFLICT, **UNPROCESSABLE}
)
async def create_user(body: UserCreate, services: ServicesDep) -> UserOut:
    fields = body.model_dump(exclude={"password"})
    fields["email"] = str(body.email)
    password = body.password.get_secret_value() if body.password is not None else None
    if password is not None:
        check_strength(password)
    user = await in_store(store.create_user, services.engine, **fields)
    if password is not None:
        await in_store(accounts.set_password, services.engine, user.id, password)
    return UserOut.model_validate(user)


@router.put(
    "/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a user's dashboard password (signs out their browsers)",
    responses={**NOT_FOUND, **UNPROCESSABLE},
)
async def set_user_password(user_id: str, body: PasswordSet, services: ServicesDep) -> Response:
    password = body.password.get_secret_value()
    check_strength(password)
    await in_store(store.get_user, services.engine, user_id)  # 404 for an unknown user
    await in_store(accounts.set_password, services.engine, user_id, password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def check_strength(password: str) -> None:
    try:
        accounts.check_password_strength(password)
    except accounts.AccountError as weak:
        raise refusal(weak) from None


@router.get("/{user_id}", summary="One user", responses=NOT_FOUND)
async def get_user(user_id: str, services: ServicesDep) -> UserOut:
    return UserOut.model_validate(await in_store(store.get_user, services.engine, user_id))


@router.patch(
    "/{user_id}",
    summary="Change a user's email, display name, role, locale or time zone, or deactivate them",
    description="`active: false` signs the user out and refuses their sign-in and tokens; the segments "
    "they managed lose them, and those workspaces' tickets are told before the answer.",
    responses={**NOT_FOUND, **CONFLICT, **UNPROCESSABLE},
)
async def update_user(user_id: str, body: UserPatch, services: ServicesDep, principal: PrincipalDep) -> UserOut:
    changes = body.changes()
    if "email" in changes:
        changes["email"] = str(changes["email"])
    if changes.get("active") is False and user_id == principal.user_id:
        # An admin who shuts themselves out may leave nobody to undo it.
        raise TranslatedError(status.HTTP_422_UNPROCESSABLE_CONTENT, N_("you cannot deactivate yourself"))
    user, workspaces = await in_store(store.update_user, services.engine, user_id, changes)
    await roll_out(services, *workspaces)
    return UserOut.model_validate(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (and their place among segment managers)",
    description="Refused (409) while escalation rules escalate to the user. The segments they "
    "managed lose them, and those workspaces' tickets are told before the answer.",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_user(user_id: str, services: ServicesDep) -> Response:
    workspaces = await in_store(store.delete_user, services.engine, user_id)
    await roll_out(services, *workspaces)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
