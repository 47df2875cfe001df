"""The HTTP API: `create_app()` for tests and servers, `main()` to serve it with uvicorn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from fastapi import FastAPI

from api import errors
from api.deps import Services
from api.routes import acs, calls, codec, health, report, sms
from core import logs
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

    app = FastAPI(title="callcenter", version="0.1.0", lifespan=lifespan)
    if services is not None:
        app.state.services = services
    errors.install(app)
    app.include_router(health.router)
    app.include_router(calls.router)
    app.include_router(acs.router)
    app.include_router(report.router)
    app.include_router(sms.router)
    app.include_router(codec.router)
    return app


def main() -> None:
    logs.setup()
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
