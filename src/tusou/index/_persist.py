"""Atomic on-disk snapshots: one .npz (ids + vectors) plus an optional HNSW file.

The .npz alone is enough to rebuild; the graph only saves build time. The
graph file name carries a random token recorded in the .npz, so a crash
between writing the two can never pair a new .npz with a stale graph.
"""

from __future__ import annotations

import glob
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from usearch.index import Index, MetricKind, ScalarKind

log = logging.getLogger(__name__)

FORMAT = 1
_GRAPH_SUFFIX = ".hnsw"


@dataclass(frozen=True)
class Snapshot:
    ids: np.ndarray
    vectors: np.ndarray
    graph_token: str


# A temporary file older than this is a crashed save's leftover (a save takes seconds);
# younger ones may be another writer's save in progress, which must not be removed.
STALE_TMP_SECONDS = 3600


def tmp_path(path: Path) -> Path:
    """A temporary name for ``path`` that no other writer uses: two processes (a server and
    a CLI command on one data directory) or threads saving at once each write their own."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def graph_path(path: Path, token: str) -> Path:
    return path.with_name(f"{path.name}.{token}{_GRAPH_SUFFIX}")


@contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` while writing the files of ``path`` and sweeping the stale ones:
    another writer of the same files (a server and a CLI command on one data directory)
    waits, so that neither sweeps a file the other is about to name. Where there is no
    ``flock`` (Windows) writers do not wait, and a swept file only means that the next load
    rebuilds what it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f"{path.name}.lock"), "ab") as f:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file is closed
        yield


def write_snapshot(
    path: Path, ids: np.ndarray, vectors: np.ndarray, save_graph: Callable[[str], None] | None
) -> None:
    """`save_graph(file)` writes the HNSW graph to `file`; None means no graph."""
    with writer_lock(path):
        _write_snapshot(path, ids, vectors, save_graph)


def _write_snapshot(
    path: Path, ids: np.ndarray, vectors: np.ndarray, save_graph: Callable[[str], None] | None
) -> None:
    token = ""
    if save_graph is not None:
        token = secrets.token_hex(8)
        final = graph_path(path, token)
        tmp = tmp_path(final)
        with removed_on_failure(tmp):
            save_graph(os.fspath(tmp))
            _fsync_file(tmp)
            os.replace(tmp, final)
    tmp = tmp_path(path)
    with removed_on_failure(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, format=np.int64(FORMAT), dim=np.int64(vectors.shape[1]),
                     ids=ids, vectors=vectors, graph=np.str_(token))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    fsync_dir(path.parent)
    _remove_stale_graphs(path, token)
    remove_stale_tmp(path)


@contextmanager
def removed_on_failure(tmp: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_snapshot(path: Path, dim: int) -> Snapshot | None:
    """None when absent or unusable; the caller rebuilds from the store."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["format"]) != FORMAT:
                log.warning("index %s: unknown format %s, starting empty", path, int(z["format"]))
                return None
            if int(z["dim"]) != dim:
                log.warning("index %s: dim %d != expected %d, starting empty", path, int(z["dim"]), dim)
                return None
            ids, vectors, token = z["ids"], z["vectors"], str(z["graph"])
        _check(ids, vectors, dim)
    except Exception as exc:  # any damage at all means "rebuild", never "crash"
        log.warning("index %s unreadable (%s: %s), starting empty", path, type(exc).__name__, exc)
        return None
    return Snapshot(ids.astype(np.int64, copy=False), vectors, token)


def read_graph(path: Path, token: str, dim: int, dtype: ScalarKind, ids: np.ndarray) -> Index | None:
    if not token:
        return None
    file = graph_path(path, token)
    try:
        graph = Index.restore(os.fspath(file))
        if graph is None:
            raise ValueError("not a usearch index")
        if graph.ndim != dim or graph.metric_kind != MetricKind.IP or graph.dtype != dtype:
            raise ValueError(f"graph config {graph} does not match")
        if len(graph) != len(ids) or (len(ids) and not np.all(graph.contains(ids))):
            raise ValueError("graph keys differ from the snapshot")
    except Exception as exc:
        log.warning("index graph %s unusable (%s), will rebuild", file, exc)
        return None
    return graph


def _check(ids: np.ndarray, vectors: np.ndarray, dim: int) -> None:
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError("bad ids array")
    if vectors.ndim != 2 or vectors.shape != (len(ids), dim) or vectors.dtype.kind != "f":
        raise ValueError(f"bad vectors array {vectors.shape} {vectors.dtype}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("duplicate ids")
    if not np.isfinite(vectors).all():
        raise ValueError("non-finite vectors")


def _remove_stale_graphs(path: Path, keep_token: str) -> None:
    keep = graph_path(path, keep_token).name if keep_token else None
    for file in path.parent.glob(f"{glob.escape(path.name)}.*{_GRAPH_SUFFIX}"):
        if file.name != keep:
            file.unlink(missing_ok=True)


def remove_stale_tmp(path: Path) -> None:
    """Crashed saves' temporary files of ``path`` (snapshots and graphs), left alone while
    they may still be another writer's (STALE_TMP_SECONDS)."""
    cutoff = time.time() - STALE_TMP_SECONDS
    for file in path.parent.glob(f"{glob.escape(path.name)}.*tmp"):
        try:
            if file.stat().st_mtime < cutoff:
                file.unlink(missing_ok=True)
        except FileNotFoundError:
            pass


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; directories cannot be opened on Windows.
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
