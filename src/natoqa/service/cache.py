"""A bounded cache of answers for identical repeated questions.

The key is (index version, question, history, k): a new index version has new
keys, so it can never be answered from the old one's entries; those age out of
the LRU. Whitespace is normalised (a widget may send a trailing newline), but
not case: the answer's language and wording follow the question exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from cachetools import LRUCache

from natoqa.models import Answer

CacheKey = tuple[str, str, tuple[str, ...], int]


def _norm(text: str) -> str:
    return " ".join(text.split())


def cache_key(version: str, question: str, history: Sequence[str], k: int) -> CacheKey:
    return (version, _norm(question), tuple(_norm(h) for h in history), k)


class AnswerCache:
    """Thread-safe LRU of answers (requests are answered in worker threads)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lru: LRUCache[CacheKey, Answer] | None = LRUCache(size) if size > 0 else None
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> Answer | None:
        if self._lru is None:
            return None
        with self._lock:
            return self._lru.get(key)

    def put(self, key: CacheKey, answer: Answer) -> None:
        if self._lru is None:
            return
        with self._lock:
            self._lru[key] = answer

    def clear(self) -> None:
        if self._lru is not None:
            with self._lock:
                self._lru.clear()

    def __len__(self) -> int:
        return 0 if self._lru is None else len(self._lru)
