"""The KV prefix cache's policy: fixed prefixes (pinned snapshots) outlive per-question churn."""

from __future__ import annotations

from interlace.llm import PrefixCache, Snapshot


def _snap(tokens: range | list[int], *, pinned: bool = False, size: int = 10) -> Snapshot:
    return Snapshot(tokens=tuple(tokens), data=b"x" * size, pinned=pinned)


PLANNER = list(range(1000, 1300))  # a fixed planner prompt of 300 tokens


def test_a_pinned_prefix_survives_more_requests_than_the_lru_holds() -> None:
    cache = PrefixCache(max_entries=4, min_tokens=8)
    cache.put(_snap(PLANNER, pinned=True))
    cache.put(_snap([*PLANNER, 1, 2, 3]))  # the planner's own question, unpinned
    for turn in range(12):  # a ReAct run and other roles: many different sequences
        cache.put(_snap(range(5000 + 100 * turn, 5050 + 100 * turn)))
    snap, n = cache.best([*PLANNER, 7, 8, 9])
    assert snap is not None and snap.pinned and n == len(PLANNER)
    assert sum(1 for s in cache.entries if not s.pinned) == 4
    assert cache.stats.pinned_hits == 1 and cache.stats.evictions >= 9


def test_without_pinning_the_same_churn_forgets_the_prefix() -> None:
    cache = PrefixCache(max_entries=4, min_tokens=8)
    cache.put(_snap([*PLANNER, 1, 2, 3]))
    for turn in range(12):
        cache.put(_snap(range(5000 + 100 * turn, 5050 + 100 * turn)))
    assert cache.best([*PLANNER, 7, 8, 9]) == (None, 0)


def test_an_unpinned_snapshot_never_replaces_the_pinned_prefix_it_extends() -> None:
    cache = PrefixCache(max_entries=2, min_tokens=8)
    cache.put(_snap(PLANNER, pinned=True))
    cache.put(_snap([*PLANNER, 1, 2]))
    cache.put(_snap([*PLANNER, 1, 2, 3]))  # extends the previous one: replaces it
    kinds = sorted((s.pinned, len(s.tokens)) for s in cache.entries)
    assert kinds == [(False, 303), (True, 300)]
    assert cache.has_pinned(PLANNER) and not cache.has_pinned(PLANNER[:-1])


def test_the_byte_bound_evicts_unpinned_snapshots_first() -> None:
    cache = PrefixCache(max_entries=8, max_bytes=100, min_tokens=8)
    cache.put(_snap(PLANNER, pinned=True, size=40))
    cache.put(_snap(range(1, 50), size=40))
    cache.put(_snap(range(100, 150), size=40))  # 120 bytes > 100: the oldest unpinned goes
    assert [s.tokens[0] for s in cache.entries] == [1000, 100]
    cache.put(_snap(range(2000, 2100), pinned=True, size=90))  # only pinned left to evict
    assert [s.tokens[0] for s in cache.entries] == [2000]


def test_pinned_snapshots_have_their_own_bound() -> None:
    cache = PrefixCache(max_entries=8, max_pinned=2, min_tokens=8)
    for start in (0, 1000, 2000):
        cache.put(_snap(range(start, start + 50), pinned=True))
    assert sorted(s.tokens[0] for s in cache.entries) == [1000, 2000]


def test_best_prefers_the_shortest_of_equal_matches_and_marks_covered_pins_used() -> None:
    cache = PrefixCache(max_entries=8, max_pinned=1, min_tokens=8)
    cache.put(_snap(PLANNER, pinned=True))
    cache.put(_snap([*PLANNER, 1, 2, 3]))
    snap, n = cache.best([*PLANNER, 1, 2, 3, 4])
    assert snap is not None and n == 303 and not snap.pinned
    snap, n = cache.best([*PLANNER, 9])
    assert snap is not None and snap.pinned and n == 300  # shortest of the two 300-matches
    assert cache.stats.pinned_hits == 2
