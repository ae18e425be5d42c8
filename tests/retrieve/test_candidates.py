"""Scoring a large version on candidates: the same scores as scoring everything, found
through nearest-neighbour graphs and BM25, normalised by a fixed sample."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from natoqa.config import RetrievalSettings
from natoqa.index import ann
from natoqa.index.builder import build_index
from natoqa.index.store import IndexStore
from natoqa.retrieve import candidates
from natoqa.retrieve.retriever import Retriever
from tests.fakes import TermedBag

WORDS = [
    "Abschreckung", "Ostflanke", "Rüstung", "Cyberabwehr", "Bündnisfall", "Haushalt",
    "Brigade", "Litauen", "Gipfel", "Drohnen", "Munition", "Luftverteidigung", "Marine",
    "Satelliten", "Reserve", "Kommando",
]
QUESTIONS = ["Was sagt das Dokument über Litauen und die Brigade?",
             "Drohnen und Munition für die Luftverteidigung",
             "Wie steht es um den Haushalt der Marine?",
             "Satelliten Kommando Reserve"]


def _corpus(root: Path, documents: int = 24) -> Path:
    rng = random.Random(7)
    root.mkdir(parents=True)
    for d in range(documents):
        paragraphs = []
        for _ in range(3):
            sentences = [" ".join(rng.sample(WORDS, 5)) + f" im Jahr {rng.randint(1990, 2030)}."
                         for _ in range(rng.randint(3, 6))]
            paragraphs.append(" ".join(sentences))
        if d % 6 == 0:  # back matter, which fusion's statistics leave out (both paths)
            paragraphs += ["Über die Autoren", f"Dr. Erika Muster {d} forscht zu Brigade und "
                           f"Munition im Jahr {1990 + d} an einem Institut in Bonn."]
        (root / f"doc{d:02d}.txt").write_text(
            f"---\ntitle: Dokument {d}\nlanguage: de\n---\n\n" + "\n\n".join(paragraphs) + "\n",
            encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[IndexStore, IndexStore]:
    """The same corpus built twice: scored whole, and with graphs from the first passage on."""
    root = tmp_path_factory.mktemp("candidates")
    corpus = _corpus(root / "corpus")
    exact, graphs = IndexStore(root / "exact"), IndexStore(root / "graphs")
    build_index(corpus, exact.root, TermedBag(), min_words=5, max_words=40)
    build_index(corpus, graphs.root, TermedBag(), min_words=5, max_words=40,
                ann_min_passages=1)
    return exact, graphs


def _ranked(retriever: Retriever, question: str, k: int = 5) -> list[tuple[str, float]]:
    return [(h.passage.passage_id, round(h.score, 4))
            for h in retriever.search(question, k=k).hits]


def test_a_version_gets_graphs_from_the_size_the_build_is_told(
    versions: tuple[IndexStore, IndexStore],
) -> None:
    exact, graphs = (store.load() for store in versions)
    assert len(exact) == len(graphs) > 40
    assert ann.PASSAGES_FILE not in exact.extras
    assert graphs.extras[ann.PASSAGES_FILE].ntotal == len(graphs)
    assert graphs.extras[ann.UNITS_FILE].ntotal == len(graphs.extras["sentence_rows.npy"])


def test_candidates_are_rescored_exactly_like_a_search_of_everything(
    versions: tuple[IndexStore, IndexStore],
) -> None:
    exact_store, graph_store = versions
    exact = Retriever(exact_store.load(), TermedBag())
    # few candidates per source: the graphs and BM25 have to find the best passages
    narrow = Retriever(graph_store.load(), TermedBag(), RetrievalSettings(candidates=8))
    assert exact.corpus.everything is not None and narrow.corpus.everything is None
    assert sum(p.kind == "backmatter" for p in exact.index.passages) == 4
    for question in QUESTIONS:
        assert _ranked(narrow, question, k=3) == _ranked(exact, question, k=3), question
        a, b = exact.search(question), narrow.search(question)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_follow_ups_find_their_candidates_with_the_history_too(
    versions: tuple[IndexStore, IndexStore],
) -> None:
    exact_store, graph_store = versions
    exact = Retriever(exact_store.load(), TermedBag())
    narrow = Retriever(graph_store.load(), TermedBag(), RetrievalSettings(candidates=8))
    history = ["Was sagt das Dokument über Litauen und die Brigade?"]
    a = exact.search("Und über die Munition?", history, k=3)
    b = narrow.search("Und über die Munition?", history, k=3)
    assert [h.passage.passage_id for h in a.hits] == [h.passage.passage_id for h in b.hits]
    top = a.hits[0].passage.passage_id
    assert [u[:2] for u in a.unit_scores[top]] == [u[:2] for u in b.unit_scores[top]]
    assert [u[2] for u in a.unit_scores[top]] == pytest.approx([u[2] for u in b.unit_scores[top]])


def test_above_the_sample_size_fusion_is_normalised_by_the_sample(
    versions: tuple[IndexStore, IndexStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics of a fixed sample stand for the corpus: the ranking stays, the scores
    move only by the sample's estimate of the mean and spread."""
    exact_store, graph_store = versions
    exact = Retriever(exact_store.load(), TermedBag())
    monkeypatch.setattr(candidates, "SAMPLE", 30)
    sampled = Retriever(graph_store.load(), TermedBag())
    assert len(sampled.corpus.sample) == 30
    for question in QUESTIONS:
        want, got = exact.search(question, k=3), sampled.search(question, k=3)
        assert got.hits[0].passage.passage_id == want.hits[0].passage.passage_id
        scores = np.array([h.score for h in want.hits]), np.array([h.score for h in got.hits])
        assert np.corrcoef(*scores)[0, 1] > 0.9 or len(want.hits) < 3


