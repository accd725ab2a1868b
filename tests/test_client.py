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
