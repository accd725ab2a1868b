"""The ``tusou`` command line, run as a real process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED, encode, noise_image, server_env


def tusou(model_cache: Path, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tusou.cli", *args, "--data-dir", str(data_dir)],
                          env=server_env(model_cache), capture_output=True, text=True,
                          timeout=600)


def test_import_search_and_resume(tmp_path: Path, model_cache: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for i in range(4):
        (photos / f"img{i}.png").write_bytes(encode(noise_image(900 + i)))
    (photos / "sub" / "deep.jpg").write_bytes(encode(noise_image(950), "JPEG"))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (photos / "tiny.png").write_bytes(encode(noise_image(960, 20, 20)))
    (photos / "notes.txt").write_text("ignored")
    data = tmp_path / "data"

    r = tusou(model_cache, data, "import", str(photos), "--library", "pics", "--kind", "same",
              "--quiet")
    assert r.returncode == 0, r.stderr
    assert "added 5, already present 0, failed 2" in r.stdout
    assert "broken.jpg: undecodable_image" in r.stdout
    assert "tiny.png: image_dimensions_invalid" in r.stdout

    # A second run skips what was done and retries only the failures.
    r = tusou(model_cache, data, "import", str(photos), "--library", "pics", "--quiet")
    assert "added 0, already present 0, failed 2, skipped (done before) 5" in r.stdout

    query = tmp_path / "q.jpg"
    query.write_bytes(encode(noise_image(902), "JPEG", quality=90))
    r = tusou(model_cache, data, "search", str(query), "--library", "pics")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].endswith("img2.png")

    r = tusou(model_cache, data, "libraries")
    assert "pics" in r.stdout and "same" in r.stdout and "5 images" in r.stdout

    # Refreshing local features needs the originals, which "pics" does not keep.
    r = tusou(model_cache, data, "libraries", "refresh", "pics")
    assert r.returncode == 1 and "does not store originals" in r.stderr


def test_a_library_refreshes_its_local_features_from_its_originals(tmp_path: Path,
                                                                    model_cache: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"img{i}.png").write_bytes(encode(noise_image(700 + i)))
    data = tmp_path / "data"
    r = tusou(model_cache, data, "libraries", "create", "kept", "--kind", "same", "--store-originals")
    assert r.returncode == 0, r.stderr
    assert tusou(model_cache, data, "import", str(photos), "--library", "kept", "--quiet").returncode == 0
    r = tusou(model_cache, data, "libraries", "refresh", "kept")
    assert r.returncode == 0, r.stderr
    assert "refreshed the local features of 3 images of kept" in r.stdout
    assert tusou(model_cache, data, "libraries", "refresh").returncode == 2  # NAME needed


def test_import_needs_kind_for_a_new_library(tmp_path: Path, model_cache: Path) -> None:
    (tmp_path / "d").mkdir()
    r = tusou(model_cache, tmp_path / "data", "import", str(tmp_path / "d"), "--library", "x")
    assert r.returncode == 2 and "--kind" in r.stderr


@pytest.mark.skipif(not (SHARED / "eval-dev" / "dedup-variants").exists(),
                    reason="shared eval-dev images not present")
def test_dedup_variants_find_their_original(tmp_path: Path, model_cache: Path) -> None:
    variants = SHARED / "eval-dev" / "dedup-variants"
    base = tmp_path / "base"
    shutil.copytree(variants / "base_images", base)
    data = tmp_path / "data"
    r = tusou(model_cache, data, "import", str(base), "--library", "dedup", "--kind", "same",
              "--quiet")
    assert "added 10" in r.stdout, r.stdout + r.stderr
    for name in ["ukbench00120_hflip.jpg", "ukbench00120_resize.jpg",
                 "ukbench00120_rotation.jpg"]:
        r = tusou(model_cache, data, "search", str(variants / "mixed_images" / name),
                  "--library", "dedup", "--rn", "1")
        assert "ukbench00120.jpg" in r.stdout, (name, r.stdout, r.stderr)
    r = tusou(model_cache, data, "search", str(variants / "ukbench00120_gray.jpg"),
              "--library", "dedup", "--rn", "1")
    assert "ukbench00120.jpg" in r.stdout
    r = tusou(model_cache, data, "search",
              str(variants / "mixed_images" / "ukbench09268_corrupt.jpg"), "--library", "dedup")
    assert r.returncode == 1 and "undecodable_image" in r.stderr


def test_import_through_a_running_server(tmp_path: Path, model_cache: Path, server) -> None:
    import httpx

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"r{i}.png").write_bytes(encode(noise_image(970 + i)))
    (photos / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    args = ["import", str(photos), "--library", "remote-import", "--kind", "similar", "--quiet",
            "--server", server.url]
    r = tusou(model_cache, tmp_path / "state", *args)
    assert r.returncode == 0, r.stderr
    assert "added 3, already present 0, failed 1" in r.stdout
    assert "bad.png: undecodable_image" in r.stdout
    # The running server sees them at once.
    info = httpx.get(f"{server.url}/v1/libraries/remote-import").json()
    assert info["image_count"] == 3
    r = tusou(model_cache, tmp_path / "state", *args)
    assert "skipped (done before) 3" in r.stdout
    r = tusou(model_cache, tmp_path / "state", "import", str(photos), "--library", "nope",
              "--server", server.url)
    assert r.returncode == 2 and "--kind" in r.stderr


def test_keys_commands(tmp_path: Path, model_cache: Path) -> None:
    data = tmp_path / "data"
    r = tusou(model_cache, data, "keys", "add", "--api-key", "AK-1", "--secret-key", "sk-secret",
              "--name", "shop")
    assert r.returncode == 0 and "added AK-1 (shop)" in r.stdout
    r = tusou(model_cache, data, "keys", "add", "--api-key", "AK-1", "--secret-key", "other")
    assert r.returncode == 1 and "already registered" in r.stderr
    r = tusou(model_cache, data, "keys", "add", "--api-key", "bad key", "--secret-key", "x")
    assert r.returncode == 1 and "api_key" not in r.stdout
    listed = tusou(model_cache, data, "keys", "list").stdout
    assert "AK-1" in listed and "shop" in listed and "sk-secret" not in listed
    assert tusou(model_cache, data, "keys", "remove", "AK-1").returncode == 0
    assert "no keys" in tusou(model_cache, data, "keys", "list").stdout
    assert tusou(model_cache, data, "keys", "remove", "AK-1").returncode == 1
