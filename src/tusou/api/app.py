"""The FastAPI application factory: one engine, every face mounted on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tusou import __version__
from tusou.api import baidu
from tusou.api.errors import install_error_handlers
from tusou.api.metrics import LibraryCollector, Metrics, MetricsMiddleware
from tusou.api.middleware import AccessLogMiddleware, BodyLimitMiddleware, native_refusal
from tusou.api.native import native_router
from tusou.config import Settings
from tusou.engine import Engine


def _refusal(path: str, max_bytes: int) -> tuple[int, dict[str, Any]]:
    """An oversized body answered in the wire format of the face that owns the path."""
    if baidu.owns(path):
        return baidu.too_large()
    return native_refusal(path, max_bytes)


# How long shutdown waits for the opening of a library at start to finish.
_OPENER_GRACE_S = 30.0


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; it owns (and closes) the engine unless one is passed in."""
    settings = settings or Settings.from_env()
    owns_engine = engine is None
    engine = engine or Engine(settings, fill_tables=True)
    metrics = Metrics()
    metrics.registry.register(LibraryCollector(engine))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        opener = threading.Thread(target=engine.open_all, args=(stop,), daemon=True,
                                  name="open-libraries")
        if settings.open_at_start:
            opener.start()
        yield
        stop.set()
        if opener.is_alive():  # opening one library's index: seconds at most
            await run_in_threadpool(opener.join, _OPENER_GRACE_S)
        if owns_engine:
            await run_in_threadpool(engine.close)

    app = FastAPI(title="tusou", version=__version__, lifespan=lifespan,
                  description="Self-hosted image search: native REST API under /v1.")
    install_error_handlers(app)
    app.include_router(native_router(engine, require_auth=settings.native_auth))
    app.include_router(baidu.baidu_router(engine))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        try:
            await run_in_threadpool(engine.store.ping)
        except Exception:
            return JSONResponse({"status": "unavailable", "store": "unreachable"},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(AccessLogMiddleware, logger=logging.getLogger("tusou.access"))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes,
                       refusal=_refusal)
    return app
