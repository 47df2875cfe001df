"""The HTTP API: `create_app()` for tests and servers, `main()` to serve it with uvicorn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api import errors, openapi
from api.deps import Services
from api.guard import Guard
from api.routes import acs, analytics, calls, campaigns, codec, health, report, sms
from core import logs, tracing
from core.settings import Settings, get_settings
from core.stores import open_redis, open_store
from core.temporal import connect


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The app; `services` lets tests inject already-open clients."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        conf = settings or get_settings()
        async with AsyncExitStack() as stack:
            redis = open_redis(conf.redis)
            stack.push_async_callback(redis.aclose)
            store = await open_store(conf.store)
            stack.push_async_callback(store.close)
            temporal = await connect(conf.temporal)
            app.state.services = Services(conf, temporal, store, redis)
            yield

    known = settings or (services.settings if services is not None else None)
    # In production the schema and its pages are off: they map every route for a visitor.
    # Elsewhere the guard keeps them behind the API key like the routes they describe.
    docs = known is None or known.environment != "prod"
    app = FastAPI(
        title="callcenter",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    if services is not None:
        app.state.services = services
    errors.install(app)
    openapi.install(app, known.api.key_header if known is not None else "X-API-Key")
    app.add_middleware(Guard)
    app.include_router(health.router)
    app.include_router(calls.router)
    app.include_router(acs.router)
    app.include_router(campaigns.router)  # before report: /report/campaigns/{id}
    app.include_router(report.router)
    app.include_router(analytics.router)
    app.include_router(analytics.signed_router)
    app.include_router(sms.router)
    app.include_router(codec.router)
    return app


def main() -> None:
    logs.setup()
    tracing.configure("callcenter-api")  # uvicorn's shutdown ends the process; spans are batched
    settings = get_settings()  # fails fast, before binding, on invalid configuration
    uvicorn.run(
        create_app(settings),
        host=settings.api.host,
        port=settings.api.port,
        log_level=os.environ.get("LOG_LEVEL", "info").lower(),
        log_config=logs.uvicorn_log_config(),  # the access log without secrets or numbers
    )


if __name__ == "__main__":
    main()
