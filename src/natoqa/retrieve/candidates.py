"""The passages a question is scored on, and their dense and latent-term evidence.

A small version is scored whole: every passage and every sentence unit, exactly.
A large one (it has nearest-neighbour graphs, :mod:`natoqa.index.ann`) is scored on
*candidates*: the graphs' nearest passages and the passages of the nearest units,
for the question and for the question with its context, and BM25's best passages.
The candidates are rescored exactly from the stored vectors (memory-mapped), so a
question costs the same at 10,000 and at 1,000,000 passages, apart from the graph
walk.

Fusion adds z-scores, and a z-score needs the mean and spread of a signal over the
corpus. Over candidates they would mean something else for every question (the
candidates are the best of the corpus), so they come from a fixed *sample* of the
version's passages, scored like candidates: at up to :data:`SAMPLE` passages the
sample is the whole version and the statistics are exact; above, they are an
estimate from :data:`SAMPLE` passages that does not depend on the corpus's size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.embed import latent_terms as sparse
from natoqa.index import ann
from natoqa.index import units as sentence_units
from natoqa.index.store import IndexVersion

log = logging.getLogger(__name__)

Scores = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]
#: passages whose scores estimate each signal's mean and spread in a large version
SAMPLE = 1024


@dataclass(frozen=True)
class Block:
    """Some passages with their units, gathered for scoring (views or copies)."""

    rows: Rows  # passage rows, in the version
    passage: Scores  # (m, d) their vectors
    penalty: Scores  # (m,) subtracted from their dense score (footnotes)
    units: Scores  # (u, d) the vectors of their units
    unit_index: Rows  # (u,) each unit's row in the version's unit arrays
    unit_of: Rows  # (u,) each unit's position in ``rows``
    term_ids: npt.NDArray[np.int32] | None  # (u, T) the units' latent terms
    term_weights: Scores | None
    #: the same terms as a sparse (u, features) matrix, for blocks scored by every question
    term_matrix: Any = None

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class Signals:
    """One query's evidence for the passages of a block."""

    dense: Scores  # blend of passage and best unit cosine, minus the penalty
    units: Scores  # every unit's cosine
    terms: Scores | None  # best unit by latent terms


