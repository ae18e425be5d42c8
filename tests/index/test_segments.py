"""Versions made of segments: an edit writes a small segment and shares the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from natoqa.index import builder as builder_mod
from natoqa.index.builder import build_index
from natoqa.index.store import IndexStore
from natoqa.retrieve.retriever import Retriever
from tests.fakes import TermedBag, Wrapping

TOPICS = ["Abschreckung", "Ostflanke", "Rüstung", "Cyberabwehr", "Bündnisfall", "Haushalt",
          "Brigade", "Litauen", "Drohnen", "Munition", "Marine", "Satelliten"]


def _text(i: int, extra: str = "") -> str:
    topic = TOPICS[i % len(TOPICS)]
    return (f"---\ntitle: Dokument {i}\nlanguage: de\n---\n\n"
            f"Dokument {i} behandelt {topic} im Jahr {1990 + i}. Die Staaten beraten über "
            f"{topic} und beschließen Maßnahme {i}. {extra}\n\n"
            f"Ein zweiter Absatz zu {topic} nennt die Zahl {i * 17} und den Ort Lager {i}.\n")


def segmented_index(folder: Path, documents: int,
                    segment_passages: int) -> builder_mod.BuildReport:
    """``folder``/index built from ``documents`` generated documents (``folder``/corpus)
    in segments of ``segment_passages`` (small vectors, no model)."""
    root = folder / "corpus"
    root.mkdir()
    for i in range(documents):
        (root / f"doc{i}.txt").write_text(_text(i), encoding="utf-8")
    return build_index(root, folder / "index", TermedBag(), min_words=5, max_words=40,
                       segment_passages=segment_passages)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for i in range(12):
        (root / f"doc{i:02d}.txt").write_text(_text(i), encoding="utf-8")
    return root


def _build(corpus: Path, index: Path, embedder: TermedBag | Wrapping | None = None,
           keep_versions: int = 5) -> builder_mod.BuildReport:
    return build_index(corpus, index, embedder or TermedBag(), min_words=5, max_words=40,
                       keep_versions=keep_versions)


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def test_an_edit_writes_one_small_segment_and_shares_the_rest(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    first = _build(corpus, index)
    (corpus / "doc03.txt").write_text(_text(3, "Neu: die Ostsee."), encoding="utf-8")
    recorder = Wrapping(TermedBag(), terms=True)
    second = _build(corpus, index, recorder)
    assert second.changed == ["doc03.txt"] and second.segments == 2
    assert all("doc03" in t or "Dokument 3" in t or "Lager 3" in t or "Neu" in t
               or "Ostsee" in t or "Abschreckung" not in t for t in recorder.embedded)
    store = IndexStore(index)
    old, new = (_files(store.versions_dir / v) for v in (first.version, second.version))
    shared = {k for k in new if k in old and new[k] == old[k]}  # same path, same inode
    assert {k.split("/")[1] for k in shared} == {store.manifest(first.version)
                                                 .segments[0]["name"]}
    version = store.load()
    assert [s.entry.deleted for s in version.segments] == [("doc03.txt",), ()]
    texts = [p.text for p in version.passages if p.doc_id == "doc03.txt"]
    assert texts and all("Ostsee" in t or "zweiter" in t for t in texts)
    assert len(version) == second.passages == sum(r.passages for r in
                                                  version.documents.values())


def test_a_search_over_segments_finds_what_a_full_build_finds(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    _build(corpus, index)
    (corpus / "doc05.txt").write_text(_text(5, "Die Küstenwache übt vor Gotland."),
                                      encoding="utf-8")
    (corpus / "doc07.txt").unlink()
    (corpus / "doc20.txt").write_text(_text(20, "Ein Manöver in Estland."), encoding="utf-8")
    report = _build(corpus, index)
    assert report.segments == 2 and report.removed == ["doc07.txt"]
    full = tmp_path / "full"
    _build(corpus, full)
    segmented = Retriever(IndexStore(index).load(), TermedBag())
    whole = Retriever(IndexStore(full).load(), TermedBag())
    assert len(segmented.index) == len(whole.index)
    for question in ("Küstenwache vor Gotland", "Manöver in Estland", "Litauen Maßnahme 7",
                     "Drohnen im Jahr 1998"):
        got = [h.passage.passage_id for h in segmented.search(question, k=3).hits]
        want = [h.passage.passage_id for h in whole.search(question, k=3).hits]
        assert got == want, question
        assert not any(pid.startswith("doc07") for pid in got)


def test_small_segments_are_merged_as_they_accumulate(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _build(corpus, index)
    counts = []
    for n in range(6):
        (corpus / f"neu{n}.txt").write_text(_text(30 + n), encoding="utf-8")
        counts.append(_build(corpus, index).segments)
    assert max(counts) < builder_mod.MERGE_FACTOR + 1
    version = IndexStore(index).load()
    assert sorted(version.documents) == sorted(p.name for p in corpus.glob("*.txt"))
    assert len({p.passage_id for p in version.passages}) == len(version)


def test_pruning_the_version_a_segment_was_written_for_keeps_it_for_the_others(
    corpus: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index"
    _build(corpus, index, keep_versions=1)
    (corpus / "doc01.txt").write_text(_text(1, "Nachtrag."), encoding="utf-8")
    report = _build(corpus, index, keep_versions=1)
    store = IndexStore(index)
    assert len(report.pruned) == 1 and store.versions() == [report.version]
    assert len(store.load(full_check=True)) == report.passages


def test_a_deleted_document_is_neither_found_nor_listed(corpus: Path, tmp_path: Path) -> None:
    index = tmp_path / "index"
    _build(corpus, index)
    (corpus / "doc08.txt").unlink()
    _build(corpus, index)
    version = IndexStore(index).load()
    assert "doc08.txt" not in version.documents
    assert not [p for p in version.passages if p.doc_id == "doc08.txt"]
    hits = Retriever(version, TermedBag()).search("Dokument 8 Munition Lager 8", k=5).hits
    assert all(h.passage.doc_id != "doc08.txt" for h in hits)


def test_a_large_build_is_written_segment_by_segment_and_searches_as_one(
    corpus: Path, tmp_path: Path
) -> None:
    """A build holds one segment's vectors at a time: a corpus cut into segments of a few
    passages (whole documents) finds what one segment finds."""
    split = build_index(corpus, tmp_path / "split", TermedBag(), min_words=5, max_words=40,
                        segment_passages=5)
    whole = build_index(corpus, tmp_path / "whole", TermedBag(), min_words=5, max_words=40)
    assert split.segments == 3 and whole.segments == 1  # 12 passages: 5, 5, 2
    version = IndexStore(tmp_path / "split").load()
    for segment in version.segments:  # documents are not cut between segments
        assert not any(segment.documents & other.documents for other in version.segments
                       if other is not segment)
    a = Retriever(version, TermedBag())
    b = Retriever(IndexStore(tmp_path / "whole").load(), TermedBag())
    for question in ("Litauen Maßnahme 7", "Drohnen im Jahr 1998", "Lager 4"):
        assert ([h.passage.passage_id for h in a.search(question, k=3).hits]
                == [h.passage.passage_id for h in b.search(question, k=3).hits]), question
