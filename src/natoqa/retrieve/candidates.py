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
*Background* passages (the back matter) are scored but left out of the statistics,
so indexing them does not change how the prose scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.embed import latent_terms as sparse
from natoqa.index import ann
from natoqa.index import units as sentence_units
from natoqa.index.rows import RowFile
from natoqa.index.segments import Segment
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
    penalty: Scores  # (m,) subtracted from their dense score (footnotes, back matter)
    units: Scores  # (u, d) the vectors of their units
    unit_of: Rows  # (u,) each unit's position in ``rows``
    spans: npt.NDArray[np.int32]  # (u, 2) where each unit stands in its passage's text
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


class _Part:
    """One segment's arrays, and where its live rows stand in the version."""

    def __init__(self, segment: Segment, offset: int, version: str, dim: int,
                 penalties: Mapping[str, float], with_terms: bool) -> None:
        n = len(segment.passages)
        self.name = segment.name
        self.live = segment.live
        self.offset = offset
        #: the version's row of each of the segment's rows (-1: deleted)
        self.to_version = np.full(n, -1, dtype=np.int64)
        self.to_version[self.live] = offset + np.arange(len(self.live))
        self.vectors: Scores = segment.vectors
        extras = segment.extras
        try:
            self.unit_vectors, self.unit_rows = sentence_units.load(extras, n, dim)
        except ValueError as exc:
            log.warning("index %s: ignoring the sentence vectors of segment %s: %s",
                        version, segment.name, exc)
            self.unit_vectors = np.zeros((0, dim), dtype=np.float32)
            self.unit_rows = np.zeros(0, dtype=np.int32)
        self.bounds = np.stack([np.searchsorted(self.unit_rows, np.arange(n), side=side)
                                for side in ("left", "right")]).astype(np.int64)
        #: whether answers can quote the segment's units (their spans fit its passages)
        self.quotable = True
        self.spans = self._spans(segment, version)
        self.stored_terms = sentence_units.load_terms(extras, len(self.unit_rows))
        self.terms = self.stored_terms if with_terms else None
        self.penalty = np.array([penalties.get(kind, 0.0)
                                 for kind in segment.passages.kinds.tolist()], dtype=np.float32)
        # candidates' rows are read from the files, not through the maps (natoqa.index.rows)
        self.files = {name: _row_file(array) for name, array in (
            ("passage", self.vectors), ("units", self.unit_vectors),
            ("ids", None if self.stored_terms is None else self.stored_terms.ids),
            ("weights", None if self.stored_terms is None else self.stored_terms.weights))}
        self.passage_graph, self.unit_graph = (extras.get(ann.PASSAGES_FILE),
                                               extras.get(ann.UNITS_FILE))
        if self.passage_graph is not None and self.passage_graph.ntotal != n:
            log.warning("index %s: the passage graph of segment %s does not fit; exact search",
                        version, segment.name)
            self.passage_graph = None
        if self.unit_graph is not None and self.unit_graph.ntotal != len(self.unit_rows):
            self.unit_graph = None

    def _spans(self, segment: Segment, version: str) -> npt.NDArray[np.int32]:
        none = np.zeros((len(self.unit_rows), 2), dtype=np.int32)
        if not len(self.unit_rows):
            return none
        if sentence_units.SPANS_FILE not in segment.extras:
            log.warning("index %s has no stored sentence spans (built by an older natoqa): "
                        "splitting its passages again; rebuild it to load faster", version)
        try:
            return sentence_units.load_spans(segment.extras, segment.passages, self.unit_rows)
        except ValueError as exc:
            log.warning("index %s: answers quote without its sentence units: %s", version, exc)
            self.quotable = False
            return none

    def gather(self, local: Rows, rows: Rows, *, whole: bool) -> Block:
        """The segment's rows ``local`` (the version's ``rows``) with their units; ``whole``:
        every row, as views of the maps."""
        first, last = self.bounds[0][local], self.bounds[1][local]
        counts = last - first
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        unit_index = (np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
                      + np.repeat(first, counts))
        unit_of = np.repeat(np.arange(len(local), dtype=np.int64), counts)

        def pick(array: Any, file: str) -> Any:
            if whole:
                return array
            reader = self.files[file]
            return (np.asarray(array[unit_index]) if reader is None
                    else reader.ranges(first, last))

        terms = self.terms
        reader = self.files["passage"]
        return Block(
            rows=rows,
            passage=self.vectors if whole else
            np.asarray(self.vectors[local]) if reader is None else reader.take(local),
            penalty=self.penalty[local],
            units=pick(self.unit_vectors, "units"),
            unit_of=unit_of,
            spans=np.asarray(self.spans[unit_index, :2]) if self.quotable else
            np.full((total, 2), -1, dtype=np.int32),
            term_ids=None if terms is None else pick(terms.ids, "ids"),
            term_weights=None if terms is None else pick(terms.weights, "weights"),
        )

    def nearest(self, graph: Any, queries: Scores, width: int, ef: int,
                units: bool) -> tuple[Scores, Rows]:
        """The graph's ``width`` nearest per query: similarities and the version's rows of
        their passages (-1 and -inf where deleted or missing)."""
        scores, found = ann.search(graph, queries, width, ef)
        if units:
            found = np.where(found >= 0, self.unit_rows[np.maximum(found, 0)], -1)
        rows = np.where(found >= 0, self.to_version[np.maximum(found, 0)], -1)
        return np.where(rows >= 0, scores, -np.inf).astype(np.float32), rows


