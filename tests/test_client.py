"""The Python client against the real server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import ImageServer, ServerProcess, encode, noise_image
from tusou.client import TusouClient, TusouError


def test_client_round_trip(server: ServerProcess, tmp_path: Path,
                           image_server: ImageServer) -> None:
    name = f"client-{uuid.uuid4().hex[:8]}"
    photo = tmp_path / "p.png"
    photo.write_bytes(encode(noise_image(4000)))
    with TusouClient(server.url) as tusou:
        assert tusou.create_library(name, "similar")["kind"] == "similar"
        sign = tusou.add(name, photo, brief="file", tags=[3])["cont_sign"]
        url = image_server.put("/client.png", encode(noise_image(4001)))
        tusou.add(name, url, brief="url")
        tusou.add(name, encode(noise_image(4002)), brief="bytes")
        assert tusou.library(name)["image_count"] == 3
        assert any(lib["name"] == name for lib in tusou.libraries())
        top = tusou.search(name, photo, rn=1)
        assert top["results"][0]["cont_sign"] == sign and top["has_more"] is True
        assert [r["brief"] for r in tusou.search(name, photo, tags=[3])["results"]] == ["file"]
        assert tusou.update(name, sign, brief="renamed")["brief"] == "renamed"
        assert tusou.get(name, sign)["brief"] == "renamed"
        with pytest.raises(TusouError) as err:
            tusou.add(name, photo, brief="again")
        assert err.value.status == 409 and err.value.details["cont_sign"] == sign
        assert tusou.delete(name, [sign, "1,1"]) == {"deleted": [sign], "not_found": ["1,1"]}
        assert tusou.delete_image(name, encode(noise_image(4002)))["deleted"]
        tusou.delete_library(name)
        with pytest.raises(TusouError) as err:
            tusou.library(name)
        assert err.value.code == "library_not_found"


def test_native_api_behind_basic_auth(tmp_path: Path, model_cache: Path) -> None:
    import subprocess
    import sys

    import httpx

    from conftest import free_port, server_env

    env = server_env(model_cache, TUSOU_NATIVE_AUTH="1")
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "tusou", "keys", "add", "--api-key", "shop",
                    "--secret-key", "s3cret", "--data-dir", str(data)], env=env, check=True,
                   capture_output=True)
    srv = ServerProcess(data, free_port(), env)
    srv.start()
    try:
        r = httpx.get(f"{srv.url}/v1/libraries")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{srv.url}/v1/libraries", auth=("shop", "wrong")).status_code == 401
        assert httpx.get(f"{srv.url}/healthz").status_code == 200  # probes stay open
        with TusouClient(srv.url, auth=("shop", "s3cret")) as tusou:
            tusou.create_library("guarded", "similar")
            assert tusou.add("guarded", encode(noise_image(4100)), brief="ok")["cont_sign"]
        photos = tmp_path / "photos"
        photos.mkdir()
        (photos / "a.png").write_bytes(encode(noise_image(4101)))
        cli = [sys.executable, "-m", "tusou", "import", str(photos), "--library", "guarded",
               "--server", srv.url, "--quiet", "--data-dir", str(tmp_path / "state")]
        denied = subprocess.run(cli, env=env, capture_output=True, text=True)
        assert denied.returncode == 2 and "unauthorized" in denied.stderr
        allowed = subprocess.run(cli, env={**env, "TUSOU_API_KEY": "shop",
                                           "TUSOU_SECRET_KEY": "s3cret"},
                                 capture_output=True, text=True)
        assert "added 1" in allowed.stdout, allowed.stderr
    finally:
        srv.stop()
