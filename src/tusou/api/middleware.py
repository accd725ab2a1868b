"""ASGI middleware: the request body cap and the access log."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tusou.api.errors import error_body


class _TooLarge(Exception):
    pass


def native_refusal(_path: str, max_bytes: int) -> tuple[int, dict[str, Any]]:
    return 413, error_body("body_too_large", f"request body is larger than {max_bytes} bytes")


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` before they are buffered.

    Content-Length is checked up front; chunked bodies are counted as they stream in.
    ``refusal(path, max_bytes)`` gives the answer (status, JSON body) in the wire format of
    the face that owns the path; by default the native 413.
    """

    def __init__(self, app: ASGIApp, max_bytes: int,
                 refusal: Callable[[str, int], tuple[int, dict[str, Any]]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal or native_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._reject(scope, send)
            return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                # Whatever the app answers to a body cut short (a framework may turn the
                # error into its own 400), the caller gets the 413 that explains it.
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._reject(scope, send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        status, payload = self.refusal(scope.get("path", ""), self.max_bytes)
        body = json.dumps(payload, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json;charset=utf-8"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class RequestObserver:
    """Runs the app, then reports (scope, status, seconds) to ``observe``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, tracking_send)
        finally:
            self.observe(scope, status[0], time.perf_counter() - started)


class AccessLogMiddleware(RequestObserver):
    """One log line per request: method, path, status, time.

    The query string is left out on purpose: Baidu callers put their access token there.
    """

    def __init__(self, app: ASGIApp, logger: logging.Logger) -> None:
        super().__init__(app)
        self.logger = logger

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        self.logger.info("%s %s %d %.1fms", scope["method"], scope.get("path", ""), status,
                         seconds * 1000)
