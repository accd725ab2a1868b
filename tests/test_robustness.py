"""Edge cases found in review: id reuse, races, malformed numbers, partial updates."""

from __future__ import annotations

import base64
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import ServerProcess, encode, noise_image, server_env
from tusou.config import Settings
from tusou.engine import Engine, ImageSource
from tusou.errors import LibraryNotFound
from tusou.store import NewImage, Store


def _b64(seed: int, w: int = 160, h: int = 120) -> str:
    return base64.b64encode(encode(noise_image(seed, w, h))).decode()


def test_ids_are_never_reused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    lib = store.create_library(name="a", kind="similar", pipeline="p")

    def new(sign: str) -> NewImage:
        return NewImage(cont_sign=sign, brief="", width=1, height=1, image_format="png",
                        vector=np.zeros(4, np.float32))

    first = store.insert_image(lib.id, new("1,1"))
    second = store.insert_image(lib.id, new("2,2"))
    store.delete_images(lib.id, ["2,2"])
    third = store.insert_image(lib.id, new("3,3"))
    assert third.id > second.id > first.id
    store.delete_library("a")
    assert store.create_library(name="a", kind="similar", pipeline="p").id > lib.id
    store.close()


def test_add_to_a_deleted_library_is_library_not_found(tmp_path: Path,
                                                       model_cache: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path, model_cache_dir=model_cache))
    try:
        engine.create_library("gone", "similar")
        library = engine.library("gone")
        engine.delete_library("gone")
        with pytest.raises(LibraryNotFound):
            library.add(ImageSource(data=encode(noise_image(1))), brief="late")
        with pytest.raises(LibraryNotFound):
            library.search(ImageSource(data=encode(noise_image(1))))
    finally:
        engine.close()


def test_same_image_raced_into_a_library_with_originals(make_library,
                                                        server: ServerProcess) -> None:
    lib = make_library("same", store_originals=True)
    body = {"image": _b64(2000), "brief": "race"}

    def add(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post(f"/v1/libraries/{lib}/images", json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        assert sorted(pool.map(add, range(8))) == [201] + [409] * 7


def test_large_base64_in_form_fields(client: httpx.Client, make_library) -> None:
    lib = make_library("similar")

    def text(seed: int) -> str:  # about 2.7 MB of base64: over the multipart parser's default
        png = encode(noise_image(seed, 256, 256))
        return base64.b64encode(png + b"\0" * (2_000_000 - len(png))).decode()

    multipart = {"image": (None, text(2100)), "brief": (None, "multipart")}
    r = client.post(f"/v1/libraries/{lib}/images", files=multipart)
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/libraries/{lib}/images", data={"image": text(2101), "brief": "form"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("field,value", [("tags", 5), ("tags", "²"), ("tags", {"a": 1}),
                                         ("pn", "²"), ("rn", 1.5), ("rn", True)])
def test_malformed_numbers_are_400(client: httpx.Client, make_library, field: str,
                                   value: object) -> None:
    lib = make_library("similar")
    r = client.post(f"/v1/libraries/{lib}/search", json={"image": _b64(2200), field: value})
    assert r.status_code == 400 and r.json()["error"]["field"] == field, r.text


def test_partial_updates_keep_what_they_do_not_name(client: httpx.Client, make_library) -> None:
    lib = make_library("product")
    sign = client.post(f"/v1/libraries/{lib}/images",
                       json={"image": _b64(2300, 320, 320), "brief": "p", "class_id1": 1,
                             "class_id2": 2}).json()["cont_sign"]
    r = client.patch(f"/v1/libraries/{lib}/images/{sign}", json={"class_id1": 9})
    assert (r.json()["class_id1"], r.json()["class_id2"]) == (9, 2)
    r = client.patch(f"/v1/libraries/{lib}/images/{sign}", json={"tags": []})
    assert r.status_code == 400
    r = client.patch(f"/v1/libraries/{lib}/images/{sign}", json={"brief": "q"})
    assert (r.json()["class_id1"], r.json()["class_id2"], r.json()["brief"]) == (9, 2, "q")
    assert r.json()["created_at"].endswith(("Z", "+00:00"))


