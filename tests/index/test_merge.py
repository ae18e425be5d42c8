"""Merging segments (natoqa.index.merge): one segment that finds what the several found."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from natoqa.embed.base import Embedder
from natoqa.errors import IndexLocked, IndexNotFound
from natoqa.index import ann
from natoqa.index import units as sentence_units
from natoqa.index.builder import LOCK_FILE, build_index, build_lock
from natoqa.index.merge import merge_index
from natoqa.index.store import IndexStore, IndexVersion
from natoqa.retrieve.retriever import Retriever
from tests.fakes import TermedBag, Wrapping
from tests.index.test_segments import _text, corpus  # noqa: F401  (a fixture)

QUESTIONS = ("Küstenwache vor Gotland", "Litauen Maßnahme 7", "Drohnen im Jahr 1998",
             "Lager 4", "Munition und Marine")


def _split(corpus: Path, index: Path, ann_min_passages: int = 5_000) -> None:  # noqa: F811
    """Three segments of the 12 documents, then an edit: a fourth, and a deletion."""
    for _ in range(2):
        build_index(corpus, index, TermedBag(), min_words=5, max_words=40, segment_passages=5,
                    ann_min_passages=ann_min_passages)
        (corpus / "doc05.txt").write_text(_text(5, "Die Küstenwache übt vor Gotland."),
                                          encoding="utf-8")


def _units(version: IndexVersion) -> dict[str, list[tuple[bytes, ...]]]:
    """Each live passage's sentence units: vector, span and latent terms, as bytes."""
    out: dict[str, list[tuple[bytes, ...]]] = {}
    for segment in version.segments:
        rows = np.asarray(segment.extras[sentence_units.ROWS_FILE])
        arrays = [np.asarray(segment.extras[n]) for n in
                  (sentence_units.VECTORS_FILE, sentence_units.SPANS_FILE,
                   sentence_units.TERM_IDS_FILE, sentence_units.TERM_WEIGHTS_FILE)]
        for row in segment.live.tolist():
            pid = segment.passages.ids[row]
            out[pid] = [tuple(a[i].tobytes() for a in arrays)
                        for i in np.flatnonzero(rows == row).tolist()]
    return out


def _ranked(version: IndexVersion, embedder: Embedder) -> list[list[tuple[str, float]]]:
    retriever = Retriever(version, embedder)
    return [[(h.passage.passage_id, round(h.score, 5)) for h in
             retriever.search(q, k=5).hits] for q in QUESTIONS]


def test_merging_every_segment_keeps_every_row_and_every_answer(
    corpus: Path, tmp_path: Path  # noqa: F811
) -> None:
    index = tmp_path / "index"
    _split(corpus, index)
    store = IndexStore(index)
    before = store.load()
    assert len(before.segments) == 4 and before.segments[1].entry.deleted == ("doc05.txt",)

    report = merge_index(index)

    assert report.switched and report.segments == 1 and report.merged == 4
    assert report.previous_version == before.version and store.current() == report.version
    assert report.rows_dropped == sum(len(s.passages) - len(s.live) for s in before.segments) > 0
    after = store.load(full_check=True)
    assert [s.entry.deleted for s in after.segments] == [()]
    # the same passages in the same order, their vectors, units and documents unchanged
    assert [p.passage_id for p in after.passages] == [p.passage_id for p in before.passages]
    assert np.array_equal(after.vectors, before.vectors)
    assert _units(after) == _units(before)
    assert after.documents == before.documents
    assert after.manifest.model_id == before.manifest.model_id
    assert _ranked(after, TermedBag()) == _ranked(before, TermedBag())
    assert report.version in store.versions() and before.version in store.versions()


