"""The Library service: add, search, update, delete and read the images of one library."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np

from tusou.engine.describe import Box, Describer, Descriptors
from tusou.engine.kinds import KindSpec
from tusou.engine.matching import (
    PDQ_MATCH_DISTANCE,
    Match,
    best_voted,
    last_look,
    merged,
    page_reached,
    rank_matches,
    settled,
    verify_candidates,
    verify_frames,
    verify_geometry,
    verify_pages,
)
from tusou.engine.originals import OriginalStore
from tusou.engine.params import RESULT_WINDOW, Page, validate_brief
from tusou.engine.references import References
from tusou.engine.sources import ImageSource, load_image
from tusou.errors import (
    DuplicateImage,
    FeatureExtractionFailed,
    ImageNotFound,
    InvalidParameter,
    LibraryNotFound,
    MissingParameter,
    TusouError,
)
from tusou.features import Keypoints, l2n
from tusou.features.keypoints import descriptors_from_bytes
from tusou.features.pages import find_pages, page_view, rectified, stepped_outlines
from tusou.images.decode import DecodedImage
from tusou.images.fetch import UrlFetcher
from tusou.images.limits import ImageLimits
from tusou.images.signature import cont_sign as sign_pixels
from tusou.images.signature import parse_cont_sign, parse_cont_sign_list
from tusou.index import VectorIndex
from tusou.index.hamming import HammingTable
from tusou.index.keypoint_table import KeypointTable
from tusou.store import ImageRecord, LibraryRecord, NewImage, Store, TagFilter

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ranked kinds: a cosine this high is the same picture re-encoded or resized.
NEAR_COPY = 0.99
# Two-step query expansion (KindSpec.expansion_seed) re-scores this many first hits.
EXPANSION_SHORTLIST = 20

Labels = tuple[int | None, int | None]


@dataclass(frozen=True)
class SearchHit:
    image: ImageRecord
    score: float
    # For verified matches: where the query appears in the library image, and how many
    # keypoints agreed on it.
    box: Box | None = None
    inliers: int | None = None

    @property
    def cont_sign(self) -> str:
        return self.image.cont_sign


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    has_more: bool
    # Query-side facts faces may report (e.g. the detected subject box).
    query_region: Box | None = None


@dataclass
class LibraryState:
    """The in-memory parts of a library, derived from the store."""

    index: VectorIndex
    hashes: HammingTable
    write_lock: threading.Lock
    # Every image's stored keypoints, voted over (kinds with vote_candidates); filled from
    # the store at its first vote.
    votes: KeypointTable | None = None
    unsaved_changes: int = 0
    # Set (under the write lock) when the library is deleted or the engine closes; a
    # request still holding this Library then gets LibraryNotFound, not a closed index.
    closed: bool = False


def make_labels(spec: KindSpec, tags: Sequence[int] = (),
                class_ids: Labels | None = None) -> Labels:
    """Tag values by position: tags for most kinds, class_id1/2 for class-id kinds."""
    if spec.filter_style == "class_ids":
        if tags:
            raise InvalidParameter(f"{spec.name} libraries take class_id1/class_id2, not tags",
                                   field="tags")
        return class_ids or (None, None)
    if class_ids and any(c is not None for c in class_ids):
        raise InvalidParameter(f"{spec.name} libraries take tags, not class ids",
                               field="class_id1")
    padded = list(tags)[:2] + [None, None]
    return padded[0], padded[1]


def make_filter(spec: KindSpec, *, tags: Sequence[int] = (), logic: str = "and",
                class_ids: Labels | None = None) -> TagFilter:
    if spec.filter_style == "class_ids":
        make_labels(spec, tags, class_ids)
        return TagFilter(positional=class_ids or (None, None))
    make_labels(spec, (), class_ids)
    if logic not in ("and", "or"):
        raise InvalidParameter("tag_logic must be 'and' or 'or'", field="tag_logic")
    return TagFilter(all_of=tuple(tags)) if logic == "and" else TagFilter(any_of=tuple(tags))


class Library:
    """One library's operations. Thread-safe; obtained from ``Engine.library``."""

    def __init__(self, record: LibraryRecord, spec: KindSpec, state: LibraryState, *,
                 store: Store, describer: Describer, fetcher: UrlFetcher,
                 originals: OriginalStore, flush_every: int) -> None:
        self.record = record
        self.spec = spec
        self._state = state
        self._store = store
        self._describer = describer
        self._fetcher = fetcher
        self._originals = originals
        self._flush_every = flush_every
        self._saver: threading.Thread | None = None  # the keypoint table's background save
        self._loader: threading.Thread | None = None  # ... and its background fill
        self._background_lock = threading.Lock()  # starts either thread

    @property
    def name(self) -> str:
        return self.record.name

    # --- intake -------------------------------------------------------------------------

    def _limits(self, formats: frozenset[str] | None) -> ImageLimits:
        if formats is None:
            return self.spec.limits
        return replace(self.spec.limits, formats=self.spec.limits.formats & formats)

    def load(self, source: ImageSource, formats: frozenset[str] | None = None) -> DecodedImage:
        """Decode and validate an image against this library's kind."""
        return load_image(source, self._limits(formats), self._fetcher)

    def sign(self, source: ImageSource, formats: frozenset[str] | None = None) -> str:
        """The cont_sign ``source`` has (or would have) in this library."""
        return sign_pixels(self.load(source, formats).pixels)

    def _describe(self, pixels: np.ndarray, *, query: bool) -> Descriptors:
        return self._extracting(lambda: self._describer.describe(self.spec, self.record.pipeline,
                                                                 pixels, query=query))

    def _extracting(self, extract: Callable[[], T]) -> T:
        try:
            return extract()
        except TusouError:
            raise
        except Exception as exc:  # a model failing on one image must not take the server down
            log.exception("feature extraction failed")
            raise FeatureExtractionFailed(f"could not describe the image: {exc}",
                                          field="image") from exc

    # --- writes -------------------------------------------------------------------------

    def add(self, source: ImageSource, *, brief: str | None, tags: Sequence[int] = (),
            class_ids: Labels | None = None, product_id: str | None = None,
            pic_name: str | None = None, attrs: dict[str, Any] | None = None,
            formats: frozenset[str] | None = None) -> ImageRecord:
        """Store an image; acknowledged (returned) only once the store has committed it."""
        checked_brief = validate_brief(brief, required=True)
        assert checked_brief is not None
        labels = make_labels(self.spec, tags, class_ids)
        image = self.load(source, formats)
        sign = sign_pixels(image.pixels)
        if self._store.image_id(self.record.id, sign) is not None:
            raise DuplicateImage(sign)
        desc = self._describe(image.pixels, query=False)
        new = NewImage(
            cont_sign=sign, brief=checked_brief, width=image.width, height=image.height,
            image_format=image.format, vector=desc.vector, tags=labels, product_id=product_id,
            pic_name=pic_name, attrs=attrs or {},
            pdq=desc.pdq[0].to_bytes() if desc.pdq else None,
            # Kept even without a single keypoint: its thumbnail still serves the content
            # and whole-frame checks (smooth stripes have no corners at all).
            keypoints=desc.keypoints.to_bytes() if desc.keypoints is not None else None,
            details=desc.details.to_bytes() if desc.details is not None else None,
            region=desc.region)
        if self.record.store_originals:
            self._originals.put(self.record.id, sign, image.data, image.format, image.pixels)
        state = self._state
        with state.write_lock:
            self._check_open()
            record = self._store.insert_image(self.record.id, new)
            # Committed: from here on the add is acknowledged whatever happens. If the
            # in-memory index fails, the catch-up at the next open repairs it.
            try:
                state.index.upsert([record.id], desc.vector[None, :])
                if new.pdq is not None:
                    state.hashes.upsert([record.id], [new.pdq])
                if state.votes is not None and desc.keypoints is not None:
                    state.votes.upsert(record.id, desc.keypoints.descriptors)
                self._changed(1)
            except Exception:
                log.exception("library %s: indexing committed image %s failed", self.name,
                              record.cont_sign)
        return record

    def update(self, cont_sign: str, *, brief: str | None = None,
               tags: Sequence[int] | None = None, class_ids: Labels | None = None,
               attrs: dict[str, Any] | None = None) -> ImageRecord:
        """Change brief and/or labels; nothing given is a no-op that still checks existence.

        ``tags`` replaces an image's tags (``[]`` clears them). In ``class_ids`` a None
        position keeps the stored class id, so class_id1 alone leaves class_id2 alone.
        """
        validate_brief(brief, required=False)
        labels: Labels | None = None
        if self.spec.filter_style == "class_ids":
            if tags is not None:
                raise InvalidParameter(f"{self.spec.name} libraries take class_id1/class_id2, "
                                       "not tags", field="tags")
            if class_ids is not None and any(c is not None for c in class_ids):
                stored = self.get(cont_sign).labels
                labels = (class_ids[0] if class_ids[0] is not None else stored[0],
                          class_ids[1] if class_ids[1] is not None else stored[1])
        elif tags is not None or class_ids is not None:
            labels = make_labels(self.spec, tags or (), class_ids)
        return self._store.update_image(self.record.id, cont_sign, brief=brief, tags=labels,
                                        attrs=attrs)

    def target(self, source: ImageSource, cont_sign: str | None,
               formats: frozenset[str] | None = None) -> str:
        """The image an update or delete addresses: image > url > cont_sign."""
        if not source.is_empty:
            return self.sign(source, formats)
        if not cont_sign:
            raise MissingParameter("give the image (file, image or url) or its cont_sign",
                                   field="image")
        return parse_cont_sign(cont_sign)

    def batch(self, cont_signs: str | Sequence[str]) -> list[str]:
        """A delete batch (';'-separated text or a list) within this kind's limit."""
        return parse_cont_sign_list(cont_signs, max_count=self.spec.max_batch_delete)

    def delete(self, cont_signs: Sequence[str]) -> list[ImageRecord]:
        """Delete the images that exist among ``cont_signs``; unknown ones are ignored."""
        if len(cont_signs) > self.spec.max_batch_delete:
            raise InvalidParameter(f"at most {self.spec.max_batch_delete} cont_signs per delete "
                                   f"for {self.spec.name} libraries", field="cont_sign")
        state = self._state
        with state.write_lock:
            self._check_open()
            deleted = self._store.delete_images(self.record.id, cont_signs)
            ids = [r.id for r in deleted]
            state.index.remove(ids)
            state.hashes.remove(ids)
            if state.votes is not None:
                state.votes.remove(ids)
            self._changed(len(ids))
        if self.record.store_originals:
            for record in deleted:
                self._originals.remove(self.record.id, record.cont_sign)
        return deleted

    def _changed(self, count: int) -> None:
        """Count changes (caller holds the write lock) and save the index now and then.

        The store is the source of truth, so saving is only a head start for the next open;
        saving less often as the index grows keeps the cost per add bounded.
        """
        state = self._state
        state.unsaved_changes += count
        if state.unsaved_changes >= max(self._flush_every, len(state.index) // 10):
            try:
                state.index.save()
                state.unsaved_changes = 0
            except OSError:
                log.exception("library %s: saving the index failed", self.name)
            if state.votes is not None and state.votes.loaded:
                self._save_votes_soon()

    def _save_votes_soon(self) -> None:
        """Save the keypoint table in the background (a save builds what is pending:
        seconds at scale), unless a background save is still running."""
        with self._background_lock:
            if self._saver is not None and self._saver.is_alive():
                return
            self._saver = threading.Thread(target=self._save_votes, daemon=True,
                                           name=f"save-votes-{self.name}")
            self._saver.start()

    def load_in_background(self) -> threading.Thread | None:
        """Start filling the keypoint table now, so that the first query to reach the
        vote look need not: mapping a saved table takes under a second, but filling one
        from the store about two minutes at 100,000 pages. A query that reaches the look
        meanwhile waits for this fill rather than start its own, so it answers as it would
        have. The thread filling it (started by an earlier call, perhaps), or None where
        there is nothing to load (no table, or already loaded). It stops, unfinished, once
        the library is closed."""
        votes = self._state.votes
        if votes is None or votes.loaded or self._state.closed:
            return None
        with self._background_lock:
            if self._loader is not None:
                return self._loader if self._loader.is_alive() else None
            self._loader = threading.Thread(target=self._load_votes, args=(votes,), daemon=True,
                                            name=f"load-votes-{self.name}")
            self._loader.start()
            return self._loader

    def _load_votes(self, votes: KeypointTable) -> None:
        try:
            filled = self._fill_votes(votes)
        except LoadStopped:
            return
        except Exception:  # the first query to need it tries again
            log.exception("library %s: loading the keypoint table failed", self.name)
            return
        if filled:
            self._save_votes()

    def close(self) -> None:
        """Save and close the index; later calls on this object get LibraryNotFound."""
        state = self._state
        with state.write_lock:
            if not state.closed:
                state.closed = True
                state.index.close()
                if state.votes is not None:
                    self._save_votes()
                    state.votes.close()

    def keypoint_table_size(self) -> tuple[int, int] | None:
        """(keypoints, bytes) the keypoint table holds (dead rows until a build drops them;
        bytes mapped from its files once saved), None where it is not loaded or the kind
        has none."""
        votes = self._state.votes
        if votes is None or not votes.loaded:
            return None
        return votes.keypoints, votes.nbytes

    def _check_open(self) -> None:
        if self._state.closed:
            raise LibraryNotFound(f"library {self.name!r} was deleted", field="name")

    # --- reads --------------------------------------------------------------------------

    def get(self, cont_sign: str) -> ImageRecord:
        record = self._store.find_image(self.record.id, cont_sign)
        if record is None:
            raise ImageNotFound(f"no image with cont_sign {cont_sign} in library {self.name!r}",
                                field="cont_sign")
        return record

    def list_images(self, *, offset: int = 0, limit: int = 100) -> list[ImageRecord]:
        return self._store.list_images(self.record.id, offset=offset, limit=limit)

    def all_images(self, page_size: int = 1000) -> Iterator[ImageRecord]:
        """Every image of the library, read ``page_size`` records at a time."""
        offset = 0
        while page := self.list_images(offset=offset, limit=page_size):
            offset += len(page)
            yield from page

    def original(self, cont_sign: str) -> tuple[bytes, str]:
        """The stored original file and its format (libraries with ``store_originals``)."""
        record = self.get(cont_sign)
        data = self._originals.original(self.record.id, cont_sign, record.image_format)
        return self._stored(data, cont_sign), record.image_format

    def thumbnail(self, cont_sign: str) -> bytes:
        """A JPEG thumbnail (libraries with ``store_originals``)."""
        self.get(cont_sign)
        return self._stored(self._originals.thumbnail(self.record.id, cont_sign), cont_sign)

    def refresh_keypoints(self) -> tuple[int, int]:
        """Extract every image's local features and thumbnails again from its stored
        original, so that images added before they gained something (the colour thumbnail,
        2026-12-03; a picturebook page's details, 2026-12-06) have it too; vectors and
        hashes are left as they are. Returns (refreshed, skipped: original missing or no
        longer readable). Each image is rewritten on its own, so searches go on meanwhile
        and an interruption loses nothing: what was not reached keeps its old features.
        The keypoint table is saved again at the end."""
        self._check_open()
        if self.spec.keypoints is None:
            raise InvalidParameter(f"{self.spec.name} libraries store no local features",
                                   field="name")
        if not self.record.store_originals:
            raise InvalidParameter("this library does not store originals to extract from "
                                   "(re-add its images instead)", field="name")
        refreshed = skipped = 0
        for record in self.all_images(page_size=100):
            pixels = self._original_pixels(record)
            if pixels is None:
                skipped += 1
                continue
            keypoints = self._extracting(partial(self._describer.keypoints, self.spec, pixels))
            details = self._extracting(partial(self._describer.details, self.spec, pixels))
            blobs = [k.to_bytes() if k is not None else None for k in (keypoints, details)]
            generation = self._store.set_keypoints(record.id, *blobs)
            if generation is not None:  # else deleted meanwhile
                refreshed += 1
                self._revote(record.id, keypoints, generation)
        if self._state.votes is not None and refreshed:
            # The saved keypoint table no longer matches the store: saved again here, so that
            # the next start maps it rather than fill it (minutes for a large library, little
            # beside the refresh itself).
            self._fill_votes(self._state.votes)
            self._save_votes()
        return refreshed, skipped

    def _revote(self, image_id: int, keypoints: Keypoints | None, generation: int) -> None:
        """The keypoint table holds ``image_id``'s refreshed ``keypoints``, which brought
        the store to keypoint ``generation``."""
        votes = self._state.votes
        if votes is None:
            return
        with self._state.write_lock:
            if image_id in self._store.images_by_id([image_id]):  # not deleted meanwhile
                if keypoints is not None:
                    votes.upsert(image_id, keypoints.descriptors, generation=generation)
                else:
                    votes.remove([image_id], generation=generation)

    def _original_pixels(self, record: ImageRecord) -> np.ndarray | None:
        """The decoded stored original of ``record``; None (logged) if it is missing or no
        longer passes the kind's limits."""
        data = self._originals.original(self.record.id, record.cont_sign, record.image_format)
        if data is None:
            log.warning("library %s: no stored original for %s", self.name, record.cont_sign)
            return None
        try:
            return self.load(ImageSource(data=data)).pixels
        except TusouError as exc:
            log.warning("library %s: stored original of %s unreadable: %s", self.name,
                        record.cont_sign, exc.message)
            return None

    def _stored(self, data: bytes | None, cont_sign: str) -> bytes:
        if data is not None:
            return data
        if not self.record.store_originals:
            raise InvalidParameter("this library does not store originals (create it with "
                                   "store_originals)", field="cont_sign")
        raise ImageNotFound(f"the stored file of {cont_sign} is missing", field="cont_sign")

    def search(self, source: ImageSource, *, tag_filter: TagFilter | None = None,
               page: Page = Page(), threshold: float | None = None,
               formats: frozenset[str] | None = None) -> SearchPage:
        self._check_open()
        image = self.load(source, formats)
        desc = self._describe(image.pixels, query=True)
        exact_id = self._store.image_id(self.record.id, sign_pixels(image.pixels))
        return self._rank(desc, exact_id, tag_filter, page, threshold, image.pixels)

    def _ranked(self, vector: np.ndarray, count: int, allowed: np.ndarray | None,
                exact_id: int | None, alternates: Sequence[np.ndarray] = ()) -> list[Match]:
        """Ranked kinds: the library by cosine to ``vector`` (or to the closest of it and
        ``alternates``), after query expansion."""
        index = self._state.index
        expand = self.spec.query_expansion
        seed = self.spec.expansion_seed
        # The neighbours that expand the query must not depend on the page asked for.
        first = (EXPANSION_SHORTLIST if seed else expand + 2) if expand else 0
        wanted = max(count, first)
        hits = index.search(vector, wanted, allowed)
        if alternates:
            # Each image scores its best cosine to any of the query's views (the union of
            # every view's top ``wanted`` holds the top ``wanted`` of that best).
            best: dict[int, float] = {}
            for i, s in [*hits, *(h for v in alternates for h in index.search(v, wanted, allowed))]:
                best[i] = max(s, best.get(i, s))
            hits = sorted(best.items(), key=lambda h: -h[1])[:wanted]
        pinned: list[Match] = []
        if exact_id is not None:
            # The very same image ranks first at 1.0 even where an approximate graph
            # search would have missed it.
            pinned.append(Match(exact_id, 1.0))
        if expand and hits:
            # Near-identical copies stay first with their own cosine; expansion re-ranks the
            # rest, which can otherwise lift a close neighbour's neighbour above a copy.
            pinned += [Match(i, min(s, 1.0)) for i, s in hits if s >= NEAR_COPY and i != exact_id]
            # The query's own stored copy adds nothing the query vector does not have.
            others = [h for h in hits if h[0] != exact_id][:first]
            if seed:
                others = self._rescored(vector, others, seed)
            expanded = vector.astype(np.float32).copy()
            for image_id, similarity in others[:expand]:
                neighbour = index.vector(image_id)
                if neighbour is not None:
                    expanded += max(similarity, 0.0) * neighbour.astype(np.float32)
            hits = index.search(l2n(expanded), count, allowed)
        taken = {m.id for m in pinned}
        ceiling = pinned[-1].score if pinned else 1.0
        # Scores stay monotone down the list (and below a pinned copy's).
        return pinned + [Match(i, min(max(s, 0.0), ceiling)) for i, s in hits if i not in taken]

    def _rescored(self, vector: np.ndarray, shortlist: list[tuple[int, float]], seed: int
                  ) -> list[tuple[int, float]]:
        """``shortlist`` re-scored by the query expanded with its first ``seed`` entries,
        best first (the first step of two-step expansion; dot products, no index search)."""
        ids, vectors = [], []
        for image_id, _ in shortlist:
            stored = self._state.index.vector(image_id)
            if stored is not None:  # deleted meanwhile
                ids.append(image_id)
                vectors.append(stored.astype(np.float32))
        if not ids:
            return []
        matrix = np.stack(vectors)
        weights = np.maximum(matrix[:seed] @ vector.astype(np.float32), 0.0)
        query = l2n(vector.astype(np.float32) + weights @ matrix[:seed])
        scores = matrix @ query
        order = np.argsort(-scores, kind="stable")
        return [(ids[i], float(scores[i])) for i in order]

    def _second_look(self, pixels: np.ndarray, tried: list[int], allowed: np.ndarray | None,
                     refs: References) -> list[Match]:
        """Nothing verified: look again, slower, with candidates from the query's central
        regions and denser keypoints (the first candidates included: a distant or tilted
        photo may verify with more points). Only queries that found nothing pay for this."""
        spec = self.spec
        closer = self._extracting(lambda: self._describer.closer_look(spec, self.record.pipeline,
                                                                      pixels))
        ids = self._second_look_candidates(closer.vectors, tried, allowed)
        return rank_matches(verify_geometry(spec, closer.keypoints, ids, refs, spec.keypoint_cells))

    def _turned_look(self, pixels: np.ndarray, query: Keypoints, tried: list[int],
                     allowed: np.ndarray | None, refs: References) -> list[Match]:
        """Nothing verified: perhaps a whole copy turned a quarter, of a picture whose vector
        turns with it (stripes, wood grain: Lite0's features are not rotation-invariant),
        so that its original ranks far down. The query turned back a quarter finds more
        candidates, judged whole-frame (the quarter turns ``verify_frames`` tries)."""
        spec = self.spec
        vector = self._extracting(lambda: self._describer.vector(
            self.record.pipeline, np.ascontiguousarray(np.rot90(pixels))))
        judged = set(tried)
        ids = [i for i, _ in self._state.index.search(vector, spec.verify_candidates, allowed)
               if i not in judged]
        return verify_frames(spec, query, ids, refs)

    def _second_look_candidates(self, vectors: list[np.ndarray], tried: list[int],
                                allowed: np.ndarray | None) -> list[int]:
        """The first look's first ``second_look_candidates`` and the regions' candidates."""
        ids = [*tried[:self.spec.second_look_candidates], *self._region_candidates(vectors, allowed)]
        return list(dict.fromkeys(ids))

    def _page_look(self, pixels: np.ndarray, tried: list[int], allowed: np.ndarray | None,
                   refs: References) -> list[Match]:
        """Nothing verified: is the query a photo of a printed page or poster? Each page
        outline found in it is compared whole with the candidates tried so far and with the
        nearest vectors of the page seen square-on (a small page on a textured table can
        leave the original far down the whole photo's ranking); failing that (kinds with
        ``page_keypoints``), each outline's page square-on in turn, best outline first, is
        verified by keypoints against its own nearest vectors, the first also against the
        candidates tried (on a busy table the best-supported outline may be the table's
        pattern, not the page)."""
        spec = self.spec
        quads = self._extracting(lambda: find_pages(pixels))
        if not quads:
            return []
        vectors = self._extracting(lambda: [
            self._describer.vector(self.record.pipeline, rectified(pixels, quad)) for quad in quads])
        nearest = [[i for i, _ in self._state.index.search(vector, spec.verify_candidates, allowed)]
                   for vector in vectors]
        pages = [page_view(pixels, quad) for quad in quads]
        # a striped page's outline may have stopped a stripe short or gone one past: it is
        # also laid with its sides along the stripes at the next boundaries in or out
        laid = pages + [page_view(pixels, other)
                        for other in self._extracting(partial(stepped_outlines, pixels, quads))]
        judged = list(dict.fromkeys([*tried, *(i for ids in nearest for i in ids)]))
        found = verify_pages(spec, laid, judged, refs)
        if settled(found):
            return found
        # the best outline's page's nearest vectors past those judged
        seen = set(judged)
        reach = [i for i, _ in self._state.index.search(vectors[0], spec.page_reach, allowed)
                 if i not in seen] if spec.page_reach else []
        if reach:
            found = merged(found, verify_pages(
                spec, laid, page_reached(pages[0], refs.thumbnails(reach), spec.page_reach_keep), refs))
        if settled(found) or not spec.page_keypoints:
            return found
        # (Pages that count only compared coarser are weak: the page's keypoints may still
        # verify it, more surely.) A later outline's page only against its own nearest, not
        # the candidates tried again: the pages found by a later outline in the evaluations
        # (2026-12-06, both suites, seeds 1 and 2) were among its own nearest too.
        candidates = [[*tried, *nearest[0]], *nearest[1:]]
        for n, (quad, ids) in enumerate(zip(quads, candidates, strict=True)):
            probes = self._extracting(partial(self._describer.page_keypoints, spec, pixels, quad))
            if n == 0 and probes:
                # and the best outline's page against its reach's images that most of the
                # page's keypoints vote for (spec.reach_voted, as the last look's reach)
                ids = [*ids, *(i for i, _ in best_voted(probes[0], reach, spec.reach_voted,
                                                        spec.reach_vote_min, refs))]
            verified = rank_matches(verify_geometry(spec, probes, list(dict.fromkeys(ids)),
                                                    refs, spec.page_cells))
            if verified:
                return merged(found, verified)
        return found

    def _vote_look(self, desc: Descriptors, tried: list[int], allowed: np.ndarray | None,
                   refs: References) -> list[Match]:
        """Nothing verified: the images holding the most of the query's keypoints, wherever
        the vectors rank them (``spec.vote_candidates``), verified as the reach is."""
        spec, votes = self.spec, self._state.votes
        if votes is None or desc.keypoints is None:
            return []
        if self._fill_votes(votes):
            # Written in the background: the next start maps it instead of reading the store
            # (the query that filled it has waited long enough).
            self._save_votes_soon()
        voted = votes.votes(desc.keypoints.descriptors, spec.vote_candidates, min_votes=spec.vote_min,
                            allowed=allowed, exclude=tried)
        return rank_matches(verify_geometry(spec, desc.probes, [i for i, _ in voted], refs,
                                            spec.reach_cells))

    def _fill_votes(self, votes: KeypointTable) -> bool:
        """Load the keypoint table (what was saved, and the store's changes since), once:
        True where this call loaded it (a call that waited for another's fill, such as the
        background one, neither logs it nor saves it again)."""
        start = time.perf_counter()
        if not votes.load(StoredKeypoints(self._store, self.record.id, lambda: self._state.closed)):
            return False
        log.info("library %s: keypoint table loaded in %.1f s, %d keypoints, %.0f MiB",
                 self.name, time.perf_counter() - start, votes.keypoints, votes.nbytes / 2**20)
        return True

    def _save_votes(self) -> None:
        """Write the keypoint table beside the index (a head start for the next open, as
        the index's file is: a failure costs only that)."""
        votes = self._state.votes
        if votes is None:
            return
        try:
            start = time.perf_counter()
            if votes.save():
                log.info("library %s: keypoint table saved in %.1f s", self.name,
                         time.perf_counter() - start)
        except Exception:
            log.exception("library %s: saving the keypoint table failed", self.name)

    def _region_candidates(self, vectors: list[np.ndarray], allowed: np.ndarray | None
                           ) -> list[int]:
        """The second look's candidates from its region vectors: each region's nearest or,
        with ``second_look_pool``, the best of all regions' hits pooled."""
        spec, index = self.spec, self._state.index
        if not spec.second_look_pool:
            return [i for vector in vectors
                    for i, _ in index.search(vector, spec.second_look_candidates, allowed)]
        best: dict[int, float] = {}
        for vector in vectors:
            for image_id, similarity in index.search(vector, spec.second_look_pool, allowed):
                best[image_id] = max(similarity, best.get(image_id, similarity))
        return sorted(best, key=lambda i: (-best[i], i))[:spec.second_look_pool]

    def _allowed(self, tag_filter: TagFilter | None) -> np.ndarray | None:
        if tag_filter is None or tag_filter.is_empty:
            return None
        return self._store.image_ids(self.record.id, tag_filter)

    def _rank(self, desc: Descriptors, exact_id: int | None, tag_filter: TagFilter | None,
              page: Page, threshold: float | None, pixels: np.ndarray) -> SearchPage:
        allowed = self._allowed(tag_filter)
        if allowed is not None and exact_id is not None and not np.any(allowed == exact_id):
            exact_id = None
        if allowed is not None and len(allowed) == 0:
            return SearchPage([], False, desc.region)
        spec = self.spec
        state = self._state
        scored: list[Match]
        if spec.verified_only:
            # each candidate read once, whichever looks meet it
            refs = References(self._store.keypoints, with_descriptors=spec.reach_voted > 0)
            pdq_hits = state.hashes.within([h.to_bytes() for h in desc.pdq], PDQ_MATCH_DISTANCE,
                                           allowed) if desc.pdq else {}
            candidates = [i for i, _ in state.index.search(desc.vector, spec.verify_candidates,
                                                           allowed)]
            scored = verify_candidates(spec, desc, exact_id=exact_id, pdq_hits=pdq_hits,
                                       candidates=candidates,
                                       refs=refs)
            tried = list(dict.fromkeys([*pdq_hits, *candidates]))
            if not settled(scored) and spec.frame_agreement and desc.keypoints is not None:
                scored = merged(scored, self._turned_look(pixels, desc.keypoints, tried, allowed, refs))
            if not settled(scored) and spec.second_look_keypoints:
                scored = merged(scored, self._second_look(pixels, candidates, allowed, refs))
            if not settled(scored) and spec.page_agreement:
                scored = merged(scored, self._page_look(pixels, tried, allowed, refs))
            if not settled(scored) and spec.vote_candidates:
                scored = merged(scored, self._vote_look(desc, tried, allowed, refs))
            if not settled(scored) and desc.keypoints is not None:
                # Still nothing: perhaps a part of a picture keypoints cannot hold on to, or
                # one whose original the vectors rank far down.
                judged = set(tried)
                reach = [i for i, _ in state.index.search(desc.vector, spec.reach, allowed)
                         if i not in judged] if spec.reach else []
                details = References(self._store.details) if spec.detail_keypoints else None
                scored = merged(scored, last_look(spec, desc.keypoints, tried, refs,
                                                  reach, desc.probes, details))
            cut = spec.default_threshold if threshold is None else threshold
        else:
            # One more than the page needs tells whether there is more (a threshold only
            # removes from the tail of the ranking, so it cannot change the page).
            scored = self._ranked(desc.vector, min(page.end + 1, RESULT_WINDOW), allowed, exact_id,
                                  desc.alternates)
            cut = 0.0 if threshold is None else threshold
        scored = [m for m in scored if m.score >= cut][:RESULT_WINDOW]
        window = scored[page.pn:page.end]
        records = self._store.images_by_id([m.id for m in window])
        # An id whose row vanished (deleted during this search) is simply skipped.
        out = [SearchHit(records[m.id], round(float(m.score), 6), m.box, m.inliers)
               for m in window if m.id in records]
        return SearchPage(out, has_more=len(scored) > page.end, query_region=desc.region)


class LoadStopped(Exception):
    """The library was closed while its keypoint table was being filled."""


class StoredKeypoints:
    """A library's stored keypoints, as the keypoint table is filled from them."""

    def __init__(self, store: Store, library_id: int,
                 closed: Callable[[], bool] = lambda: False) -> None:
        self._store = store
        self._library_id = library_id
        self._closed = closed

    def generation(self) -> int:
        return self._store.keypoint_generation(self._library_id)

    def image_ids(self) -> np.ndarray:
        return self._store.image_ids(self._library_id)

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Read a few hundred at a time; stops (LoadStopped) once the library is closed,
        as a fill of minutes must not outlive it."""
        wanted = ids.tolist()
        for start in range(0, len(wanted), 500):
            if self._closed():
                raise LoadStopped(f"library {self._library_id} closed")
            for image_id, blob in self._store.keypoints(wanted[start:start + 500]).items():
                yield image_id, descriptors_from_bytes(blob)
