"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep

log = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

PROBE_TIMEOUT_SEC = 3.0


@router.get("/liveness")
async def liveness() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readiness")
async def readiness(services: ServicesDep) -> JSONResponse:
    async def temporal() -> None:
        await services.temporal.service_client.check_health()

    async def store() -> None:
        await services.store.ping()

    async def redis() -> None:
        await services.redis.ping()

    checks = await asyncio.gather(
        _check("temporal", temporal), _check("store", store), _check("redis", redis)
    )
    failed = [c["id"] for c in checks if c["status"] != "ok"]
    body: dict[str, Any] = {"status": "fail" if failed else "ok", "checks": checks}
    if failed:
        body["error"] = {"message": f"not ready: {', '.join(failed)}", "details": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


async def _check(name: str, probe: Callable[[], Awaitable[None]]) -> dict[str, str]:
    try:
        await asyncio.wait_for(probe(), PROBE_TIMEOUT_SEC)
    except TimeoutError:
        log.warning("readiness: %s did not answer within %.0f s", name, PROBE_TIMEOUT_SEC)
        return {"id": name, "status": "fail", "reason": "timeout"}
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        # The exception's text (hosts, ports, driver messages) stays in the log: the probe is
        # unauthenticated, so the answer names the dependency and nothing about it.
        log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
        return {"id": name, "status": "fail", "reason": "unavailable"}
    return {"id": name, "status": "ok"}
