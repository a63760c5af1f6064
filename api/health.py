"""GET /healthz: 200 when Temporal and the database answer, 503 otherwise."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from store.db import ping

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", summary="Is cxloop able to serve?",
    responses={503: {"description": "Temporal or the database does not answer"}},
)
async def healthz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(services.temporal.service_client.check_health(), timeout=3)
        checks["temporal"] = "ok"
    except Exception as error:  # any failure means "not healthy", with the reason shown
        checks["temporal"] = f"unavailable: {error.__class__.__name__}"
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, services.engine), timeout=3)
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"unavailable: {error.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", **checks}, status_code=200 if healthy else 503)
