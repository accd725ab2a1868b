"""The keypoint table on disk: each segment's arrays as ``.npy`` files, memory-mapped when
read back, and a manifest naming the segments, their dead rows, the settings their keys were
made with and the store's keypoint generation their content matches.

Why: a table filled from the store reads every page's keypoints (about 0.5 ms a page) and
builds them (100,000 pages: some two minutes and 5 GB resident). A segment never changes once
built, so it is written once under a name of its own and mapped, not read, at the next start;
the store then gives only what changed since, by id sets, as it does for the vector index.

Files sit beside the library's vector index: ``<path>`` (the manifest, an ``.npz``) and
``<path>.<segment>.<array>.npy``. Each file is written to a temporary name, synced and
renamed, and the manifest last, so that a crash leaves either the old manifest with its
files or the new one with its files.
"""

from __future__ import annotations

import glob
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tusou.index._persist import fsync_dir, remove_stale_tmp, removed_on_failure, tmp_path

FORMAT = 1
ARRAYS = ("words", "owners", "keys", "rows")


@dataclass(frozen=True)
class Manifest:
    # What the segments' keys were made with (tables, bits, seed, per_image: 0 for all)
    # and the descriptors' width in bytes: another setting means other keys.
    settings: dict[str, int]
    generation: int
    segments: list[str]
    dead: list[np.ndarray]  # per segment, a bool per row
    # Images held without keypoints (none to vote with), which a load need not read again.
    # Manifests written before 2026-12-07 have none: their bare images are read again.
    bare: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def segment_file(path: Path, name: str, array: str) -> Path:
    return path.with_name(f"{path.name}.{name}.{array}.npy")


def write_segment(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Write one segment's ``arrays`` (those named in ARRAYS); returns the segment's name."""
    name = secrets.token_hex(8)
    for array in ARRAYS:
        final = segment_file(path, name, array)
        tmp = tmp_path(final)
        with removed_on_failure(tmp):
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(arrays[array]), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
    return name


def segment_exists(path: Path, name: str) -> bool:
    return all(segment_file(path, name, array).exists() for array in ARRAYS)


def read_segment(path: Path, name: str) -> dict[str, np.ndarray]:
    """One segment's arrays, memory-mapped read-only (raises if a file is missing or cut)."""
    return {array: np.load(segment_file(path, name, array), mmap_mode="r", allow_pickle=False)
            for array in ARRAYS}


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the table's (its segments already written), then remove the files of
    segments it no longer names."""
    lengths = np.array([len(d) for d in manifest.dead], np.int64)
    dead = np.concatenate(manifest.dead) if manifest.dead else np.zeros(0, bool)
    tmp = tmp_path(path)
    with removed_on_failure(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, format=np.int64(FORMAT), generation=np.int64(manifest.generation),
                     setting_names=np.array(sorted(manifest.settings), dtype=str).reshape(-1),
                     setting_values=np.array([manifest.settings[k] for k in sorted(manifest.settings)],
                                             np.int64),
                     segments=np.array(manifest.segments, dtype=str).reshape(-1),
                     lengths=lengths, dead=np.packbits(dead),
                     bare=np.asarray(manifest.bare, np.int64))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    fsync_dir(path.parent)
    kept = set(manifest.segments)
    for file in path.parent.glob(f"{glob.escape(path.name)}.*.npy"):
        if file.name[len(path.name) + 1:].split(".")[0] not in kept:
            try:
                file.unlink(missing_ok=True)
            except OSError:  # still mapped where that forbids it (Windows): the next save
                pass
    remove_stale_tmp(path)


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none (raises when it is damaged)."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as z:
        if int(z["format"]) != FORMAT:
            raise ValueError(f"unknown format {int(z['format'])}")
        settings = {str(k): int(v) for k, v in
                    zip(z["setting_names"], z["setting_values"], strict=True)}
        segments = [str(s) for s in z["segments"]]
        lengths = z["lengths"].astype(np.int64)
        if len(lengths) != len(segments) or (lengths < 0).any():
            raise ValueError("segment lengths do not match the segments")
        packed = z["dead"]
        if len(packed) != -(-int(lengths.sum()) // 8):
            raise ValueError("dead rows do not match the segment lengths")
        dead = np.unpackbits(packed, count=int(lengths.sum())).astype(bool)
        generation = int(z["generation"])
        bare = z["bare"].astype(np.int64) if "bare" in z.files else np.zeros(0, np.int64)
        if bare.ndim != 1:
            raise ValueError("bare images are not a list of ids")
    bounds = np.r_[0, np.cumsum(lengths)]
    return Manifest(settings, generation, segments,
                    [dead[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], bare)