def test_names_and_briefs_edge_cases(client: httpx.Client, make_library) -> None:
    assert client.post("/v1/libraries", json={"name": "sim\n", "kind": "similar"}
                       ).status_code == 400
    lib = make_library("similar")
    r = client.post(f"/v1/libraries/{lib}/images", json={"image": _b64(2400), "brief": ""})
    assert r.status_code == 400 and r.json()["error"]["field"] == "brief"


def test_oversized_chunked_json_and_wrong_content_type(client: httpx.Client,
                                                       make_library) -> None:
    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(13):
            yield b"x" * (1024 * 1024)

    r = client.post("/v1/libraries", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    lib = make_library("similar")
    r = client.post(f"/v1/libraries/{lib}/images", content=b"x",
                    headers={"content-type": "text/plain"})
    assert r.status_code == 415


def test_cli_journal_follows_the_library_not_its_name(tmp_path: Path,
                                                      model_cache: Path) -> None:
    photos = tmp_path / "p"
    photos.mkdir()
    (photos / "a.png").write_bytes(encode(noise_image(2500)))
    data = tmp_path / "data"

    def tusou(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tusou.cli", *args, "--data-dir",
                               str(data)], env=server_env(model_cache), capture_output=True,
                              text=True, timeout=300)

    assert "added 1" in tusou("import", str(photos), "--library", "x", "--kind", "similar",
                              "--quiet").stdout
    tusou("libraries", "delete", "x")
    assert "added 1" in tusou("import", str(photos), "--library", "x", "--kind", "similar",
                              "--quiet").stdout
    r = tusou("search", str(tmp_path / "missing.jpg"), "--library", "x")
    assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr
    r = tusou("import", str(photos), "--library", "y", "--kind", "bogus")
    assert r.returncode == 2 and "unknown library kind" in r.stderr


def test_default_page_and_the_1000_result_window(tmp_path: Path, model_cache: Path) -> None:
    from tusou.engine import validate_page

    engine = Engine(Settings(data_dir=tmp_path, model_cache_dir=model_cache,
                             index_flush_every=5000))
    try:
        engine.create_library("window", "similar")
        library = engine.library("window")
        for seed in range(1001):
            library.add(ImageSource(data=encode(noise_image(seed, 56, 56))), brief=str(seed))
        query = ImageSource(data=encode(noise_image(7, 56, 56)))
        first = library.search(query)
        assert len(first.hits) == 300 and first.has_more
        assert first.hits[0].image.brief == "7" and first.hits[0].score == 1.0
        tail = library.search(query, page=validate_page(900, 500))
        assert len(tail.hits) == 100 and not tail.has_more
        last = library.search(query, page=validate_page(999, 1))
        assert len(last.hits) == 1 and not last.has_more
        everything = library.search(query, page=validate_page(0, 1000))
        briefs = [h.image.brief for h in everything.hits]
        assert len(briefs) == 1000 == len(set(briefs)) and not everything.has_more
        assert [h.image.brief for h in tail.hits] == briefs[900:]
    finally:
        engine.close()


def test_all_images_reads_every_page(tmp_path: Path, model_cache: Path) -> None:
    engine = Engine(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1))
    try:
        engine.create_library("pages", "similar")
        library = engine.library("pages")
        for n in range(5):
            library.add(ImageSource(data=encode(noise_image(700 + n))), brief=f"img{n}")
        briefs = [record.brief for record in library.all_images(page_size=2)]
        assert sorted(briefs) == [f"img{n}" for n in range(5)]
        assert briefs == [record.brief for record in library.list_images(limit=10)]
    finally:
        engine.close()