class Corpus:
    """A version's vectors, units and latent terms, as retrieval reads them."""

    def __init__(self, index: IndexVersion, penalties: Mapping[str, float], *,
                 with_terms: bool = True, exact: bool = False,
                 background: npt.NDArray[np.bool_] | None = None) -> None:
        """``penalties``: subtracted from the dense score of a passage, by its kind;
        ``background``: the version's rows left out of fusion's statistics."""
        self.size = n = len(index.passages)
        dim = index.manifest.dim
        self.parts = [_Part(segment, int(offset), index.version, dim, penalties, with_terms)
                      for segment, offset in zip(index.segments, index.offsets, strict=False)]
        self.offsets = np.asarray(index.offsets, dtype=np.int64)
        units = sum(len(p.unit_rows) for p in self.parts)
        if n and not units:
            log.warning("index %s has no sentence vectors (built by an older natoqa): passage "
                        "vectors only; rebuild it for better ranking", index.version)
        #: whether the units' latent terms are stored (not when a segment lacks them)
        self.stored_terms = bool(units) and all(p.stored_terms is not None or not len(p.unit_rows)
                                                for p in self.parts)
        #: whether questions are scored by latent terms (stored, and the model gives them)
        self.terms = self.stored_terms and with_terms
        if not self.terms:
            for part in self.parts:
                part.terms = None
        self.unit_count = units
        self.approximate = not exact and any(p.passage_graph is not None for p in self.parts)
        self._statistics(n, background)

    def _statistics(self, n: int, background: npt.NDArray[np.bool_] | None) -> None:
        """What fusion normalises by: a fixed sample of the ``n`` passages (every one when
        questions are scored exactly), leaving out the ``background`` rows."""
        #: every passage, when questions are scored on all of them; else None
        self.everything: Block | None = None
        if background is not None and (background.all() or not background.any()):
            background = None  # nothing but background, or none: every row counts
        #: the version's rows that fusion's statistics are taken over (None: all)
        self.prose: Rows | None = None if background is None else np.flatnonzero(~background)
        #: the rows of ``sample`` that count for the statistics (None: all)
        self.sample_prose: Rows | None = None
        if self.approximate:
            pool = np.arange(n) if self.prose is None else self.prose
            rows = (pool if len(pool) <= SAMPLE else
                    np.sort(np.random.default_rng(0).choice(pool, SAMPLE, replace=False)))
            #: the passages that stand for the corpus in fusion's statistics
            self.sample = self._with_matrix(self.gather(rows))
        else:
            self.everything = self.sample = self._with_matrix(self.gather(np.arange(n)))
            self.sample_prose = self.prose

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

    # -- gathering ---------------------------------------------------------------

    def gather(self, rows: Rows) -> Block:
        """The version's passages ``rows`` (sorted, distinct) with their units."""
        blocks = []
        cuts = np.searchsorted(rows, self.offsets)
        for part, a, b in zip(self.parts, cuts[:-1], cuts[1:], strict=True):
            if a == b:
                continue
            mine = rows[a:b]
            whole = len(mine) == len(part.to_version) == len(part.live)
            blocks.append(part.gather(part.live[mine - part.offset], mine, whole=whole))
        if len(blocks) == 1:
            return blocks[0]
        if not blocks:  # no rows: an empty block of any segment
            return self.parts[0].gather(rows, rows, whole=False) if self.parts else \
                _empty_block()
        return _concatenate(blocks, len(rows), self.parts[0].vectors.shape[1] if self.parts
                            else 0)

    def candidates(self, queries: Scores, lexical: Sequence[Scores], width: int,
                   ef: int) -> Rows:
        """Sorted distinct rows: per query vector the ``width`` nearest passages and the
        passages of the ``width`` nearest units over all segments' graphs (each segment is
        asked for as many, the best of them kept: the candidates do not grow with the number
        of segments), every row of a segment without graphs, and each lexical score's
        ``width`` best passages."""
        found: list[Rows] = []
        for units in (False, True):
            scores: list[Scores] = []
            rows: list[Rows] = []
            for part in self.parts:
                graph = part.unit_graph if units else part.passage_graph
                if graph is not None:
                    s, r = part.nearest(graph, queries, width, ef, units)
                    scores.append(s)
                    rows.append(r)
                elif not units and part.passage_graph is None:
                    found.append(part.offset + np.arange(len(part.live)))
            if scores:
                joined, at = np.hstack(scores), np.hstack(rows)
                k = min(width, joined.shape[1])
                best = np.argpartition(-joined, k - 1, axis=1)[:, :k]
                picked = np.take_along_axis(at, best, axis=1).ravel()
                found.append(picked[picked >= 0])
        for lexical_scores in lexical:
            k = min(width, len(lexical_scores))
            best = np.argpartition(-lexical_scores, k - 1)[:k]
            found.append(best[lexical_scores[best] > 0])
        return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)

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

    @staticmethod
    def unit_spans(block: Block, position: int) -> tuple[Rows, npt.NDArray[np.int32]]:
        """The units of the block's passage at ``position``: their indexes in the block and
        their spans ``(start, end)`` in the passage's text (none where they are unknown)."""
        inside = np.flatnonzero(block.unit_of == position)
        spans = block.spans[inside]
        keep = spans[:, 0] >= 0
        return inside[keep], spans[keep]


