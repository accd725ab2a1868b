"""An in-memory inverted file of a library's stored binary keypoint descriptors, asked which
images hold the most of a query's keypoints.

Why: a photo of part of a page, or of a texture on a busy table, can leave its original
thousands deep in the global vector's ranking while its keypoints verify on it with 100+
inliers (benchmarks/studies/keypoint_votes.py, 2026-12-07). Brute force over every stored
keypoint takes seconds a query. Here each query keypoint's near neighbours are found by
bit-sampling locality-sensitive hashing (Indyk and Motwani, the family FLANN's LSH index uses
for binary descriptors): ``tables`` hash tables, each keyed by ``bits`` bits of the
descriptor drawn once from a fixed seed, so that two descriptors a few bits apart share a key
in some table. Candidates sharing a bucket are measured exactly (Hamming), and a query
keypoint votes for the image of its nearest only where that is clearly nearer (Lowe's ratio)
than the nearest of any other image.

OpenCV's FLANN LSH index was measured on the same 1.55 million AKAZE descriptors (8 tables,
20-bit keys, multi-probe 1): 4 s to build, as here, but 2.3 s for a query's 1,000 keypoints
against 0.1-0.2 s here, and it cannot remove a descriptor without being built again whole.

Rows live in immutable segments, built outside the lock that adds and removals take. Adds
wait in a pending list that the next vote turns into a segment; small segments are merged as
a binary counter carries (amortised log n rebuilds). A removal marks its rows dead; a merge,
or a rebuild once a segment is more than half dead, drops them. The table can hold only each
image's strongest keypoints (``per_image``). It is filled from the store at its first vote
(``load``), not when the library opens: only queries nothing else answered ask it. Given a
``path``, ``save`` writes it there (index.keypoint_files) and the next ``load`` maps what was
written and reads from the store only what changed since.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from tusou.index import keypoint_files as files
from tusou.index._persist import writer_lock
from tusou.index.hamming import popcount_rows

log = logging.getLogger(__name__)

# A query keypoint's nearest stored keypoint counts when it is under this share of the
# descriptor's bits away (AKAZE: 97 of 488; ORB: 51 of 256) and under RATIO of the nearest
# keypoint of any other image.
MAX_DISTANCE_SHARE = 0.2
RATIO = 0.8
_SEED = 20261207


class KeypointSource(Protocol):
    """What a table is filled from: a library's store."""

    def generation(self) -> int:
        """A number that changes whenever an image's stored keypoints are replaced under
        its id (adds and removals need not change it: they change the ids)."""
        ...

    def image_ids(self) -> np.ndarray:
        """Every image's id."""
        ...

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(id, descriptors) of those of ``ids`` still stored."""
        ...


class HeldKeypoints:
    """A KeypointSource over images held in memory (a search's reach, studies, tests)."""

    def __init__(self, images: Iterable[tuple[int, np.ndarray]], generation: int = 0) -> None:
        self.images = dict(images)
        self.version = generation

    def generation(self) -> int:
        return self.version

    def image_ids(self) -> np.ndarray:
        return np.array(sorted(self.images), np.int64)

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        for image_id in ids.tolist():
            if image_id in self.images:
                yield image_id, self.images[image_id]


@dataclass(eq=False)
class _Segment:
    """Rows of whole images: descriptors as uint64 words, the image of each row, and per
    table the rows' keys sorted with the row each came from. Its rows never change: only
    ``dead`` does, and once the segment is written, its ``name`` is set and its arrays are
    read from its files (equal arrays)."""

    words: np.ndarray  # (n, w) uint64, the descriptor zero-padded to whole words
    owners: np.ndarray  # (n,) int64 image ids
    keys: np.ndarray  # (tables, n) uint32, each row of it sorted
    rows: np.ndarray  # (tables, n) int32: the row each sorted key belongs to
    dead: np.ndarray  # (n,) bool, set when the row's image is removed
    spans: dict[int, tuple[int, int]]  # image id -> its rows [start, end)
    name: str | None = None  # its files' name (index.keypoint_files) once written

    def __len__(self) -> int:
        return len(self.owners)

    def arrays(self) -> dict[str, np.ndarray]:
        """Its row arrays by the names its files take (index.keypoint_files.ARRAYS)."""
        return {"words": self.words, "owners": self.owners, "keys": self.keys, "rows": self.rows}

    @property
    def live(self) -> int:
        # Asked for every segment at every vote (is it half dead?): count_nonzero, not sum,
        # is a tenth of the time (0.16 against 1.4 ms for 4 million rows).
        return len(self.owners) - int(np.count_nonzero(self.dead))


class KeypointTable:
    """Image id -> its keypoints' binary descriptors (all of one width), voted over.

    Thread-safe: writers hold a lock for a few list operations, never for a build (which
    votes wait for: one build at a time); a vote reads a snapshot of the segments, so an
    image removed meanwhile may still be among its candidates (the caller verifies
    candidates against the store, which no longer has it). With a ``path``, ``save`` writes
    it there and ``load`` starts from what was written.
    """

    def __init__(self, *, tables: int = 8, bits: int = 20, bucket_cap: int = 300,
                 per_image: int | None = None, segment_rows: int = 4_000_000,
                 path: Path | None = None) -> None:
        if not 1 <= bits <= 32:
            raise ValueError(f"bits must be 1..32, got {bits}")
        if per_image is not None and per_image < 1:
            raise ValueError(f"per_image must be at least 1, got {per_image}")
        self._tables = tables
        self._bits = bits
        # A bucket holding more than this many rows is a stop word (flat or repeated
        # patterns): its rows are near every query keypoint of that look and tell nothing.
        self._cap = bucket_cap
        # Each image's first rows only: its strongest keypoints, as features.keypoints
        # orders them. Memory and filling time fall with the rows kept, while a page a query
        # shows still gathers most of its votes (benchmarks/studies/vote_caps.py).
        self._per_image = per_image
        # A build holds its rows about twice over for a moment (gathered, laid by byte, keyed
        # and sorted), and a merge takes about 2 s a million rows: segments grow to this many
        # rows, no more. 15.2 million rows (benchmarks/studies/keypoint_table_scale.py) in 4
        # segments: 4.0 GB resident at most, against 6.2 GB in 1; votes p50 139-149 ms
        # against 119-121 ms (beside CI; a vote asks each segment).
        self._segment_rows = segment_rows
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._load_mutex = threading.Lock()
        self._build_mutex = threading.Lock()
        self._save_mutex = threading.Lock()
        # The store generation (KeypointSource.generation) the content matches; None once
        # unknown (another replacement came between), when it is not saved until loaded again.
        self._generation: int | None = None
        self._version = 0  # counts changes, so that a save without any writes nothing
        self._saved_version = -1
        self._changed: set[int] | None = None  # images changed while segments are built
        self._loaded = False
        self._loading = False  # the store is being read: changes meanwhile are kept apart
        self._width: int | None = None  # bytes per descriptor
        # Per table, (byte, lookup) for each descriptor byte its key samples: the lookup
        # (256 uint32) puts that byte's sampled bits where the key holds them.
        self._lookups: list[list[tuple[int, np.ndarray]]] = []
        self._segments: list[_Segment] = []
        self._pending: dict[int, np.ndarray] = {}
        self._building: dict[int, np.ndarray] = {}  # taken from pending by a build under way
        self._removed: set[int] = set()  # removed while the store is read
        # Images held with no keypoints to vote with (smooth pictures, about 2 % of a book's
        # pages), saved with the table so that the next load need not read them again.
        self._bare: set[int] = set()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def __len__(self) -> int:
        """Images held (pending ones included)."""
        with self._lock:
            spans = {i for s in self._segments for i in s.spans if not s.dead[s.spans[i][0]]}
            return len(spans | set(self._pending))

    @property
    def nbytes(self) -> int:
        """Memory the segments hold (mapped from their files once saved), and the
        descriptors pending, not yet built into one."""
        with self._lock:
            return (sum(a.nbytes for s in self._segments for a in (*s.arrays().values(), s.dead))
                    + sum(d.nbytes for held in (self._pending, self._building)
                          for d in held.values()))

    @property
    def keypoints(self) -> int:
        """Rows in the segments, dead ones included until a build drops them (a merge, or
        the segment's rebuild once more than half of it is dead), and rows pending (added
        since the last build, which the next vote or save makes, or in a build under way)."""
        with self._lock:
            return (sum(len(s) for s in self._segments)
                    + sum(len(d) for held in (self._pending, self._building)
                          for d in held.values()))

    # --- writes ------------------------------------------------------------------------

    def upsert(self, image_id: int, descriptors: np.ndarray, *,
               generation: int | None = None) -> None:
        """Hold ``descriptors`` (n x width uint8) for ``image_id``, replacing what it had.
        Before the table is loaded nothing is kept (the load reads the store, which has
        them), but while it loads these win over what it reads. ``generation``: the store's
        keypoint generation this replacement brought it to (a refresh of stored keypoints;
        adds need none)."""
        descriptors = self._kept(descriptors)
        image_id = int(image_id)
        with self._lock:
            self._kill(image_id)
            self._pending.pop(image_id, None)
            if self._loaded or self._loading:
                if len(descriptors):
                    self._pending[image_id] = descriptors
                    self._bare.discard(image_id)
                else:  # a picture without keypoints has nothing to vote for it
                    self._bare.add(image_id)
                    if self._loading:  # what the load reads of it is older
                        self._removed.add(image_id)
            self._advance(generation)

    def remove(self, ids: Iterable[int], *, generation: int | None = None) -> None:
        """Drop ``ids``; unknown ids are ignored. ``generation`` as for ``upsert``, where
        stored keypoints were replaced by none."""
        with self._lock:
            for image_id in ids:
                self._kill(int(image_id))
                self._pending.pop(int(image_id), None)
                self._bare.discard(int(image_id))
                if self._loading:
                    self._removed.add(int(image_id))
            self._advance(generation)

    def _advance(self, generation: int | None) -> None:
        """Count a change; the content matches store ``generation`` if it is the next one
        after what it matched (else some other replacement came between, which this table
        may not hold: it is not saved again until it is loaded again)."""
        self._version += 1
        if generation is not None and self._generation is not None:
            self._generation = generation if generation == self._generation + 1 else None

    def _kill(self, image_id: int) -> None:
        if self._changed is not None:
            self._changed.add(image_id)
        for segment in self._segments:
            span = segment.spans.get(image_id)
            if span is not None:
                segment.dead[span[0]:span[1]] = True

    def load(self, source: KeypointSource) -> bool:
        """Fill the table once from ``source`` (what was saved at ``path``, if it matches
        the source's generation, and the source's images that it does not hold) and build
        it. Images added or removed while it reads win over what it read. True where this
        call filled it; a later call, or one that waited for another's fill, does nothing
        and returns False."""
        if self._loaded:
            return False
        with self._load_mutex:
            if self._loaded:
                return False
            with self._lock:
                self._loading = True
            try:
                # Read once changes are being kept, before anything else is: a replacement
                # either counts in it, or is kept (pending) and wins over what was read.
                generation = source.generation()
                saved = self._saved(generation)
                segments, bare = saved or ([], np.zeros(0, np.int64))
                with self._lock:
                    self._generation = generation
                    self._segments = segments
                    changed = {*self._pending, *self._removed, *self._bare}  # meanwhile
                    for image_id in changed:
                        self._kill(image_id)
                ids = source.image_ids()
                if saved is not None:
                    bare = np.intersect1d(bare, ids)
                    held = np.union1d(self._reconciled(ids), bare)
                    ids = np.setdiff1d(ids, held, assume_unique=True)
                # Each image's kept rows, copied: a slice would hold the whole array.
                read = {i: self._kept(d) for i, d in source.descriptors(ids)}
            except BaseException:
                with self._lock:  # the next load reads the store again, these with it
                    self._loading = False
                    self._pending.clear()
                    self._removed.clear()
                    self._bare.clear()
                    self._segments = []
                    self._generation = None
                raise
            with self._lock:
                # Images changed meanwhile are as those changes left them (their rows
                # pending, or bare), not as saved or read.
                changed = {*self._pending, *self._removed, *self._bare}
                for image_id in bare.tolist():
                    if image_id not in changed:
                        self._bare.add(image_id)
                for image_id, descriptors in read.items():
                    if image_id in changed:
                        continue
                    if len(descriptors):
                        self._pending[image_id] = descriptors
                    else:
                        self._bare.add(image_id)
                self._removed.clear()
                self._loading = False
                self._loaded = True
                self._version += 1
            self._flushed()
            if saved is not None:
                log.info("keypoint table %s: %d segments mapped, %d images read from the store",
                         self._path, len(segments), len(read))
            return True

    def _reconciled(self, ids: np.ndarray) -> np.ndarray:
        """Marks dead the saved rows of images no longer among ``ids``; returns the images
        the segments still hold."""
        held: list[int] = []
        with self._lock:
            for segment in self._segments:
                segment.dead |= ~np.isin(segment.owners, ids)
                held.extend(i for i, (start, _) in segment.spans.items() if not segment.dead[start])
        return np.unique(np.array(held, np.int64))

    # --- files -------------------------------------------------------------------------

    def save(self) -> bool:
        """Write the table to ``path``: its segments not yet written (what is pending is
        built first) and a manifest naming them. False when there is nothing to write, or
        nothing the table can vouch for (no path, not loaded, or a store generation it may
        have missed)."""
        if self._path is None or not self._loaded or self._generation is None:
            return False
        with self._save_mutex:
            self._flushed()
            with self._lock:
                if self._generation is None or self._version == self._saved_version:
                    return False
                segments = list(self._segments)
                dead = [s.dead.copy() for s in segments]
                bare = np.array(sorted(self._bare), np.int64)
                generation, version = self._generation, self._version
            with writer_lock(self._path):
                self._write(self._path, segments, dead, bare, generation)
            self._saved_version = version
            return True

    def _write(self, path: Path, segments: list[_Segment], dead: list[np.ndarray],
               bare: np.ndarray, generation: int) -> None:
        """Write ``segments`` not yet written, then the manifest (caller holds the lock)."""
        for segment in segments:
            # Another process writing this library's table may have removed its files.
            if segment.name is None or not files.segment_exists(path, segment.name):
                segment.name = files.write_segment(path, segment.arrays())
                # Read from its files from now on: the segment's memory is then the
                # page cache's, which the system can reclaim (and read again), not the
                # process's own. The arrays are equal, so a vote reading it meanwhile
                # sees the same rows whichever it reads.
                mapped = files.read_segment(path, segment.name)
                segment.words, segment.owners, segment.keys, segment.rows = (
                    mapped[array] for array in files.ARRAYS)
        files.write_manifest(path, files.Manifest(
            self._settings(), generation, [s.name or "" for s in segments], dead, bare))

    def close(self) -> None:
        """Write nothing more (the library is closed or deleted); waits for a save that is
        writing."""
        with self._save_mutex:
            self._path = None

    def _settings(self) -> dict[str, int]:
        return {"tables": self._tables, "bits": self._bits, "seed": _SEED,
                "per_image": self._per_image or 0, "width": self._width or 0}

    def _saved(self, generation: int) -> tuple[list[_Segment], np.ndarray] | None:
        """The segments saved at ``path`` (memory-mapped) and the images saved as bare, if
        they match ``generation`` and this table's settings (a table of bare images only
        has no segment); None otherwise (any damage: the store is read instead)."""
        if self._path is None:
            return None
        try:
            manifest = files.read_manifest(self._path)
            if manifest is None:
                return None
            width = manifest.settings.get("width", 0)
            # A table that never held a keypoint (bare images only) has no width yet.
            if (width < 0 or (width == 0 and manifest.segments)
                    or manifest.settings != {**self._settings(), "width": width}):
                log.info("keypoint table %s: saved with other settings, filled again", self._path)
                return None
            if manifest.generation != generation:
                log.info("keypoint table %s: stored keypoints replaced since it was saved "
                         "(generation %d, now %d), filled again", self._path,
                         manifest.generation, generation)
                return None
            if width:
                self._set_width(width)
            return ([self._mapped(name, dead)
                     for name, dead in zip(manifest.segments, manifest.dead, strict=True)],
                    np.unique(manifest.bare))
        except Exception as exc:  # a damaged file means "read the store", never "crash"
            log.warning("keypoint table %s unreadable (%s: %s), filled from the store",
                        self._path, type(exc).__name__, exc)
            return None

    def _mapped(self, name: str, dead: np.ndarray) -> _Segment:
        """Segment ``name`` read back, its arrays checked as far as a vote relies on them."""
        assert self._path is not None and self._width is not None
        a = files.read_segment(self._path, name)
        words, owners, keys, rows = a["words"], a["owners"], a["keys"], a["rows"]
        n = len(owners)
        shapes = {"words": (words.shape, (n, -(-self._width // 8)), np.uint64),
                  "owners": (owners.shape, (n,), np.int64),
                  "keys": (keys.shape, (self._tables, n), np.uint32),
                  "rows": (rows.shape, (self._tables, n), np.int32)}
        for array, (shape, expected, dtype) in shapes.items():
            if shape != expected or a[array].dtype != dtype:
                raise ValueError(f"segment {name}: {array} is {shape} {a[array].dtype}")
        if len(dead) != n or not n:
            raise ValueError(f"segment {name}: {n} rows, {len(dead)} marked")
        if rows.min() < 0 or rows.max() >= n or (keys[:, 1:] < keys[:, :-1]).any():
            raise ValueError(f"segment {name}: keys unsorted or rows out of range")
        spans = _spans(owners)
        if len(spans) != int(np.count_nonzero(_run_starts(owners))):
            raise ValueError(f"segment {name}: an image's rows are not together")
        return _Segment(words, owners, keys, rows, dead.copy(), spans, name)

    def _kept(self, descriptors: np.ndarray) -> np.ndarray:
        """The rows of ``descriptors`` the table holds: the first ``per_image``, as a
        contiguous matrix of their own."""
        descriptors = _matrix(descriptors)
        if self._per_image is not None and len(descriptors) > self._per_image:
            return descriptors[:self._per_image].copy()
        return descriptors

    # --- reads -------------------------------------------------------------------------

    def votes(self, descriptors: np.ndarray, count: int, *, min_votes: int = 1,
              allowed: np.ndarray | None = None, exclude: Iterable[int] = ()
              ) -> list[tuple[int, int]]:
        """The ``count`` images most query keypoints (``descriptors``) vote for, as
        (id, votes) best first (ties by id), each with at least ``min_votes``; limited to
        ``allowed`` ids when given, never one of ``exclude``."""
        segments = self._flushed()
        if not segments or len(descriptors) == 0 or count <= 0:
            return []
        query = _matrix(descriptors)
        width = self._width
        if width is None or query.shape[1] != width:
            return []  # descriptors of another extractor
        keys = self._keys(query)
        words = _words(query)
        found = [self._near(segment, keys, words, allowed) for segment in segments]
        q = np.concatenate([f[0] for f in found])
        owner = np.concatenate([f[1] for f in found])
        distance = np.concatenate([f[2] for f in found])
        voted = _ratio_votes(q, owner, distance, width * 8)
        if not len(voted):
            return []
        ids, counts = np.unique(voted, return_counts=True)
        skip = set(exclude)
        ranked = sorted(((int(i), int(c)) for i, c in zip(ids, counts, strict=True)
                         if c >= min_votes and int(i) not in skip), key=lambda h: (-h[1], h[0]))
        return ranked[:count]

    def _near(self, segment: _Segment, keys: np.ndarray, words: np.ndarray,
              allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, image id, distance) for every live row of ``segment`` that shares a
        bucket with a query keypoint in some table, each pair once."""
        pairs = []
        for t in range(self._tables):
            lo = np.searchsorted(segment.keys[t], keys[t], "left")
            hi = np.searchsorted(segment.keys[t], keys[t], "right")
            sizes = hi - lo
            sizes[sizes > self._cap] = 0
            total = int(sizes.sum())
            if not total:
                continue
            starts = np.repeat(lo - np.cumsum(sizes) + sizes, sizes)
            rows = segment.rows[t][starts + np.arange(total)]
            pairs.append(np.repeat(np.arange(len(keys[t]), dtype=np.int64), sizes) * len(segment)
                         + rows)
        empty = np.empty(0, np.int64)
        if not pairs:
            return empty, empty, empty
        # Sorted, then each pair once (np.unique hashes, several times slower here).
        pair = np.sort(np.concatenate(pairs))
        pair = pair[_run_starts(pair)]
        q, rows = np.divmod(pair, len(segment))
        keep = ~segment.dead[rows]
        if allowed is not None:
            keep &= np.isin(segment.owners[rows], allowed)
        q, rows = q[keep], rows[keep]
        distance = popcount_rows(np.bitwise_xor(words[q], segment.words[rows]))
        # A pair this far can neither vote (past MAX_DISTANCE_SHARE) nor, as another image's
        # nearest, stop a vote (a nearest under the share is under RATIO of it): dropped
        # here, it changes no vote and spares sorting most pairs.
        near = distance < MAX_DISTANCE_SHARE * (self._width or 0) * 8 / RATIO
        return q[near], segment.owners[rows[near]], distance[near]

    # --- segments ----------------------------------------------------------------------

    def _flushed(self) -> list[_Segment]:
        """The segments, once what is pending is a segment of its own (merged as due) and
        none is more than half dead (deletes without adds would otherwise keep their rows).

        Built outside the lock, so that adds and removals never wait for a build (a merge
        rebuilds up to ``segment_rows`` rows: seconds). One build at a time; an image
        changed meanwhile is marked dead in what was built, as in what it replaces."""
        with self._build_mutex:
            with self._lock:
                if not self._pending and not any(_stale(s) for s in self._segments):
                    return list(self._segments)
                pending, self._pending = self._pending, {}
                self._building = pending
                segments = list(self._segments)  # only a build replaces the list
                self._changed = set()
            try:
                segments = [self._segment(self._alive(s)) if _stale(s) else s for s in segments]
                for chunk in _chunks(pending.items(), self._segment_rows):
                    segments.append(self._segment(chunk))
                    # Merge while the older neighbour is not much larger than the newer one
                    # (each row is rebuilt O(log n) times over the table's life), up to
                    # segment_rows.
                    while len(segments) > 1 and segments[-2].live < 2 * segments[-1].live and (
                            segments[-2].live + segments[-1].live <= self._segment_rows):
                        newer, older = segments.pop(), segments.pop()
                        segments.append(self._segment([*self._alive(older), *self._alive(newer)]))
            except BaseException:
                # Pending again, so that a failed build (out of memory) loses no image; what
                # changed meanwhile stays as it is (pending anew, or removed).
                with self._lock:
                    changed, self._changed = self._changed or set(), None
                    self._building = {}
                    for image_id, descriptors in pending.items():
                        if image_id not in changed:
                            self._pending.setdefault(image_id, descriptors)
                raise
            with self._lock:
                changed, self._changed = self._changed, None
                self._building = {}
                self._segments = segments
                for image_id in changed:
                    self._kill(image_id)
                self._segments = [s for s in segments if s.live]
                return list(self._segments)

    def _segment(self, images: Iterable[tuple[int, np.ndarray]]) -> _Segment:
        images = [(i, d) for i, d in images if len(d)]
        if self._width is None and images:
            self._set_width(images[0][1].shape[1])
        images = [(i, d) for i, d in images if d.shape[1] == self._width]
        if not images:
            empty = np.empty((self._tables, 0), np.uint32)
            return _Segment(np.empty((0, 1), np.uint64), np.empty(0, np.int64), empty,
                            empty.astype(np.int32), np.empty(0, bool), {})
        descriptors = np.concatenate([d for _, d in images])
        owners = np.concatenate([np.full(len(d), i, np.int64) for i, d in images])
        # Each table's keys sorted with their rows: one sort of (key, row) as one 64-bit
        # number (the rows make them unique, so the order is as a stable argsort's; twice
        # as fast).
        keyed = self._keys(descriptors).astype(np.uint64) << np.uint64(32)
        keyed |= np.arange(len(owners), dtype=np.uint64)
        keyed.sort(axis=1)
        return _Segment(_words(descriptors), owners, (keyed >> np.uint64(32)).astype(np.uint32),
                        (keyed & np.uint64(0xFFFFFFFF)).astype(np.int32), np.zeros(len(owners), bool),
                        _spans(owners))

    def _set_width(self, width: int) -> None:
        """Descriptors are ``width`` bytes: each table's key bits drawn (from the fixed
        seed, so that a saved table's keys are made again alike)."""
        if self._width is not None:
            if width != self._width:
                raise ValueError(f"descriptors of {width} bytes, the table's are {self._width}")
            return
        self._width = width
        rng = np.random.default_rng(_SEED)
        self._lookups = [_lookups(np.sort(rng.choice(width * 8, self._bits, replace=False)))
                         for _ in range(self._tables)]

    def _alive(self, segment: _Segment) -> Iterator[tuple[int, np.ndarray]]:
        """The live images of ``segment`` with their descriptors, unpadded again."""
        raw = segment.words.view(np.uint8)[:, :self._width]
        for image_id, (start, end) in segment.spans.items():
            if not segment.dead[start]:
                yield image_id, raw[start:end]

    def _keys(self, descriptors: np.ndarray) -> np.ndarray:
        """(tables, n) uint32: each table's sampled bits of each descriptor (bit k of a key
        is the table's k-th sampled bit, counted from each byte's highest)."""
        assert self._lookups
        columns = np.ascontiguousarray(descriptors.T)  # a byte of every descriptor, contiguous
        out = np.zeros((self._tables, len(descriptors)), np.uint32)
        for key, lookups in zip(out, self._lookups, strict=True):
            for byte, lookup in lookups:
                key |= lookup[columns[byte]]
        return out


def _lookups(positions: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """For a key of the bits at ``positions`` (bit numbers, each byte's highest first): per
    byte they fall in, the key bits each of its 256 values sets."""
    values = np.arange(256, dtype=np.uint32)
    out: dict[int, np.ndarray] = {}
    for k, bit in enumerate(int(b) for b in positions):
        lookup = out.setdefault(bit // 8, np.zeros(256, np.uint32))
        lookup |= (values >> np.uint32(7 - bit % 8) & np.uint32(1)) << np.uint32(k)
    return sorted(out.items())


def _chunks(images: Iterable[tuple[int, np.ndarray]], rows: int
            ) -> Iterator[list[tuple[int, np.ndarray]]]:
    """``images`` in runs of about ``rows`` rows (an image is never split)."""
    chunk: list[tuple[int, np.ndarray]] = []
    held = 0
    for image in images:
        chunk.append(image)
        held += len(image[1])
        if held >= rows:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _stale(segment: _Segment) -> bool:
    """More than half of ``segment``'s rows are dead: it is built again from the rest."""
    return segment.live < len(segment) // 2


def _matrix(descriptors: np.ndarray) -> np.ndarray:
    """Descriptors as a contiguous (n, width) uint8 matrix (n may be 0: a smooth picture
    has no keypoints, and its descriptors are (0, width))."""
    matrix = np.ascontiguousarray(descriptors, dtype=np.uint8)
    if matrix.ndim != 2:
        raise ValueError(f"descriptors must be (n, width), got shape {matrix.shape}")
    return matrix


def _words(descriptors: np.ndarray) -> np.ndarray:
    """Descriptors zero-padded to whole 64-bit words (the padding adds no distance)."""
    extra = -descriptors.shape[1] % 8
    padded = np.pad(descriptors, ((0, 0), (0, extra))) if extra else descriptors
    return np.ascontiguousarray(padded).view(np.uint64)


def _spans(owners: np.ndarray) -> dict[int, tuple[int, int]]:
    """Image id -> its rows [start, end) in a segment whose ``owners`` hold each image's
    rows together (an id seen in two runs keeps its last)."""
    starts = np.flatnonzero(_run_starts(owners)).tolist()
    ends = [*starts[1:], len(owners)]
    return {int(owners[b]): (b, e) for b, e in zip(starts, ends, strict=True)}


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal ``values`` (sorted, or grouped) starts, as a bool mask."""
    return np.r_[True, values[1:] != values[:-1]] if len(values) else np.zeros(0, bool)


def _ratio_votes(q: np.ndarray, owner: np.ndarray, distance: np.ndarray, bits: int) -> np.ndarray:
    """The image each query keypoint votes for (at most one each): the owner of its nearest
    candidate, where that is under MAX_DISTANCE_SHARE of the ``bits`` and under RATIO of
    the nearest candidate of any other image (or has no other image's candidate). Another
    image, not another keypoint: a page repeats its letters, and its own second-nearest
    would cancel its vote."""
    if not len(q):
        return np.empty(0, np.int64)
    order = np.lexsort((distance, q))
    q, owner, distance = q[order], owner[order], distance[order]
    first = np.flatnonzero(_run_starts(q))
    group = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(q)]))
    nearest_owner = owner[first][group]
    other = np.flatnonzero(owner != nearest_owner)
    second = np.full(len(first), np.inf)
    # ``other`` runs in group order: each group's first entry is its nearest other image.
    leads = other[_run_starts(group[other])]
    second[group[leads]] = distance[leads]
    d1 = distance[first].astype(np.float64)
    good = (d1 < MAX_DISTANCE_SHARE * bits) & (d1 < RATIO * second)
    return owner[first][good]