class Corpus:
    """A version's vectors, units and latent terms, as retrieval reads them."""

    def __init__(self, index: IndexVersion, footnote_penalty: float, *,
                 with_terms: bool = True, exact: bool = False) -> None:
        passages = index.passages
        n, dim = len(passages), index.manifest.dim
        self.size = n
        self.vectors: Scores = index.vectors
        try:
            self.unit_vectors, self.unit_rows = sentence_units.load(index.extras, n, dim)
        except ValueError as exc:
            log.warning("index %s: ignoring its sentence vectors: %s", index.version, exc)
            self.unit_vectors = np.zeros((0, dim), dtype=np.float32)
            self.unit_rows = np.zeros(0, dtype=np.int32)
        if n and not len(self.unit_vectors):
            log.warning("index %s has no sentence vectors (built by an older natoqa): passage "
                        "vectors only; rebuild it for better ranking", index.version)
        self.bounds = np.stack([np.searchsorted(self.unit_rows, np.arange(n), side=side)
                                for side in ("left", "right")]).astype(np.int64)
        self.spans = self._spans(index)
        #: the units' latent terms (None: the version has none, or the model gives none)
        self.stored_terms = sentence_units.load_terms(index.extras, len(self.unit_rows))
        self.terms = self.stored_terms if with_terms else None
        self.penalty = np.array(
            [footnote_penalty if p.kind == "footnote" else 0.0 for p in passages],
            dtype=np.float32,
        )
        self.passage_graph, self.unit_graph = (index.extras.get(ann.PASSAGES_FILE),
                                               index.extras.get(ann.UNITS_FILE))
        if self.passage_graph is not None and self.passage_graph.ntotal != n:
            log.warning("index %s: its passage graph does not fit; exact search", index.version)
            self.passage_graph = None
        if self.unit_graph is not None and self.unit_graph.ntotal != len(self.unit_rows):
            self.unit_graph = None
        if exact:
            self.passage_graph = self.unit_graph = None
        #: every passage, when questions are scored on all of them; else None
        self.everything: Block | None = None
        if self.approximate:
            rows = (np.arange(n) if n <= SAMPLE else
                    np.sort(np.random.default_rng(0).choice(n, SAMPLE, replace=False)))
            #: the passages that stand for the corpus in fusion's statistics
            self.sample = self._with_matrix(self.gather(rows))
        else:
            self.everything = self.sample = self._with_matrix(
                self.gather(np.arange(n), copy=False))

    @property
    def approximate(self) -> bool:
        """Whether questions are scored on candidates (the version has a passage graph)."""
        return self.passage_graph is not None

    @staticmethod
    def _with_matrix(block: Block) -> Block:
        if block.term_ids is None or block.term_weights is None:
            return block
        from scipy.sparse import csr_matrix

        units, slots = np.nonzero(block.term_weights)
        matrix = csr_matrix(
            (block.term_weights[units, slots], (units, block.term_ids[units, slots])),
            shape=(len(block.term_ids), sparse.features()), dtype=np.float32)
        return replace(block, term_matrix=matrix)

    def _spans(self, index: IndexVersion) -> npt.NDArray[np.int32] | None:
        if not len(self.unit_rows):
            return None
        if sentence_units.SPANS_FILE not in index.extras:
            log.warning("index %s has no stored sentence spans (built by an older natoqa): "
                        "splitting its passages again; rebuild it to load faster", index.version)
        try:
            return sentence_units.load_spans(index.extras, index.passages, self.unit_rows)
        except ValueError as exc:
            log.warning("index %s: answers quote without its sentence units: %s",
                        index.version, exc)
            return None

    # -- gathering ---------------------------------------------------------------

    def gather(self, rows: Rows, *, copy: bool = True) -> Block:
        """The passages ``rows`` (sorted, distinct) with their units."""
        first, last = self.bounds[0][rows], self.bounds[1][rows]
        counts = last - first
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        unit_index = (np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
                      + np.repeat(first, counts))
        unit_of = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
        whole = not copy and len(rows) == self.size
        pick = (lambda a: a) if whole else (lambda a: np.asarray(a[unit_index]))
        terms = self.terms
        return Block(
            rows=rows,
            passage=self.vectors if whole else np.asarray(self.vectors[rows]),
            penalty=self.penalty[rows],
            units=pick(self.unit_vectors),
            unit_index=unit_index,
            unit_of=unit_of,
            term_ids=None if terms is None else pick(terms.ids),
            term_weights=None if terms is None else pick(terms.weights),
        )

    def candidates(self, queries: Scores, lexical: Sequence[Scores], width: int,
                   ef: int) -> Rows:
        """Sorted distinct rows: the graphs' nearest passages and passages of the nearest units
        of every query vector, and each lexical score's best passages."""
        found = [ann.search(self.passage_graph, queries, width, ef).ravel()]
        if self.unit_graph is not None:
            units = ann.search(self.unit_graph, queries, width, ef).ravel()
            found.append(np.asarray(self.unit_rows[units[units >= 0]], dtype=np.int64))
        for scores in lexical:
            k = min(width, len(scores))
            best = np.argpartition(-scores, k - 1)[:k]
            found.append(best[scores[best] > 0])
        rows = np.unique(np.concatenate(found))
        return rows[rows >= 0]

    # -- scoring -----------------------------------------------------------------

    def signals(self, block: Block, query: Scores, dense_terms: Scores | None,
                sentence_weight: float) -> Signals:
        """Dense and latent-term evidence of one query vector for a block's passages."""
        passage = np.asarray(block.passage @ query, dtype=np.float32)
        units = np.asarray(block.units @ query, dtype=np.float32)
        dense = passage
        if sentence_weight > 0 and len(units):
            best = passage.copy()
            np.maximum.at(best, block.unit_of, units)
            dense = (1 - sentence_weight) * passage + sentence_weight * best
        terms = None
        if dense_terms is not None and block.term_ids is not None:
            assert block.term_weights is not None
            per_unit = (block.term_matrix @ dense_terms if block.term_matrix is not None
                        else (dense_terms[block.term_ids] * block.term_weights).sum(axis=1))
            terms = np.zeros(len(block), dtype=np.float32)
            np.maximum.at(terms, block.unit_of, per_unit.astype(np.float32))
        return Signals(np.asarray(dense - block.penalty, dtype=np.float32), units, terms)

    def unit_spans(self, block: Block, position: int) -> tuple[npt.NDArray[np.int64], Any]:
        """The units of the block's passage at ``position``: their indexes in the block and
        their spans ``(start, end)`` in the passage's text."""
        inside = np.flatnonzero(block.unit_of == position)
        if self.spans is None:
            return inside[:0], np.zeros((0, 2), dtype=np.int32)
        return inside, self.spans[block.unit_index[inside], :2]


def stats(values: Scores) -> tuple[float, float]:
    """Mean and standard deviation, as fusion normalises by them."""
    return (float(values.mean()), float(values.std())) if len(values) else (0.0, 0.0)
