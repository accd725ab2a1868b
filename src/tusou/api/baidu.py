"""The Baidu image-search face (``aip.AipImageSearch``): vendor paths, auth and error codes.

Only translation lives here: form fields to engine calls, engine errors to Baidu's
``{log_id, error_code, error_msg}`` (always HTTP 200). Each app (API key) owns one library
of each kind, created on first use.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from tusou import errors as e
from tusou.api.auth.bce import SignatureRejected, verify_bce
from tusou.api.payload import read_form
from tusou.engine import Engine, ImageSource, Library, make_filter, parse_tags, validate_page
from tusou.engine.credentials import TokenExpired, TokenInvalid
from tusou.engine.params import parse_class_ids
from tusou.images.limits import BASE_FORMATS

log = logging.getLogger(__name__)

# Baidu accepts jpg, png and bmp only (the engine decodes more for other faces).
BAIDU_FORMATS = BASE_FORMATS

# kind -> the vendor's path prefix for that library
PREFIXES: dict[str, str] = {
    "same": "/rest/2.0/realtime_search/same_hq",
    "similar": "/rest/2.0/image-classify/v1/realtime_search/similar",
    "product": "/rest/2.0/image-classify/v1/realtime_search/product",
    "picturebook": "/rest/2.0/imagesearch/v1/realtime_search/picturebook",
    "fabric": "/rest/2.0/image-classify/v1/realtime_search/materiel",
}

TOKEN_SCOPE = "public brain_all_scope brain_imgsearch"
JSON_UTF8 = "application/json;charset=utf-8"


class BaiduError(Exception):
    def __init__(self, code: int, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.code, self.msg, self.extra = code, msg, extra


# Engine errors -> (error_code, error_msg), most specific first.
_ERRORS: list[tuple[type[e.TusouError], int, str]] = [
    (e.DuplicateImage, 216681, "item has existed"),
    (e.ParameterTooLong, 216103, "param too long"),
    (e.MissingParameter, 216101, "not enough param"),
    (e.EmptyImage, 216200, "empty image"),
    (e.InvalidBase64, 216203, "image size error"),
    (e.UnsupportedImageFormat, 216201, "image format error"),
    (e.UndecodableImage, 216201, "image format error"),
    (e.ImageTypeMismatch, 216201, "image format error"),
    (e.ImageTooLarge, 216202, "image size error"),
    (e.ImageDimensionsInvalid, 216202, "image size error"),
    (e.DecompressionBomb, 216202, "image size error"),
    (e.UrlTimeout, 282112, "url download timeout"),
    (e.UrlFetchFailed, 282113, "url response invalid"),
    (e.UrlForbidden, 282113, "url response invalid"),
    (e.FeatureExtractionFailed, 216630, "recognize error"),
    (e.ImageNotFound, 216100, "invalid param"),
    (e.InvalidParameter, 216100, "invalid param"),
]


def baidu_error(error: e.TusouError, *, from_url: bool = False) -> BaiduError:
    """The Baidu code of an engine error. What a URL served that is no image (an HTML page,
    an empty body) is the URL's fault: "url response invalid"."""
    if from_url and isinstance(error, (e.UndecodableImage, e.EmptyImage, e.ImageTypeMismatch)):
        return BaiduError(282113, "url response invalid")
    for cls, code, msg in _ERRORS:
        if isinstance(error, cls):
            if code == 216101 and error.field:
                msg = f"param {error.field} not exist"
            extra = {"cont_sign": error.cont_sign} if isinstance(error, e.DuplicateImage) else {}
            return BaiduError(code, msg, **extra)
    return BaiduError(282000, "internal error")


def _log_id() -> int:
    return secrets.randbits(63)


def _answer(body: dict[str, Any]) -> JSONResponse:
    # The SDK json-loads every body; Baidu labels them with the charset.
    return JSONResponse({"log_id": _log_id(), **body}, media_type=JSON_UTF8)


