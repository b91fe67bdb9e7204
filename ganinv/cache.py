"""A thread-safe cache that loads each key once: the shared model registry and the CLIP cache use it.

Each key has its own lock, so concurrent first requests for one key build it once while other
keys build in parallel; ``max_items`` (optional) drops the least recently used entry first.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class LoadOnceCache(Generic[T]):
    def __init__(self, max_items: int | None = None):
        self.max_items = max_items
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = build()
            with self._lock:
                self._items[key] = value
                while self.max_items is not None and len(self._items) > self.max_items:
                    self._items.popitem(last=False)
            return value

    def loaded(self) -> list:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


__all__ = ["LoadOnceCache"]
