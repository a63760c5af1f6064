"""Every configuration endpoint, one router per resource, to include at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth.caller import admin

from api.configuration.alert_rules import router as alert_rules
from api.configuration.escalation_rules import router as escalation_rules
from api.configuration.segments import router as segments
from api.configuration.surveys import router as surveys
from api.configuration.users import router as users
from api.configuration.workspaces import router as workspaces

# Only admins configure (DESIGN.md "Access"); others get 403.
router = APIRouter(dependencies=[Depends(admin)], responses={401: {"description": "not signed in"},
                                                             403: {"description": "not an admin"}})
for resource in (workspaces, users, segments, surveys, alert_rules, escalation_rules):
    router.include_router(resource.router)
