"""ganinv.cache.LoadOnceCache: one build per key under concurrency, parallel keys, LRU bound."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ganinv.cache import LoadOnceCache


def test_concurrent_first_requests_build_once_and_share_the_value():
    cache, calls = LoadOnceCache(), []

    def build():
        calls.append(threading.get_ident())
        time.sleep(0.2)                                   # slow load: every thread arrives meanwhile
        return object()

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: cache.get("m", build), range(8)))
    assert len(calls) == 1 and all(v is values[0] for v in values)


def test_different_keys_build_in_parallel():
    """Two builds meet at a barrier: if one key's build held the other back, the barrier would break."""
    cache, barrier = LoadOnceCache(), threading.Barrier(2, timeout=30)

    def build(k):
        barrier.wait()                                     # BrokenBarrierError if builds were serialised
        return k

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(lambda k: cache.get(k, lambda: build(k)), ["x", "y"])) == ["x", "y"]
    assert sorted(cache.loaded()) == ["x", "y"]


def test_least_recently_used_is_dropped_and_a_failed_build_caches_nothing():
    cache = LoadOnceCache(max_items=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: 99)                                      # a is now the most recent
    cache.get("c", lambda: 3)
    assert cache.loaded() == ["a", "c"]

    def fail():
        raise OSError("weights missing")
    try:
        cache.get("d", fail)
    except OSError:
        pass
    assert "d" not in cache.loaded() and cache.get("d", lambda: 4) == 4
    cache.clear()
    assert cache.loaded() == []
