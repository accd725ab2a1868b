"""The keypoint table saved beside the index (index.keypoint_files): mapped at the next load,
brought level with the store by id sets and by the store's keypoint generation, and read
from the store again whenever what was saved cannot be trusted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import encode, generated_page
from tusou.config import Settings
from tusou.engine import Engine
from tusou.engine.sources import ImageSource
from tusou.evaluation.dataset import encode_jpeg
from tusou.evaluation.transforms import apply_transform
from tusou.index import keypoint_files as files
from tusou.index.keypoint_table import HeldKeypoints, KeypointTable

WIDTH = 61


EMPTY = np.zeros((0, WIDTH), np.uint8)  # an image's descriptors where it has no keypoints


def _descriptors(seed: int, n: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, WIDTH), dtype=np.uint8)


def _photo_of(seed: int) -> np.ndarray:
    """Each of the first 150 descriptors with 10 of its bits flipped."""
    rng = np.random.default_rng(99)
    bits = np.unpackbits(_descriptors(seed)[:150], axis=1)
    for row in bits:
        row[rng.choice(len(row), 10, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


class Source(HeldKeypoints):
    """Images in memory (as a library's store holds them) that remember which ids a load
    read."""

    def __init__(self, images: dict[int, np.ndarray], generation: int = 0) -> None:
        super().__init__(images.items(), generation)
        self.read: list[int] = []

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        self.read.extend(ids.tolist())
        return super().descriptors(ids)


class Slow(Source):
    """A source whose reading waits, once started (``reading``), until ``proceed``: changes
    made meanwhile come while the store is read."""

    def __init__(self, images: dict[int, np.ndarray], generation: int = 0) -> None:
        super().__init__(images, generation)
        self.reading, self.proceed = threading.Event(), threading.Event()

    def descriptors(self, ids: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        self.reading.set()
        self.proceed.wait(5)
        yield from super().descriptors(ids)


def _first(table: KeypointTable, seed: int) -> int | None:
    hits = table.votes(_photo_of(seed), 1, min_votes=50)
    return hits[0][0] if hits else None


@pytest.fixture
def store() -> Source:
    return Source({i: _descriptors(i) for i in range(1, 11)})


@pytest.fixture
def saved(tmp_path: Path, store: Source) -> Path:
    path = tmp_path / "1.kpt"
    table = KeypointTable(path=path)
    table.load(store)
    assert table.save()
    assert not table.save()  # nothing changed since
    return path


def _segment_files(path: Path) -> set[Path]:
    return set(path.parent.glob(f"{path.name}.*.npy"))


def test_a_saved_table_is_mapped_at_the_next_load_and_votes_as_before(saved: Path, store: Source) -> None:
    store.read.clear()
    table = KeypointTable(path=saved)
    table.load(store)
    assert store.read == []  # nothing read but the ids
    assert table._segments and all(isinstance(s.words, np.memmap) for s in table._segments)
    assert [_first(table, i) for i in range(1, 11)] == list(range(1, 11))
    assert _first(table, 99) is None
    assert len(table) == 10 and table.keypoints == 10 * 200
    # It goes on like any table: adds, removals, merges with the mapped segments.
    table.upsert(11, _descriptors(11))
    table.remove([2])
    assert _first(table, 11) == 11 and _first(table, 2) is None and _first(table, 3) == 3


def test_what_the_store_gained_or_lost_since_is_caught_up_by_ids(saved: Path, store: Source) -> None:
    del store.images[3]
    store.images[11] = _descriptors(11)
    store.read.clear()
    table = KeypointTable(path=saved)
    table.load(store)
    assert store.read == [11]
    assert _first(table, 3) is None and _first(table, 11) == 11 and _first(table, 4) == 4
    assert table.save()
    store.read.clear()
    again = KeypointTable(path=saved)
    again.load(store)
    assert store.read == []
    assert _first(again, 3) is None and _first(again, 11) == 11


def test_keypoints_replaced_under_their_id_since_the_save_make_the_table_filled_again(
        saved: Path, store: Source) -> None:
    store.images[4] = _descriptors(40)  # as a refresh in another process does
    store.version = 1
    store.read.clear()
    table = KeypointTable(path=saved)
    table.load(store)
    assert sorted(store.read) == list(range(1, 11))
    assert not any(isinstance(s.words, np.memmap) for s in table._segments)
    assert _first(table, 4) is None and _first(table, 40) == 4


def test_replacements_the_table_saw_are_saved_with_the_generation_they_brought(
        saved: Path, store: Source) -> None:
    table = KeypointTable(path=saved)
    table.load(store)
    store.images[4], store.version = _descriptors(40), 1
    table.upsert(4, store.images[4], generation=1)
    del store.images[5]
    store.version = 2
    table.remove([5], generation=2)  # keypoints replaced by none
    assert table.save()
    store.read.clear()
    again = KeypointTable(path=saved)
    again.load(store)
    assert store.read == []  # its old rows saved dead, its new ones as a segment of their own
    assert _first(again, 4) is None and _first(again, 40) == 4 and _first(again, 5) is None
    # A replacement it did not see (generation 3, from another process) comes between:
    # it cannot vouch for its content, and what it saved last stays as it was.
    again.upsert(6, _descriptors(60), generation=4)
    store.images[6], store.version = _descriptors(60), 4
    assert not again.save()
    store.read.clear()
    third = KeypointTable(path=saved)
    third.load(store)
    assert sorted(store.read) == sorted(store.images)  # generation 2 saved, the store at 4
    assert _first(third, 60) == 6


def test_changes_while_a_saved_table_loads_win_over_what_was_saved(saved: Path, store: Source) -> None:
    slow = Slow(store.images)
    table = KeypointTable(path=saved)
    loader = threading.Thread(target=table.load, args=(slow,))
    loader.start()
    assert slow.reading.wait(5)
    slow.images[4], slow.version = _descriptors(40), 1  # a refresh
    table.upsert(4, slow.images[4], generation=1)
    del slow.images[5]
    table.remove([5])
    slow.images[6], slow.version = EMPTY, 2  # refreshed: no keypoints now
    table.upsert(6, EMPTY, generation=2)
    slow.proceed.set()
    loader.join(5)
    assert _first(table, 40) == 4 and _first(table, 4) is None and _first(table, 5) is None
    assert _first(table, 6) is None
    assert table.save()
    again_store = Source(slow.images, generation=2)
    again = KeypointTable(path=saved)
    again.load(again_store)
    assert again_store.read == []  # 6 saved as having none
    assert _first(again, 40) == 4 and _first(again, 4) is None and _first(again, 5) is None
    assert _first(again, 6) is None
    assert len(again) == 8


def test_an_image_left_without_keypoints_while_the_store_is_read_loses_what_was_read() -> None:
    slow = Slow({i: _descriptors(i) for i in range(1, 4)})
    table = KeypointTable()
    loader = threading.Thread(target=table.load, args=(slow,))
    loader.start()
    assert slow.reading.wait(5)
    table.upsert(2, EMPTY, generation=1)  # read as it was, replaced meanwhile
    slow.proceed.set()
    loader.join(5)
    assert _first(table, 2) is None and _first(table, 1) == 1 and len(table) == 2


def test_images_without_keypoints_are_saved_as_such_and_not_read_again(tmp_path: Path) -> None:
    store = Source({1: _descriptors(1), 2: EMPTY, 3: EMPTY, 4: _descriptors(4)})
    path = tmp_path / "1.kpt"
    table = KeypointTable(path=path)
    table.load(store)
    assert table.save()

    def bare() -> list[int]:
        manifest = files.read_manifest(path)
        assert manifest is not None
        return manifest.bare.tolist()

    assert bare() == [2, 3]
    store.read.clear()
    KeypointTable(path=path).load(store)
    assert store.read == []
    # Since the save: one deleted, one added without keypoints, one with.
    del store.images[3]
    store.images[5], store.images[6] = EMPTY, _descriptors(6)
    store.read.clear()
    third = KeypointTable(path=path)
    third.load(store)
    assert sorted(store.read) == [5, 6]
    assert third.save() and bare() == [2, 5]
    # Refreshed in this table: 2 gains keypoints, 1 loses them.
    store.images[2], store.images[1], store.version = _descriptors(2), EMPTY, 2
    third.upsert(2, _descriptors(2), generation=1)
    third.upsert(1, EMPTY, generation=2)
    assert third.save() and bare() == [1, 5]
    store.read.clear()
    fourth = KeypointTable(path=path)
    fourth.load(store)
    assert store.read == []
    assert [_first(fourth, i) for i in (1, 2, 4, 6)] == [None, 2, 4, 6] and len(fourth) == 3


def test_a_table_of_images_without_keypoints_only_is_not_read_again(tmp_path: Path) -> None:
    # No segment at all, only bare images: the manifest still vouches for them.
    store = Source({1: EMPTY, 2: EMPTY})
    path = tmp_path / "1.kpt"
    table = KeypointTable(path=path)
    table.load(store)
    assert table.save()
    store.read.clear()
    again = KeypointTable(path=path)
    again.load(store)
    assert store.read == [] and len(again) == 0


def _cut(path: Path) -> None:
    words = next(f for f in _segment_files(path) if f.name.endswith(".words.npy"))
    words.write_bytes(words.read_bytes()[:-100])


def _missing(path: Path) -> None:
    next(f for f in _segment_files(path) if f.name.endswith(".keys.npy")).unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a manifest")


def _rows_out_of_range(path: Path) -> None:
    rows = next(f for f in _segment_files(path) if f.name.endswith(".rows.npy"))
    array = np.load(rows)
    array[0, 0] = len(array[0])
    np.save(rows, array)


def _unsorted(path: Path) -> None:
    keys = next(f for f in _segment_files(path) if f.name.endswith(".keys.npy"))
    array = np.load(keys)
    array[1] = array[1][::-1].copy()
    np.save(keys, array)


def _wrong_dtype(path: Path) -> None:
    owners = next(f for f in _segment_files(path) if f.name.endswith(".owners.npy"))
    np.save(owners, np.load(owners).astype(np.int32))


@pytest.mark.parametrize("damage", [_cut, _missing, _garbage, _rows_out_of_range, _unsorted,
                                    _wrong_dtype])
def test_damaged_files_mean_the_store_is_read_again(saved: Path, store: Source, damage) -> None:  # type: ignore[no-untyped-def]
    damage(saved)
    store.read.clear()
    table = KeypointTable(path=saved)
    table.load(store)
    assert sorted(store.read) == list(range(1, 11))
    assert [_first(table, i) for i in range(1, 11)] == list(range(1, 11))
    assert table.save()  # and written whole again
    store.read.clear()
    again = KeypointTable(path=saved)
    again.load(store)
    assert store.read == [] and _first(again, 7) == 7


def test_a_table_with_other_settings_reads_the_store(saved: Path, store: Source) -> None:
    store.read.clear()
    table = KeypointTable(path=saved, per_image=100)
    table.load(store)
    assert sorted(store.read) == list(range(1, 11))
    assert table.keypoints == 10 * 100


def test_saves_write_only_new_segments_and_remove_those_merged_away(tmp_path: Path,
                                                                    store: Source) -> None:
    path = tmp_path / "7.kpt"
    table = KeypointTable(path=path)
    table.load(store)
    assert not any(isinstance(s.words, np.memmap) for s in table._segments)
    table.save()
    # What was written is read from its files from then on.
    assert all(isinstance(s.words, np.memmap) for s in table._segments)
    assert _first(table, 1) == 1
    first = _segment_files(path)
    assert len(first) == 4  # one segment: words, owners, keys, rows
    stamps = {f: f.stat().st_mtime_ns for f in first}
    store.images[11] = _descriptors(11, n=20)
    table.upsert(11, store.images[11])  # a small segment of its own
    table.save()
    assert len(_segment_files(path)) == 8
    assert all(f.stat().st_mtime_ns == stamps[f] for f in first)  # not written again
    for i in range(12, 40):  # merged as they come
        store.images[i] = _descriptors(i, n=20)
        table.upsert(i, store.images[i])
        table.votes(_photo_of(1), 1)
    for i in range(1, 7):
        del store.images[i]
    table.remove(range(1, 7))  # the first segment more than half dead: built again
    table.save()
    manifest = files.read_manifest(path)
    assert manifest is not None
    assert _segment_files(path) == {files.segment_file(path, name, array)
                                    for name in manifest.segments for array in files.ARRAYS}
    assert not first & _segment_files(path)
    store.read.clear()
    again = KeypointTable(path=path)
    again.load(store)
    assert store.read == []
    assert _first(again, 7) == 7 and _first(again, 1) is None and len(again) == 33


def test_a_closed_table_writes_nothing(tmp_path: Path, store: Source) -> None:
    path = tmp_path / "3.kpt"
    table = KeypointTable(path=path)
    table.load(store)
    table.close()
    assert not table.save() and not path.exists()
    assert not KeypointTable().save()  # no path
    assert not KeypointTable(path=path).save()  # not loaded


# --- in a library -------------------------------------------------------------------------


PAGE = 2_000_007


def _photo() -> ImageSource:
    return ImageSource(data=encode_jpeg(apply_transform("phone55", generated_page(PAGE), 7)))


def _by_votes(engine: Engine) -> list[str]:
    """The photo's answers with its page's vector out of the index (only the vote look can
    reach it, as in a library where thousands of vectors rank before it)."""
    library = engine.library("book")
    page = [r.id for r in library.all_images() if r.brief == str(PAGE)]
    library._state.index.remove(page)
    return [h.image.brief for h in library.search(_photo()).hits]


def test_a_library_saves_its_table_and_maps_it_at_the_next_start(
        tmp_path: Path, model_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1)
    engine = Engine(settings)
    engine.create_library("book", "picturebook", store_originals=True)
    library = engine.library("book")
    for seed in (PAGE, 2_000_001, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    assert _by_votes(engine) == [str(PAGE)]  # filled from the store, saved
    manifest = settings.data_dir / "index" / f"{library.record.id}.kpt"
    engine.close()
    assert files.read_manifest(manifest) is not None

    def mapped(engine: Engine) -> bool:
        """The photo found by votes, from a table mapped from its files, none read."""
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tusou.index.keypoint_table"):
            assert _by_votes(engine) == [str(PAGE)]
        return "segments mapped, 0 images read from the store" in caplog.text

    engine = Engine(settings)
    assert mapped(engine)
    # A refresh moves the store's generation, and the table with it.
    assert engine.library("book").refresh_keypoints() == (3, 0)
    assert engine.store.keypoint_generation(engine.library("book").record.id) == 3
    assert _by_votes(engine) == [str(PAGE)]
    engine.close()

    engine = Engine(settings)
    assert mapped(engine)
    votes = engine.library("book")._state.votes
    assert votes is not None and votes._generation == 3
    # A refresh in another process, which never voted: it saves the table it refreshed.
    record_id = engine.library("book").record.id
    engine.close()
    other = Engine(settings)
    assert other.library("book").refresh_keypoints() == (3, 0)
    other.close()
    engine = Engine(settings)
    assert mapped(engine)
    # Keypoints replaced where no table saw it (a process that died before its save):
    # filled from the store again.
    engine.close()
    other = Engine(settings)
    stored = other.store.keypoints([r.id for r in other.library("book").all_images()])
    for image_id, blob in stored.items():
        assert other.store.set_keypoints(image_id, blob) is not None
    other.close()
    engine = Engine(settings)
    assert not mapped(engine)
    assert "stored keypoints replaced since it was saved (generation 6, now 9)" in caplog.text
    engine.close()

    engine = Engine(settings)
    engine.delete_library("book")
    assert not list((settings.data_dir / "index").glob(f"{record_id}.*"))
    assert engine.store.keypoint_generation(record_id) == 0  # its count gone with it
    engine.close()


def test_a_save_that_fails_midway_leaves_what_was_saved_before(saved: Path, store: Source,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    table = KeypointTable(path=saved)
    table.load(store)
    before = set(saved.parent.iterdir())
    store.images[11] = _descriptors(11)
    table.upsert(11, store.images[11])
    written = []

    def full(file, array, allow_pickle=True):  # type: ignore[no-untyped-def]
        if written:
            raise OSError(28, "No space left on device")
        written.append(array)
        np.lib.format.write_array(file, array)

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(OSError):
        table.save()
    monkeypatch.undo()
    # The new segment's one finished file is left for the next save to sweep; no temporary
    # file, and the manifest is the one before, with its files.
    assert not [f for f in saved.parent.iterdir() if f.name.endswith(".tmp")]
    assert before <= set(saved.parent.iterdir())
    store.read.clear()
    again = KeypointTable(path=saved)
    again.load(store)
    assert store.read == [11] and _first(again, 11) == 11 and _first(again, 1) == 1
    assert table.save()  # the table that failed tries again whole
    assert len(_segment_files(saved)) == 8


def test_a_library_saves_its_table_when_it_saves_its_index(tmp_path: Path, model_cache: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1,
                        index_flush_every=1)
    engine = Engine(settings)
    engine.create_library("book", "picturebook")
    library = engine.library("book")
    library.add(ImageSource(data=encode(generated_page(PAGE))), brief=str(PAGE))
    library.add(ImageSource(data=encode(generated_page(2_000_001))), brief="2000001")
    assert _by_votes(engine) == [str(PAGE)]  # loaded, and saved in the background
    assert library._saver is not None
    library._saver.join(30)
    path = settings.data_dir / "index" / f"{library.record.id}.kpt"

    def rows() -> int:
        manifest = files.read_manifest(path)
        assert manifest is not None
        return sum(len(dead) for dead in manifest.dead)

    saved = rows()
    library.add(ImageSource(data=encode(generated_page(2_500_006))), brief="2500006")
    library._saver.join(30)
    assert rows() > saved  # the new page's keypoints written without waiting for shutdown
    engine.close()


def test_two_writers_of_one_table_take_turns(tmp_path: Path, store: Source,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A server and a CLI command on one data directory: without turns, the second writer's
    sweep would remove the segments the first is about to name in its manifest."""
    path = tmp_path / "9.kpt"
    first, second = KeypointTable(path=path), KeypointTable(path=path)
    first.load(store)
    second.load(store)
    store.images[11], store.images[12] = _descriptors(11), _descriptors(12)
    first.upsert(11, store.images[11])
    second.upsert(12, store.images[12])
    writing, release = threading.Event(), threading.Event()
    manifest = files.write_manifest

    def paused(*args):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "first":
            writing.set()  # its segments written, its manifest not yet
            release.wait(5)
        manifest(*args)

    monkeypatch.setattr(files, "write_manifest", paused)
    saving = threading.Thread(target=first.save, name="first")
    saving.start()
    assert writing.wait(5)
    waiting = threading.Thread(target=second.save, name="second")
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # its turn comes after the first's manifest
    release.set()
    saving.join(5)
    waiting.join(5)
    store.read.clear()
    again = KeypointTable(path=path)
    again.load(store)
    assert store.read == [11]  # the second's manifest, every file of it there
    assert _first(again, 11) == 11 and _first(again, 12) == 12


def test_after_a_crash_the_last_saved_table_and_the_store_give_the_whole_table(
        tmp_path: Path, model_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A process killed after its table was saved, with adds and deletes since (no save at
    shutdown): the next start maps what was saved and reads the rest from the store."""
    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1)
    crashed = Engine(settings)
    crashed.create_library("book", "picturebook")
    library = crashed.library("book")
    for seed in (2_000_001, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    assert library.search(_photo()).hits == []  # the table filled (its page not there yet)
    assert library._saver is not None
    library._saver.join(30)  # and saved
    library.add(ImageSource(data=encode(generated_page(PAGE))), brief=str(PAGE))
    library.delete([library.search(ImageSource(data=encode(generated_page(2_000_001)))).hits[0].cont_sign])
    # Never closed: what is on disk is the save before the add and the delete.

    engine = Engine(settings)
    try:
        with caplog.at_level(logging.INFO, logger="tusou.index.keypoint_table"):
            assert _by_votes(engine) == [str(PAGE)]  # read from the store: added after the save
        assert "1 segments mapped, 1 images read from the store" in caplog.text
        votes = engine.library("book")._state.votes
        assert votes is not None and len(votes) == 2  # the deleted page's rows dead
    finally:
        engine.close()
        crashed.close()


# --- filled before any query needs it -------------------------------------------------------


def _book(tmp_path: Path, model_cache: Path) -> Settings:
    """Settings whose store holds a picturebook library of three pages, its table never
    loaded or saved, and a `same` library."""
    settings = Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache, model_threads=1)
    engine = Engine(settings)
    engine.create_library("book", "picturebook")
    engine.create_library("dups", "same")
    library = engine.library("book")
    for seed in (PAGE, 2_000_001, 2_500_006):
        library.add(ImageSource(data=encode(generated_page(seed))), brief=str(seed))
    engine.close()
    return settings


@pytest.fixture
def book(tmp_path: Path, model_cache: Path) -> Iterator[Engine]:
    """An engine on _book's store."""
    engine = Engine(_book(tmp_path, model_cache))
    yield engine
    engine.close()


def test_a_library_fills_its_table_in_the_background_before_a_query_needs_it(
        tmp_path: Path, model_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _book(tmp_path, model_cache)
    engine = Engine(settings)
    try:
        library = engine.library("book")
        manifest = settings.data_dir / "index" / f"{library.record.id}.kpt"
        assert not manifest.exists()
        loader = library.load_in_background()
        assert loader is not None
        assert library.load_in_background() in (loader, None)  # the same fill, or none left
        loader.join(60)
        assert library.keypoint_table_size() is not None
        assert files.read_manifest(manifest) is not None  # and saved for the next start
        with caplog.at_level(logging.INFO, logger="tusou"):
            assert _by_votes(engine) == [str(PAGE)]
        assert "keypoint table loaded" not in caplog.text  # the query filled nothing
        assert library.load_in_background() is None  # nothing left to load
        assert engine.library("dups").load_in_background() is None  # a kind with no table
    finally:
        engine.close()
    engine = Engine(settings)
    try:
        with caplog.at_level(logging.INFO, logger="tusou.index.keypoint_table"):
            loader = engine.library("book").load_in_background()
            assert loader is not None
            loader.join(60)
        assert "segments mapped, 0 images read from the store" in caplog.text
    finally:
        engine.close()


def test_a_query_that_needs_the_table_while_it_fills_waits_for_that_fill(
        book: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    engine = book
    library = engine.library("book")
    reading, go_on = threading.Event(), threading.Event()
    generation = engine.store.keypoint_generation
    reads: list[int] = []

    def slow(library_id: int) -> int:
        reads.append(library_id)
        reading.set()
        go_on.wait(30)
        return generation(library_id)

    monkeypatch.setattr(engine.store, "keypoint_generation", slow)
    with caplog.at_level(logging.INFO, logger="tusou.engine.library"):
        loader = library.load_in_background()
        assert loader is not None and reading.wait(30)
        answers: list[list[str]] = []
        query = threading.Thread(target=lambda: answers.append(_by_votes(engine)))
        query.start()
        query.join(1.0)
        assert query.is_alive()  # waiting for the fill under way, not starting its own
        go_on.set()
        query.join(60)
        loader.join(60)
    assert answers == [[str(PAGE)]] and len(reads) == 1
    # Logged and saved once, by the fill that did it, not again by the query that waited.
    assert caplog.text.count("keypoint table loaded") == 1
    assert caplog.text.count("keypoint table saved") == 1


def test_a_fill_stops_when_its_library_is_closed(
        book: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    engine = book
    library = engine.library("book")
    generation = engine.store.keypoint_generation
    read: list[list[int]] = []
    keypoints = engine.store.keypoints

    def closing(library_id: int) -> int:
        library.close()  # as the engine closes it at shutdown, while the fill begins
        return generation(library_id)

    monkeypatch.setattr(engine.store, "keypoint_generation", closing)
    monkeypatch.setattr(engine.store, "keypoints", lambda ids: read.append(ids) or keypoints(ids))
    with caplog.at_level(logging.INFO, logger="tusou"):
        loader = library.load_in_background()
        assert loader is not None
        loader.join(60)
    assert read == []  # stopped before reading a single image
    assert library.keypoint_table_size() is None
    assert not (engine.settings.data_dir / "index" / f"{library.record.id}.kpt").exists()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_open_all_opens_every_library_and_fills_its_table(
        book: Engine, caplog: pytest.LogCaptureFixture) -> None:
    engine = book
    stop = threading.Event()
    stop.set()
    engine.open_all(stop)
    assert engine.opened() == []  # stopped before the first
    with caplog.at_level(logging.INFO, logger="tusou.engine.engine"):
        engine.open_all(threading.Event())
    assert "2 libraries opened in" in caplog.text
    assert sorted(library.name for library in engine.opened()) == ["book", "dups"]
    assert engine.library("book").keypoint_table_size() is not None
