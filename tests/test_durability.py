"""Crash safety and concurrency: SIGKILL mid-stream, then restart; parallel clients."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import ServerProcess, encode, free_port, generated_page, keypoint_table_gauges, noise_image, server_env


def _b64(seed: int) -> str:
    return base64.b64encode(encode(noise_image(seed, 160, 120))).decode()


def test_sigkill_during_adds_loses_nothing_acknowledged(tmp_path: Path,
                                                        model_cache: Path) -> None:
    # A small flush interval makes the kill land around index saves as well.
    srv = ServerProcess(tmp_path / "data", free_port(),
                        server_env(model_cache, TUSOU_INDEX_FLUSH_EVERY="7"))
    srv.start()
    acked: dict[str, int] = {}
    in_flight: set[int] = set()
    stop = threading.Event()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.post("/v1/libraries", json={"name": "crash", "kind": "similar"}
                          ).status_code == 201

        def writer(offset: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                seed = offset
                while not stop.is_set():
                    in_flight.add(seed)
                    try:
                        r = c.post("/v1/libraries/crash/images",
                                   json={"image": _b64(seed), "brief": f"s{seed}"})
                    except httpx.HTTPError:
                        return  # the server died under us: this add was never acknowledged
                    if r.status_code == 201:
                        acked[r.json()["cont_sign"]] = seed
                        in_flight.discard(seed)
                    seed += 1000

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while len(acked) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(30)
        assert len(acked) >= 25
    finally:
        srv.kill()

    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            listed = c.get("/v1/libraries/crash/images", params={"limit": 1000}).json()["images"]
            signs = {img["cont_sign"] for img in listed}
            # Every acknowledged add is there...
            assert set(acked) <= signs
            # ...and anything else is one of the adds in flight at the kill, whole.
            extra = signs - set(acked)
            assert len(extra) <= len(in_flight)
            for img in listed:
                seed = acked.get(img["cont_sign"]) or int(img["brief"][1:])
                hits = c.post("/v1/libraries/crash/search",
                              json={"image": _b64(seed), "rn": 1}).json()["results"]
                assert hits[0]["cont_sign"] == img["cont_sign"] and hits[0]["score"] == 1.0
    finally:
        srv.stop()


def test_concurrent_adds_and_searches(client: httpx.Client, make_library,
                                      server: ServerProcess) -> None:
    lib = make_library("similar")
    seeds = list(range(5000, 5040))

    def add(seed: int) -> str:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post(f"/v1/libraries/{lib}/images", json={"image": _b64(seed),
                                                            "brief": str(seed)})
            assert r.status_code == 201, r.text
            return r.json()["cont_sign"]

    def find(seed: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            r = c.post(f"/v1/libraries/{lib}/search", json={"image": _b64(seed), "rn": 5})
            assert r.status_code == 200, r.text
            return len(r.json()["results"])

    with ThreadPoolExecutor(8) as pool:
        adds = [pool.submit(add, s) for s in seeds]
        finds = [pool.submit(find, s) for s in seeds[:20]]
        signs = [f.result() for f in adds]
        [f.result() for f in finds]
    assert len(set(signs)) == len(seeds)
    assert client.get(f"/v1/libraries/{lib}").json()["image_count"] == len(seeds)
    for seed, sign in zip(seeds[::8], signs[::8]):
        top = client.post(f"/v1/libraries/{lib}/search",
                          json={"image": _b64(seed), "rn": 1}).json()["results"][0]
        assert top["cont_sign"] == sign


def test_same_image_added_concurrently_is_stored_once(make_library,
                                                      server: ServerProcess) -> None:
    lib = make_library("same")
    body = {"image": _b64(6000), "brief": "race"}

    def add(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            return c.post(f"/v1/libraries/{lib}/images", json=body).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(add, range(6)))
    assert codes == [201] + [409] * 5


@pytest.mark.parametrize("signal_name", ["SIGTERM"])
def test_restart_keeps_everything(tmp_path: Path, model_cache: Path, signal_name: str) -> None:
    srv = ServerProcess(tmp_path / "data", free_port(), server_env(model_cache))
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            c.post("/v1/libraries", json={"name": "keep", "kind": "same",
                                          "store_originals": True})
            sign = c.post("/v1/libraries/keep/images", json={"image": _b64(7000),
                                                             "brief": "kept", "tags": [9]}
                          ).json()["cont_sign"]
    finally:
        srv.stop()
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            hit = c.post("/v1/libraries/keep/search", json={"image": _b64(7000)}
                         ).json()["results"][0]
            assert (hit["cont_sign"], hit["brief"], hit["tags"]) == (sign, "kept", [9])
            thumb = c.get(f"/v1/libraries/keep/images/{sign}/thumbnail")
            assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
            assert c.get(f"/v1/libraries/keep/images/{sign}/original").status_code == 200
    finally:
        srv.stop()


def test_a_started_server_opens_its_libraries_before_any_request_names_them(
        tmp_path: Path, model_cache: Path) -> None:
    srv = ServerProcess(tmp_path / "data", free_port(), server_env(model_cache))
    srv.start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            c.post("/v1/libraries", json={"name": "book", "kind": "picturebook"})
            page = base64.b64encode(encode(generated_page(2_000_007))).decode()
            assert c.post("/v1/libraries/book/images",
                          json={"image": page, "brief": "page"}).status_code == 201
        # Loaded as the add opened the library (nothing to read then), the page added to it.
        assert keypoint_table_gauges(srv.url, "book", 60)
    finally:
        srv.stop()
    srv.start()
    try:
        # Filled in the background at start (and saved), no request naming the library.
        keypoints = keypoint_table_gauges(srv.url, "book", 60).get("keypoints")
        assert keypoints is not None and 100 <= keypoints <= 500
    finally:
        srv.stop()
    off = ServerProcess(srv.data_dir, free_port(), server_env(model_cache, TUSOU_OPEN_AT_START="0"))
    off.start()
    try:
        assert not keypoint_table_gauges(off.url, "book", 3)  # not opened at start
        # Opened by the first request naming it, its table filled then, not at a query.
        assert httpx.get(f"{off.url}/v1/libraries/book/images", timeout=60).status_code == 200
        assert keypoint_table_gauges(off.url, "book", 60).get("keypoints") == keypoints
    finally:
        off.stop()
