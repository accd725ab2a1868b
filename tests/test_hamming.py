"""The PDQ Hamming table against a brute-force scan."""

from __future__ import annotations

import numpy as np

from tusou.index.hamming import HammingTable


def _distances(table: dict[int, bytes], query: bytes) -> dict[int, int]:
    q = np.frombuffer(query[:32], dtype=np.uint8)
    return {i: int(np.unpackbits(np.frombuffer(h[:32], dtype=np.uint8) ^ q).sum())
            for i, h in table.items()}


def test_matches_brute_force_through_adds_updates_and_removes() -> None:
    rng = np.random.default_rng(3)
    truth = {i: rng.bytes(33) for i in range(500)}
    table = HammingTable()
    table.upsert(list(truth), list(truth.values()))
    # near copies of a few hashes, so small distances exist
    for i in range(0, 500, 50):
        flipped = bytearray(truth[i])
        flipped[0] ^= 0b1011
        truth[10_000 + i] = bytes(flipped)
        table.upsert([10_000 + i], [truth[10_000 + i]])
    truth[7] = rng.bytes(33)
    table.upsert([7], [truth[7]])  # replace
    gone = list(range(100, 200)) + [10_050, 424242]
    table.remove(gone)
    for i in gone:
        truth.pop(i, None)
    assert len(table) == len(truth)
    for query_id in (0, 7, 250, 10_000):
        queries = [truth[query_id], rng.bytes(33)]
        expected = {}
        for q in queries:
            for i, d in _distances(truth, q).items():
                expected[i] = min(d, expected.get(i, 257))
        for radius in (0, 3, 31, 120):
            want = {i: d for i, d in expected.items() if d <= radius}
            assert table.within(queries, radius) == want
    allowed = np.array([0, 10_000, 5], dtype=np.int64)
    assert set(table.within([truth[0]], 31, allowed)) == {0, 10_000}


def test_empty_table_and_no_queries() -> None:
    table = HammingTable()
    assert table.within([bytes(33)], 31) == {}
    table.upsert([1], [bytes(33)])
    assert table.within([], 31) == {}
    table.remove([1])
    assert len(table) == 0 and table.within([bytes(33)], 256) == {}