def test_a_merge_leaves_max_segments_and_nothing_when_there_are_few_enough(
    corpus: Path, tmp_path: Path  # noqa: F811
) -> None:
    index = tmp_path / "index"
    build_index(corpus, index, TermedBag(), min_words=5, max_words=40, segment_passages=5)
    store = IndexStore(index)
    sizes = [len(s.live) for s in store.load().segments]
    assert sizes == [5, 5, 2]

    report = merge_index(index, max_segments=2)
    assert report.switched and report.segments == 2 and report.merged == 2
    # the two smallest (5 and 2 rows) were merged; the other is shared, not rewritten
    assert sorted(len(s.live) for s in store.load().segments) == [5, 7]

    again = merge_index(index, max_segments=2)
    assert not again.switched and again.version == report.version
    assert store.current() == report.version and len(store.versions()) == 2


def test_the_merged_segment_gets_graphs_over_all_its_rows(
    corpus: Path, tmp_path: Path  # noqa: F811
) -> None:
    index = tmp_path / "index"
    _split(corpus, index, ann_min_passages=1)
    merge_index(index, ann_min_passages=1)
    version = IndexStore(index).load()
    (segment,) = version.segments
    units = len(segment.extras[sentence_units.ROWS_FILE])
    assert segment.extras[ann.PASSAGES_FILE].ntotal == len(segment.passages) == len(version)
    assert segment.extras[ann.UNITS_FILE].ntotal == units > len(version)
    hits = Retriever(version, TermedBag()).search("Küstenwache vor Gotland", k=3).hits
    assert hits[0].passage.doc_id == "doc05.txt"
    bare = IndexStore(index).load(graphs=False).segments[0]  # as a merge reads its sources
    assert ann.UNITS_FILE not in bare.extras and sentence_units.VECTORS_FILE in bare.extras


def test_a_build_after_a_merge_writes_only_what_changed(
    corpus: Path, tmp_path: Path  # noqa: F811
) -> None:
    index = tmp_path / "index"
    _split(corpus, index)
    merged = merge_index(index).version
    (corpus / "doc09.txt").write_text(_text(9, "Neu: ein Hafen."), encoding="utf-8")
    recorder = Wrapping(TermedBag(), terms=True)
    report = build_index(corpus, index, recorder, min_words=5, max_words=40)
    assert report.changed == ["doc09.txt"] and report.previous_version == merged
    version = IndexStore(index).load()
    assert report.segments == 2 and version.segments[0].entry.deleted == ("doc09.txt",)
    assert report.passages_embedded == version.documents["doc09.txt"].passages  # doc09's only


def test_a_merge_refuses_while_a_build_holds_the_lock_and_without_an_index(
    corpus: Path, tmp_path: Path  # noqa: F811
) -> None:
    with pytest.raises(IndexNotFound):
        merge_index(tmp_path / "none")
    index = tmp_path / "index"
    _split(corpus, index)
    with build_lock(index), pytest.raises(IndexLocked):
        merge_index(index, lock_timeout=0.1)
    assert not (index / LOCK_FILE).exists() or merge_index(index).switched


def test_the_real_models_index_merged_answers_as_before(
    built_index: Path, corpus_copy: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """The bundled corpus with the real model, one segment per document (their vectors
    reused), merged: questions get the passages, scores and abstention of the two."""
    index = tmp_path / "index"
    shutil.copytree(built_index, index)
    split = build_index(corpus_copy, index, embedder, force=True, segment_passages=30)
    assert split.segments == 2 and split.passages_embedded == 0
    store = IndexStore(index)
    before = store.load()
    merge_index(index)
    after = store.load()
    assert len(after.segments) == 1 and len(after) == len(before)
    for question in ("Was erbt Rutte von Stoltenberg?", "How much do NATO members spend on "
                     "defence?", "Welche Rolle spielt China für die NATO?",
                     "Wie backe ich einen Apfelkuchen?"):
        a, b = (Retriever(v, embedder).search(question, k=5) for v in (before, after))
        assert ([(h.passage.passage_id, round(h.score, 4)) for h in a.hits]
                == [(h.passage.passage_id, round(h.score, 4)) for h in b.hits]), question
        assert (a.no_answer, round(a.confidence, 4)) == (b.no_answer, round(b.confidence, 4))
