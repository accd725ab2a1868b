"""Engine errors as native-API JSON: ``{"error": {"code", "message", "field", ...}}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tusou import errors as e
from tusou.api.auth.basic import Unauthorized
from tusou.api.payload import UnsupportedContentType

# The HTTP status of each engine error in the native API (vendor faces map on their own).
STATUS: dict[type[e.TusouError], int] = {
    e.InvalidParameter: 400, e.MissingParameter: 400, e.ParameterTooLong: 400,
    UnsupportedContentType: 415, e.EmptyImage: 400, e.InvalidBase64: 400, e.ImageTooLarge: 413,
    e.UndecodableImage: 422, e.UnsupportedImageFormat: 415, e.ImageTypeMismatch: 422,
    e.DecompressionBomb: 422, e.ImageDimensionsInvalid: 422, e.UrlForbidden: 400,
    e.UrlFetchFailed: 502, e.UrlTimeout: 504, e.LibraryNotFound: 404, e.LibraryExists: 409,
    e.ImageNotFound: 404, Unauthorized: 401, e.DuplicateImage: 409, e.FeatureExtractionFailed: 500,
}


def status_of(error: e.TusouError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400 if isinstance(error, e.ImageError) else 500


def error_body(code: str, message: str, field: str | None = None,
               **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field, **details}}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.TusouError)
    async def _engine_error(_: Request, exc: e.TusouError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": 'Basic realm="tusou"'} if status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message, exc.field, **exc.details),
                            status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return JSONResponse(error_body("invalid_parameter", first.get("msg", "invalid request"),
                                       ".".join(loc) or None), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(error_body("internal_error", "internal server error"),
                            status_code=500)