def owns(path: str) -> bool:
    """Whether a request path belongs to this face (for answers made outside its routes)."""
    return path.startswith(("/rest/", "/rpc/", "/oauth/"))


def too_large() -> tuple[int, dict[str, Any]]:
    """An oversized body, in Baidu's shape: the image is what makes a body large."""
    return 200, {"log_id": _log_id(), "error_code": 216202, "error_msg": "image size error"}


# --- form fields -----------------------------------------------------------------------


class Form:
    """Query string and form body merged (the body wins), as Baidu reads them."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def source(self) -> ImageSource:
        """``image`` (base64) wins over ``url``; a present but empty image is an error."""
        image = self.get("image")
        if image is not None:
            if not image.strip():
                raise e.EmptyImage("image is empty", field="image")
            return ImageSource(base64=image)
        url = self.get("url")
        if url:
            return ImageSource(url=url)
        raise e.MissingParameter("param image not exist", field="image")

    @property
    def uses_url(self) -> bool:
        return self.get("image") is None and bool(self.get("url"))

    def has_image(self) -> bool:
        return self.get("image") is not None or bool(self.get("url"))

    def tags(self) -> tuple[int, ...]:
        return parse_tags(self.get("tags"))

    def class_ids(self) -> tuple[int | None, int | None] | None:
        return parse_class_ids(self.get("class_id1"), self.get("class_id2"))

    def labels(self, library: Library) -> dict[str, Any]:
        """The labels the library's kind takes (Baidu ignores the other kind's fields)."""
        if library.spec.filter_style == "class_ids":
            return {"class_ids": self.class_ids()}
        return {"tags": self.tags()}


# --- operations ----------------------------------------------------------------------------


def _add(library: Library, form: Form) -> dict[str, Any]:
    record = library.add(form.source(), brief=form.get("brief"), formats=BAIDU_FORMATS,
                         **form.labels(library))
    return {"cont_sign": record.cont_sign}


def _search(library: Library, form: Form) -> dict[str, Any]:
    logic = {"0": "and", "1": "or", None: "and", "": "and"}.get(form.get("tag_logic"))
    if logic is None:
        raise e.InvalidParameter("tag_logic must be 0 or 1", field="tag_logic")
    tag_filter = make_filter(library.spec, logic=logic, **form.labels(library))
    page = validate_page(form.get("pn"), form.get("rn"))
    result = library.search(form.source(), tag_filter=tag_filter, page=page,
                            formats=BAIDU_FORMATS)
    hits = [{"score": h.score, "brief": h.image.brief, "cont_sign": h.cont_sign}
            for h in result.hits]
    return {"result_num": len(hits), "result": hits, "has_more": result.has_more}


def _target(library: Library, form: Form) -> str:
    """update / delete address one image: image > url > cont_sign."""
    source = form.source() if form.has_image() else ImageSource()
    return library.target(source, form.get("cont_sign"), BAIDU_FORMATS)


def _update(library: Library, form: Form) -> dict[str, Any]:
    sign = _target(library, form)
    labels = form.labels(library)
    changed = {k: v for k, v in labels.items() if v}
    library.update(sign, brief=form.get("brief"), **changed)
    return {}


def _delete(library: Library, form: Form) -> dict[str, Any]:
    if form.has_image() or not form.get("cont_sign"):
        signs = [_target(library, form)]
    else:
        signs = library.batch(form.get("cont_sign") or "")
    # Unknown signatures are not an error (the vendor deletes lazily and says nothing).
    library.delete(signs)
    return {}


OPERATIONS: dict[str, Callable[[Library, Form], dict[str, Any]]] = {
    "add": _add, "search": _search, "update": _update, "delete": _delete}


# --- authentication --------------------------------------------------------------------


def _authenticate(engine: Engine, request: Request, form: Form) -> str:
    # Query and body are merged (the vendor documents the token in the query).
    token = form.get("access_token")
    if token is not None:
        if not token.strip() or len(token) > 512:
            raise BaiduError(100, "Invalid parameter")
        try:
            return engine.credentials.resolve_token(token)
        except TokenExpired:
            raise BaiduError(111, "Access token expired") from None
        except TokenInvalid:
            raise BaiduError(110, "Access token invalid or no longer valid") from None
    if request.headers.get("authorization", "").startswith("bce-auth-v1/"):
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            return verify_bce(request.method, request.url.path,
                              request.scope.get("query_string", b"").decode("latin-1"),
                              headers, engine.credentials.secret)
        except SignatureRejected as exc:
            log.info("bce-auth-v1 rejected: %s", exc)
            raise BaiduError(14, "IAM Certification failed") from None
    raise BaiduError(100, "Invalid parameter")


def _library_name(api_key: str, kind: str) -> str:
    return f"baidu.{hashlib.sha256(api_key.encode()).hexdigest()[:16]}.{kind}"


async def _read_form(request: Request) -> Form:
    fields = dict(request.query_params)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await read_form(request, max_files=0, max_fields=64)
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    return Form(fields)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, media_type=JSON_UTF8)


async def _unsupported(request: Request) -> JSONResponse:
    return _answer({"error_code": 3, "error_msg": "Unsupported openapi method"})


# --- routes -----------------------------------------------------------------------------


def baidu_router(engine: Engine) -> APIRouter:
    router = APIRouter(tags=["baidu"], include_in_schema=True)

    def run(kind: str, operation: str, api_key: str, form: Form) -> dict[str, Any]:
        library = engine.ensure_library(_library_name(api_key, kind), kind,
                                        attrs={"face": "baidu", "api_key": api_key})
        return OPERATIONS[operation](library, form)

    def endpoint(kind: str, operation: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> JSONResponse:
            form = Form({})
            try:
                form = await _read_form(request)
                api_key = await run_in_threadpool(_authenticate, engine, request, form)
                body = await run_in_threadpool(run, kind, operation, api_key, form)
            except BaiduError as exc:
                return _answer({"error_code": exc.code, "error_msg": exc.msg, **exc.extra})
            except e.TusouError as exc:
                err = baidu_error(exc, from_url=form.uses_url)
                return _answer({"error_code": err.code, "error_msg": err.msg, **err.extra})
            except Exception:
                log.exception("baidu %s/%s failed", kind, operation)
                return _answer({"error_code": 282000, "error_msg": "internal error"})
            return _answer(body)
        handle.__name__ = f"baidu_{kind}_{operation}"
        return handle

    for kind, prefix in PREFIXES.items():
        for operation in OPERATIONS:
            router.add_api_route(f"{prefix}/{operation}", endpoint(kind, operation),
                                 methods=["POST"], summary=f"Baidu {kind} {operation}")

    @router.api_route("/oauth/2.0/token", methods=["GET", "POST"])
    async def token(request: Request) -> JSONResponse:
        try:
            form = await _read_form(request)
        except e.TusouError:
            form = Form({})
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type",
                                "The authorization grant type is not supported")
        api_key, secret = form.get("client_id") or "", form.get("client_secret") or ""
        if await run_in_threadpool(engine.credentials.secret, api_key) is None:
            return _oauth_error(401, "invalid_client", "unknown client id")
        if not await run_in_threadpool(engine.credentials.check_secret, api_key, secret):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        issued = await run_in_threadpool(engine.credentials.issue_token, api_key, "24.")
        return JSONResponse({
            "access_token": issued.token, "expires_in": issued.expires_in,
            "refresh_token": f"25.{secrets.token_urlsafe(24)}", "scope": TOKEN_SCOPE,
            "session_key": secrets.token_urlsafe(16), "session_secret": secrets.token_hex(16)},
            media_type=JSON_UTF8)

    # Everything else under the vendor's prefixes (the SDK's feedback report included).
    for pattern in ("/rest/{rest:path}", "/rpc/{rest:path}"):
        router.add_api_route(pattern, _unsupported, include_in_schema=False,
                             methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])

    return router
