"""The native REST API under ``/v1``: a thin translation of HTTP to engine calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from tusou.api.auth.basic import check_basic
from tusou.api.payload import Payload, read_payload
from tusou.engine import KINDS, Engine, Library, SearchPage, make_filter, parse_tags, validate_page
from tusou.engine.params import parse_class_ids, validate_threshold
from tusou.errors import ImageNotFound
from tusou.images.signature import parse_cont_sign
from tusou.store import ImageRecord, LibraryRecord

_IMAGE_BODY = {"requestBody": {"content": {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}, "brief": {"type": "string"},
        "tags": {"type": "string", "description": "up to two integers, '1,2'"}}}},
    "application/json": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "description": "base64 (a data: prefix is stripped)"},
        "url": {"type": "string"}, "brief": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "integer"}}}}}}}}


# --- response shapes --------------------------------------------------------------------


class LimitsOut(BaseModel):
    min_side: int
    max_side: int
    max_aspect: float | None
    formats: list[str]
    max_base64_chars: int


class LibraryOut(BaseModel):
    name: str
    kind: str
    description: str
    store_originals: bool
    image_count: int
    created_at: datetime
    pipeline: str
    filter: str = Field(description="'tags' (tags + tag_logic) or 'class_ids' (class_id1/2)")
    default_threshold: float
    verified_only: bool
    max_batch_delete: int
    limits: LimitsOut


class LibraryListOut(BaseModel):
    libraries: list[LibraryOut]


class ImageOut(BaseModel):
    cont_sign: str
    brief: str
    tags: list[int] | None = Field(None, description="tag libraries")
    class_id1: int | None = None
    class_id2: int | None = None
    width: int
    height: int
    format: str
    region: list[int] | None = None
    created_at: datetime
    updated_at: datetime


class ImageListOut(BaseModel):
    images: list[ImageOut]
    offset: int
    limit: int


class ResultOut(BaseModel):
    cont_sign: str
    score: float
    brief: str
    tags: list[int] | None = Field(None, description="tag libraries")
    class_id1: int | None = None
    class_id2: int | None = None
    box: list[int] | None = Field(None, description="matched region in the library image")
    inliers: int | None = Field(None, description="verified keypoints")


class SearchOut(BaseModel):
    results: list[ResultOut]
    has_more: bool
    query_region: list[int] | None = None


class DeleteOut(BaseModel):
    deleted: list[str]
    not_found: list[str]


class LibraryIn(BaseModel):
    name: str
    kind: str = Field(description=" | ".join(KINDS))
    description: str = ""
    store_originals: bool = False


class ImagePatch(BaseModel):
    brief: str | None = None
    tags: list[int] | str | None = None
    class_id1: int | None = None
    class_id2: int | None = None


# --- translation helpers -----------------------------------------------------------------


def library_out(record: LibraryRecord) -> LibraryOut:
    spec = KINDS[record.kind]
    limits = spec.limits
    return LibraryOut(
        name=record.name, kind=record.kind, description=record.description,
        store_originals=record.store_originals, image_count=record.image_count,
        created_at=record.created_at, pipeline=record.pipeline, filter=spec.filter_style,
        default_threshold=spec.default_threshold, verified_only=spec.verified_only,
        max_batch_delete=spec.max_batch_delete,
        limits=LimitsOut(min_side=limits.min_side, max_side=limits.max_side,
                         max_aspect=limits.max_aspect, formats=sorted(limits.formats),
                         max_base64_chars=limits.max_base64_chars))


def _labels(library: Library, record: ImageRecord) -> dict[str, Any]:
    if library.spec.filter_style == "class_ids":
        return {"class_id1": record.class_ids[0], "class_id2": record.class_ids[1]}
    return {"tags": list(record.tags)}


def image_out(library: Library, record: ImageRecord) -> ImageOut:
    return ImageOut(cont_sign=record.cont_sign, brief=record.brief, width=record.width,
                    height=record.height, format=record.image_format,
                    region=list(record.region) if record.region else None,
                    created_at=record.created_at, updated_at=record.updated_at,
                    **_labels(library, record))


def search_out(library: Library, page: SearchPage) -> SearchOut:
    return SearchOut(
        results=[ResultOut(cont_sign=h.cont_sign, score=h.score, brief=h.image.brief,
                           box=list(h.box) if h.box else None, inliers=h.inliers,
                           **_labels(library, h.image)) for h in page.hits],
        has_more=page.has_more,
        query_region=list(page.query_region) if page.query_region else None)


def _class_ids(payload: Payload) -> tuple[int | None, int | None] | None:
    return parse_class_ids(payload.value("class_id1"), payload.value("class_id2"))


def _tags(payload: Payload) -> tuple[int, ...]:
    return parse_tags(payload.value("tags"))


def _target(library: Library, payload: Payload) -> str:
    return library.target(payload.source(), payload.text("cont_sign"))


# --- routes ------------------------------------------------------------------------------


def native_router(engine: Engine, *, require_auth: bool = False) -> APIRouter:
    async def authenticate(request: Request) -> None:
        if require_auth:
            await run_in_threadpool(check_basic, request, engine.credentials)

    router = APIRouter(prefix="/v1", tags=["native"], dependencies=[Depends(authenticate)])

    def lib(name: str) -> Library:
        return engine.library(name)

    async def open_request(name: str, request: Request) -> tuple[Payload, Library]:
        payload = await read_payload(request)
        return payload, await run_in_threadpool(lib, name)

    @router.post("/libraries", status_code=201, response_model=LibraryOut)
    async def create_library(body: LibraryIn) -> LibraryOut:
        record = await run_in_threadpool(engine.create_library, body.name, body.kind,
                                         store_originals=body.store_originals,
                                         description=body.description)
        return library_out(record)

    @router.get("/libraries", response_model=LibraryListOut)
    async def list_libraries() -> LibraryListOut:
        records = await run_in_threadpool(engine.libraries)
        return LibraryListOut(libraries=[library_out(r) for r in records])

    @router.get("/libraries/{name}", response_model=LibraryOut)
    async def get_library(name: str) -> LibraryOut:
        return library_out(await run_in_threadpool(engine.describe_library, name))

    @router.delete("/libraries/{name}", status_code=204)
    async def delete_library(name: str) -> Response:
        await run_in_threadpool(engine.delete_library, name)
        return Response(status_code=204)

    @router.post("/libraries/{name}/images", status_code=201, response_model=ImageOut,
                 response_model_exclude_none=True,
                 openapi_extra=_IMAGE_BODY)
    async def add_image(name: str, request: Request) -> ImageOut:
        payload, library = await open_request(name, request)
        record = await run_in_threadpool(
            lambda: library.add(payload.source(), brief=payload.text("brief"),
                                tags=_tags(payload), class_ids=_class_ids(payload)))
        return image_out(library, record)

    @router.get("/libraries/{name}/images", response_model=ImageListOut,
                 response_model_exclude_none=True)
    async def list_images(name: str, offset: int = Query(0, ge=0),
                          limit: int = Query(100, ge=1, le=1000)) -> ImageListOut:
        library = await run_in_threadpool(lib, name)
        records = await run_in_threadpool(lambda: library.list_images(offset=offset, limit=limit))
        return ImageListOut(images=[image_out(library, r) for r in records], offset=offset,
                            limit=limit)

    @router.post("/libraries/{name}/search", response_model=SearchOut,
                 response_model_exclude_none=True,
                 openapi_extra=_IMAGE_BODY)
    async def search(name: str, request: Request) -> SearchOut:
        payload, library = await open_request(name, request)
        logic = str(payload.value("tag_logic") or "and").lower()
        tag_filter = make_filter(library.spec, tags=_tags(payload), logic=logic,
                                 class_ids=_class_ids(payload))
        page = validate_page(payload.value("pn"), payload.value("rn"))
        threshold = validate_threshold(payload.value("threshold"))
        result = await run_in_threadpool(lambda: library.search(
            payload.source(), tag_filter=tag_filter, page=page, threshold=threshold))
        return search_out(library, result)

    @router.post("/libraries/{name}/images/update", response_model=ImageOut,
                 response_model_exclude_none=True,
                 openapi_extra=_IMAGE_BODY)
    async def update_by_image(name: str, request: Request) -> ImageOut:
        payload, library = await open_request(name, request)
        sign = await run_in_threadpool(_target, library, payload)
        tags = _tags(payload) if payload.value("tags") is not None else None
        record = await run_in_threadpool(lambda: library.update(
            sign, brief=payload.text("brief"), tags=tags, class_ids=_class_ids(payload)))
        return image_out(library, record)

    @router.post("/libraries/{name}/images/delete", response_model=DeleteOut,
                 openapi_extra=_IMAGE_BODY)
    async def delete_images(name: str, request: Request) -> DeleteOut:
        payload, library = await open_request(name, request)
        signs_value = payload.value("cont_signs")
        if signs_value is not None and payload.source().is_empty:
            signs = library.batch(signs_value)
        else:
            signs = [await run_in_threadpool(_target, library, payload)]
        deleted = await run_in_threadpool(library.delete, signs)
        gone = {r.cont_sign for r in deleted}
        return DeleteOut(deleted=[s for s in signs if s in gone],
                         not_found=[s for s in signs if s not in gone])

    @router.get("/libraries/{name}/images/{cont_sign}", response_model=ImageOut,
                 response_model_exclude_none=True)
    async def get_image(name: str, cont_sign: str) -> ImageOut:
        library = await run_in_threadpool(lib, name)
        record = await run_in_threadpool(library.get, parse_cont_sign(cont_sign))
        return image_out(library, record)

    @router.patch("/libraries/{name}/images/{cont_sign}", response_model=ImageOut,
                 response_model_exclude_none=True)
    async def patch_image(name: str, cont_sign: str, body: ImagePatch) -> ImageOut:
        library = await run_in_threadpool(lib, name)
        payload = Payload(fields=body.model_dump(exclude_unset=True))
        tags = _tags(payload) if "tags" in payload.fields else None
        record = await run_in_threadpool(lambda: library.update(
            parse_cont_sign(cont_sign), brief=body.brief, tags=tags,
            class_ids=_class_ids(payload)))
        return image_out(library, record)

    @router.delete("/libraries/{name}/images/{cont_sign}", status_code=204)
    async def delete_image(name: str, cont_sign: str) -> Response:
        library = await run_in_threadpool(lib, name)
        sign = parse_cont_sign(cont_sign)
        if not await run_in_threadpool(library.delete, [sign]):
            raise ImageNotFound(f"no image with cont_sign {sign} in library {name!r}",
                                field="cont_sign")
        return Response(status_code=204)

    @router.get("/libraries/{name}/images/{cont_sign}/thumbnail",
                response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    async def thumbnail(name: str, cont_sign: str) -> Response:
        library = await run_in_threadpool(lib, name)
        data = await run_in_threadpool(library.thumbnail, parse_cont_sign(cont_sign))
        return Response(data, media_type="image/jpeg")

    @router.get("/libraries/{name}/images/{cont_sign}/original", response_class=Response)
    async def original(name: str, cont_sign: str) -> Response:
        library = await run_in_threadpool(lib, name)
        data, fmt = await run_in_threadpool(library.original, parse_cont_sign(cont_sign))
        return Response(data, media_type=f"image/{fmt}")

    return router
