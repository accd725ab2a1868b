"""Reading a request body that may be multipart (a ``file`` part) or JSON, into one shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from tusou.engine import ImageSource
from tusou.errors import ImageTooLarge, InvalidParameter, TusouError
from tusou.images.limits import MAX_BASE64_CHARS

# A form field is limited as sent: percent-encoding may triple base64's '+', '/' and '='.
# The whole-body limit is the real bound; the image's own limit is checked after decoding.
MAX_FIELD_BYTES = 3 * MAX_BASE64_CHARS + 64 * 1024


class UnsupportedContentType(TusouError):
    """The body is neither JSON nor a form (an HTTP matter, so it lives with the API)."""

    code = "unsupported_content_type"


@dataclass
class Payload:
    fields: dict[str, Any] = field(default_factory=dict)
    file: bytes | None = None
    file_type: str | None = None

    def source(self) -> ImageSource:
        return ImageSource(data=self.file, base64=self.text("image"), url=self.text("url"),
                           declared_mime=self.file_type)

    def text(self, name: str) -> str | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidParameter(f"{name} must be a string", field=name)
        return value

    def value(self, name: str) -> Any:
        return self.fields.get(name)


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The form body, with the parser's own refusals turned into engine errors."""
    try:
        return await request.form(max_files=max_files, max_fields=max_fields,
                                  max_part_size=MAX_FIELD_BYTES)
    except HTTPException as exc:  # Starlette reports multipart limits this way
        detail = str(exc.detail)
        if "maximum size" in detail:
            raise ImageTooLarge(f"a form field is too large: {detail}", field="image") from None
        raise InvalidParameter(f"malformed form body: {detail}", field="body") from None


async def read_payload(request: Request) -> Payload:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await read_form(request, max_files=1, max_fields=32)
        payload = Payload()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "file":
                    raise InvalidParameter("the image part must be named 'file'", field=key)
                payload.file = await value.read()
                payload.file_type = value.content_type
            else:
                payload.fields[key] = value
        return payload
    if content_type in ("application/json", ""):
        body = await request.body()
        if not body.strip():
            return Payload()
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidParameter("request body is not valid JSON", field="body") from None
        if not isinstance(data, dict):
            raise InvalidParameter("request body must be a JSON object", field="body")
        return Payload(fields=data)
    raise UnsupportedContentType(f"unsupported content type {content_type!r}: send JSON or "
                                 "multipart/form-data", field="content-type")