def test_a_graph_that_does_not_fit_its_version_is_ignored(
    versions: tuple[IndexStore, IndexStore], caplog: pytest.LogCaptureFixture
) -> None:
    version = versions[1].load()
    version.extras[ann.PASSAGES_FILE] = ann.build(np.asarray(version.vectors[:3]),
                                                  ann.SPECS[ann.PASSAGES_FILE])
    retriever = Retriever(version, TermedBag())
    assert retriever.corpus.everything is not None  # exact search instead
    assert "does not fit" in caplog.text
    assert retriever.search(QUESTIONS[0]).hits


def test_segments_are_searched_side_by_side_as_one_after_another(
    versions: tuple[IndexStore, IndexStore], tmp_path: Path
) -> None:
    """A version of several segments with graphs: its candidates, read into one block, rank
    as a search of everything does, whether the segments are walked on threads or not."""
    exact = Retriever(versions[0].load(), TermedBag())
    store = IndexStore(tmp_path / "segments")
    build_index(_corpus(tmp_path / "corpus"), store.root, TermedBag(), min_words=5,
                max_words=40, ann_min_passages=1, segment_passages=20)
    version = store.load()
    assert len(version.segments) >= 3
    assert all(ann.PASSAGES_FILE in s.extras for s in version.segments)
    threaded, serial = (Retriever(version, TermedBag(), RetrievalSettings(
        candidates=30, search_threads=threads)) for threads in (2, 1))
    assert threaded.corpus._pool is not None and serial.corpus._pool is None
    for question in QUESTIONS:
        want = _ranked(exact, question, k=3)
        assert _ranked(threaded, question, k=3) == _ranked(serial, question, k=3) == want
        a, b = exact.search(question, k=1), threaded.search(question, k=1)
        top = a.hits[0].passage.passage_id
        assert [u[:2] for u in a.unit_scores[top]] == [u[:2] for u in b.unit_scores[top]]


def test_each_graph_is_walked_as_widely_as_its_own_ef_search(
    versions: tuple[IndexStore, IndexStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    version = versions[1].load()
    retriever = Retriever(version, TermedBag(), RetrievalSettings(
        candidates=8, ann_ef_search=37, ann_ef_search_units=53))
    walked: list[tuple[int, int]] = []
    search = ann.search

    def recorded(graph: object, queries: np.ndarray, k: int, ef: int) -> object:
        walked.append((graph.ntotal, ef))  # type: ignore[attr-defined]
        return search(graph, queries, k, ef)

    monkeypatch.setattr(ann, "search", recorded)
    retriever.search(QUESTIONS[0])
    units = version.extras[ann.UNITS_FILE].ntotal
    assert units != len(version)
    assert sorted(walked) == sorted([(len(version), 37), (units, 53)])


def test_a_block_of_several_segments_holds_each_segments_rows(tmp_path: Path) -> None:
    store = IndexStore(tmp_path / "segments")
    build_index(_corpus(tmp_path / "corpus"), store.root, TermedBag(), min_words=5,
                max_words=40, ann_min_passages=1, segment_passages=20)
    corpus = Retriever(store.load(), TermedBag()).corpus
    rows = np.sort(np.random.default_rng(3).choice(corpus.size, 25, replace=False))
    joined = corpus.gather(rows)
    assert len({int(np.searchsorted(corpus.offsets, r, side="right")) for r in rows}) > 1
    one_by_one = [corpus.gather(rows[i:i + 1]) for i in range(len(rows))]
    assert np.array_equal(joined.rows, rows)
    assert np.array_equal(joined.passage, np.concatenate([b.passage for b in one_by_one]))
    assert np.array_equal(joined.units, np.concatenate([b.units for b in one_by_one]))
    assert np.array_equal(joined.unit_of, np.concatenate(
        [b.unit_of + i for i, b in enumerate(one_by_one)]))
    assert joined.term_ids is not None and joined.term_weights is not None
    assert np.array_equal(joined.term_weights,
                          np.concatenate([b.term_weights for b in one_by_one]))
    assert np.array_equal(joined.spans, np.concatenate([b.spans for b in one_by_one]))


@pytest.mark.parametrize("shuffled", [False, True])
def test_each_passage_scores_by_its_best_unit(shuffled: bool) -> None:
    rng = np.random.default_rng(1)
    # 12 passages, some without units (4 and 9 have none)
    unit_of = np.sort(rng.choice([p for p in range(12) if p not in (4, 9)], 80))
    if shuffled:  # a reader may return units in any order
        unit_of = rng.permutation(unit_of)
    values = rng.standard_normal(80).astype(np.float32)
    floor = rng.standard_normal(12).astype(np.float32)
    want = floor.copy()
    np.maximum.at(want, unit_of, values)
    got = candidates._best_of_units(floor.copy(), unit_of, values)
    assert np.array_equal(got, want)
    assert got[4] == floor[4] and got[9] == floor[9]


def test_latent_terms_score_as_the_sum_of_their_weights() -> None:
    from natoqa.embed import latent_terms as sparse

    rng = np.random.default_rng(2)
    features = sparse.features()
    ids = rng.integers(0, features, (50, 16), dtype=np.int32)
    weights = rng.random((50, 16)).astype(np.float32)
    weights[:, 12:] = 0  # padding
    ids[:, 12:] = 0
    question = np.zeros(features, np.float32)
    question[rng.choice(np.unique(ids), 40, replace=False)] = rng.random(40)
    want = (question[ids] * weights).sum(axis=1)
    assert np.allclose(candidates._term_rows(ids, weights) @ question, want, atol=1e-6)
