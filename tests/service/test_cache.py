"""The answer cache: identical repeated questions skip the model, and never outlive a version."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from natoqa.models import Answer
from natoqa.service.cache import AnswerCache, cache_key
from tests.fakes import Wrapping


def test_lru_evicts_the_oldest_and_zero_disables() -> None:
    cache = AnswerCache(2)
    answers = [Answer(text=str(i), no_answer=False, citations=(), language="de") for i in range(3)]
    keys = [cache_key("v1", f"q{i}", (), 5) for i in range(3)]
    for key, answer in zip(keys, answers, strict=True):
        cache.put(key, answer)
    assert cache.get(keys[0]) is None and cache.get(keys[2]) is answers[2] and len(cache) == 2
    off = AnswerCache(0)
    off.put(keys[0], answers[0])
    assert off.get(keys[0]) is None and len(off) == 0


def test_key_normalises_whitespace_only() -> None:
    assert cache_key("v", " Was  erbt\nRutte? ", ["a  b"], 5) == cache_key("v", "Was erbt Rutte?",
                                                                           ["a b"], 5)
    assert cache_key("v", "was erbt rutte?", (), 5) != cache_key("v", "Was erbt Rutte?", (), 5)
    assert cache_key("v", "q", (), 5) != cache_key("v", "q", (), 3)
    assert cache_key("v", "q", ("h",), 5) != cache_key("v", "q", (), 5)
    assert cache_key("v1", "q", (), 5) != cache_key("v2", "q", (), 5)


@pytest.mark.slow
def test_service_serves_repeats_from_cache_until_the_index_changes(
    embedder: Any, built_index: Path, corpus_copy: Path, tmp_path: Path
) -> None:
    from natoqa.index.builder import build_index
    from natoqa.index.store import IndexStore
    from natoqa.service.service import QAService

    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    counting = Wrapping(embedder, terms=True)
    service = QAService(counting, IndexStore(index), cache=AnswerCache(16))
    service.load()
    question = "Was erbt Rutte von Stoltenberg?"

    first = service.ask(question, k=3)
    assert counting.calls == 1
    again = service.ask("  " + question + "\n", k=3)
    assert counting.calls == 1  # no model call: the cache answered
    assert (again.text, again.citations) == (first.text, first.citations)
    assert again.took_ms < first.took_ms
    service.ask(question, k=4)  # another k is another question
    assert counting.calls == 2

    old_version = service.engine.index.version
    build_index(corpus_copy, index, embedder, force=True)  # same texts, a new version
    assert service.reload().switched
    assert service.engine.index.version != old_version
    fresh = service.ask(question, k=3)
    assert counting.calls == 3  # answered from the new version, not the old entry
    assert fresh.text == first.text
