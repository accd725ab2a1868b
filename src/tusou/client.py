"""A small Python client for the native REST API.

    from tusou.client import TusouClient
    with TusouClient("http://127.0.0.1:8000") as tusou:
        tusou.create_library("pics", "same")
        sign = tusou.add("pics", "photo.jpg", brief="photo.jpg")["cont_sign"]
        hits = tusou.search("pics", "query.jpg")["results"]
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx


class TusouError(Exception):
    """An error answer from the server: its ``code``, ``message``, ``field`` and status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code: str = error.get("code", "http_error")
        self.message: str = error.get("message", "")
        self.field: str | None = error.get("field")
        self.details = {k: v for k, v in error.items() if k not in ("code", "message", "field")}
        super().__init__(f"{status} {self.code}: {self.message}")


ImageArg = str | Path | bytes


def _image_fields(image: ImageArg) -> dict[str, str]:
    """bytes -> base64; 'http(s)://...' -> url; anything else is a file path."""
    if isinstance(image, bytes):
        return {"image": base64.b64encode(image).decode()}
    text = str(image)
    if text.startswith(("http://", "https://")):
        return {"url": text}
    return {"image": base64.b64encode(Path(text).read_bytes()).decode()}


class TusouClient:
    def __init__(self, base_url: str, *, timeout: float = 60.0,
                 auth: tuple[str, str] | None = None) -> None:
        """``auth`` = (API key, secret key) for a server run with ``TUSOU_NATIVE_AUTH=1``."""
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout, auth=auth)

    def __enter__(self) -> TusouClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise TusouError(response.status_code, body)
        return response.json() if response.content else None

    # libraries
    def create_library(self, name: str, kind: str, *, store_originals: bool = False,
                       description: str = "") -> dict[str, Any]:
        return self._call("POST", "/v1/libraries", json={
            "name": name, "kind": kind, "store_originals": store_originals,
            "description": description})

    def libraries(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/libraries")["libraries"]

    def library(self, name: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/libraries/{name}")

    def delete_library(self, name: str) -> None:
        self._call("DELETE", f"/v1/libraries/{name}")

    # images
    def add(self, library: str, image: ImageArg, *, brief: str, tags: Sequence[int] = (),
            class_id1: int | None = None, class_id2: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {**_image_fields(image), "brief": brief, "tags": list(tags)}
        for key, value in (("class_id1", class_id1), ("class_id2", class_id2)):
            if value is not None:
                body[key] = value
        return self._call("POST", f"/v1/libraries/{library}/images", json=body)

    def search(self, library: str, image: ImageArg, *, tags: Sequence[int] = (),
               tag_logic: str = "and", pn: int = 0, rn: int = 300,
               threshold: float | None = None, **filters: Any) -> dict[str, Any]:
        body: dict[str, Any] = {**_image_fields(image), "tags": list(tags),
                                "tag_logic": tag_logic, "pn": pn, "rn": rn, **filters}
        if threshold is not None:
            body["threshold"] = threshold
        return self._call("POST", f"/v1/libraries/{library}/search", json=body)

    def get(self, library: str, cont_sign: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/libraries/{library}/images/{cont_sign}")

    def update(self, library: str, cont_sign: str, *, brief: str | None = None,
               tags: Sequence[int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if brief is not None:
            body["brief"] = brief
        if tags is not None:
            body["tags"] = list(tags)
        return self._call("PATCH", f"/v1/libraries/{library}/images/{cont_sign}", json=body)

    def delete(self, library: str, cont_signs: Sequence[str]) -> dict[str, Any]:
        return self._call("POST", f"/v1/libraries/{library}/images/delete",
                          json={"cont_signs": list(cont_signs)})

    def delete_image(self, library: str, image: ImageArg) -> dict[str, Any]:
        return self._call("POST", f"/v1/libraries/{library}/images/delete",
                          json=_image_fields(image))
