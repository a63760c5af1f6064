"""Request and response bodies of the user endpoints. A password hash is
never part of them."""

from __future__ import annotations

from typing import Annotated

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints, computed_field

from api.configuration.fields import Locale, PatchBody, TimeZone, Username
from store.models import UserRole

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "ann",
                    "email": "ann@example.com",
                    "display_name": "Ann Lee",
                    "role": "manager",
                    "locale": "en",
                    "time_zone": "Europe/London",
                }
            ]
        },
    )

    username: Username = Field(description="unique; tickets name their owner by it; cannot be changed later")
    email: EmailStr
    display_name: DisplayName | None = None
    role: UserRole = Field(
        description="admin: everything; manager: their segments' tickets; agent: their own"
    )
    locale: Locale = "en"
    time_zone: TimeZone = Field(default="UTC", description="IANA name, e.g. Europe/Paris")
    password: SecretStr | None = Field(
        default=None, description="for the dashboard's sign-in (10 characters or more); none: API tokens only"
    )


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"password": "correct horse battery"}]})

    password: SecretStr = Field(description="10 characters or more")


class UserPatch(PatchBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"role": "admin", "display_name": "Ann Lee-Smith"}]}
    )
    IMMUTABLE = ("id", "username")
    NOT_NULLABLE = ("email", "role", "locale", "time_zone", "active")

    email: EmailStr | None = None
    display_name: DisplayName | None = Field(default=None, description="null removes it")
    role: UserRole | None = None
    locale: Locale | None = None
    time_zone: TimeZone | None = None
    active: bool | None = Field(
        default=None,
        description="false deactivates the user: signed out, no sign-in, their API tokens refused, no longer "
        "a manager of any segment (refused while escalation rules escalate to them); true brings them back",
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    username: str
    email: str
    display_name: str | None
    role: UserRole
    locale: str
    time_zone: str
    deactivated_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.deactivated_at is None