def _row_file(array: Any) -> RowFile | None:
    """A reader of a stored array's rows; None for one in memory (an index of format 1)."""
    if not isinstance(array, np.memmap) or array.filename is None or not len(array):
        return None
    return RowFile(array)


def _empty_block() -> Block:
    empty = np.zeros(0, dtype=np.int64)
    return Block(empty, np.zeros((0, 0), np.float32), np.zeros(0, np.float32),
                 np.zeros((0, 0), np.float32), empty, np.zeros((0, 2), np.int32), None, None)


def _concatenate(blocks: list[Block], rows: int, dim: int) -> Block:
    """Blocks of several segments as one (units renumbered to the joined rows)."""
    starts = np.cumsum([0, *(len(b) for b in blocks)])[:-1]
    width = next((b.term_ids.shape[1] for b in blocks if b.term_ids is not None), 0)
    # a block without units (passages of one sentence) has no terms to join
    has_terms = width > 0 and all(b.term_ids is not None or not len(b.units) for b in blocks)
    ids = [np.zeros((0, width), np.int32) if b.term_ids is None else np.asarray(b.term_ids)
           for b in blocks]
    weights = [np.zeros((0, width), np.float32) if b.term_weights is None
               else np.asarray(b.term_weights) for b in blocks]
    return Block(
        rows=np.concatenate([b.rows for b in blocks]),
        passage=np.concatenate([np.asarray(b.passage) for b in blocks]).reshape(rows, dim),
        penalty=np.concatenate([b.penalty for b in blocks]),
        units=np.concatenate([np.asarray(b.units) for b in blocks]).reshape(-1, dim),
        unit_of=np.concatenate([b.unit_of + s for b, s in zip(blocks, starts, strict=True)]),
        spans=np.concatenate([b.spans for b in blocks]),
        term_ids=np.concatenate(ids) if has_terms else None,
        term_weights=np.concatenate(weights) if has_terms else None,
    )


def stats(values: Scores, rows: Rows | None = None) -> tuple[float, float]:
    """Mean and standard deviation (of ``values[rows]``, if given), as fusion normalises by
    them."""
    if rows is not None:
        values = values[rows]
    return (float(values.mean()), float(values.std())) if len(values) else (0.0, 0.0)
