"""The passages a question is scored on, and their dense and latent-term evidence.

A small version is scored whole: every passage and every sentence unit, exactly.
A large one (it has nearest-neighbour graphs, :mod:`natoqa.index.ann`) is scored on
*candidates*: the graphs' nearest passages and the passages of the nearest units,
for the question and for the question with its context, and BM25's best passages.
The candidates are rescored exactly from the stored vectors (read with ``pread``), so
a question costs the same at 10,000 and at 1,000,000 passages, apart from the graph
walks, which run side by side, a thread per core, one per segment and kind of vector.

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
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

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
#: a block's arrays by the name of the file they are read from ("passage", "units", ...)
Arrays = dict[str, npt.NDArray[Any]]
T = TypeVar("T")
W = TypeVar("W")
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
    #: the same terms as a sparse (u, features) matrix in columns (CSC), for blocks scored by
    #: every question
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

    def unit_ranges(self, local: Rows) -> tuple[Rows, Rows]:
        """Where the units of the segment's rows ``local`` stand: ``first`` and ``last``."""
        return self.bounds[0][local], self.bounds[1][local]

    def gather(self, local: Rows, rows: Rows, *, whole: bool,
               into: Arrays | None = None) -> Block:
        """The segment's rows ``local`` (the version's ``rows``) with their units; ``whole``:
        every row, as views of the maps. ``into``: the arrays the vectors and terms are
        written to (slices of a block of several segments) instead of new ones."""
        first, last = self.unit_ranges(local)
        counts = last - first
        total = int(counts.sum())
        starts = np.cumsum(counts) - counts
        unit_index = (np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
                      + np.repeat(first, counts))
        unit_of = np.repeat(np.arange(len(local), dtype=np.int64), counts)

        def pick(array: Any, file: str, index: Rows, first: Rows, last: Rows) -> Any:
            out = None if into is None else into[file]
            reader = self.files[file]
            if not whole and reader is not None:
                return reader.ranges(first, last, out=out)
            got = array if whole else np.asarray(array[index])
            if out is None:
                return got
            out[...] = got
            return out

        def units(array: Any, file: str) -> Any:
            return pick(array, file, unit_index, first, last)

        terms = self.terms
        return Block(
            rows=rows,
            passage=pick(self.vectors, "passage", local, local, local + 1),
            penalty=self.penalty[local],
            units=units(self.unit_vectors, "units"),
            unit_of=unit_of,
            spans=np.asarray(self.spans[unit_index, :2]) if self.quotable else
            np.full((total, 2), -1, dtype=np.int32),
            term_ids=None if terms is None else units(terms.ids, "ids"),
            term_weights=None if terms is None else units(terms.weights, "weights"),
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
                 background: npt.NDArray[np.bool_] | None = None, threads: int = 0) -> None:
        """``penalties``: subtracted from the dense score of a passage, by its kind;
        ``background``: the version's rows left out of fusion's statistics; ``threads``:
        how many segments are searched and read at once (0: one per core)."""
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
        #: the threads segments are searched and read on (none for a single segment: its
        #: two graphs walked side by side took as long, 4.4-4.7 ms at 100,000 passages)
        self._pool: ThreadPoolExecutor | None = None
        workers = threads or os.cpu_count() or 1
        if self.approximate and len(self.parts) > 1 and workers > 1:
            self._pool = ThreadPoolExecutor(min(workers, 2 * len(self.parts)),
                                            thread_name_prefix="natoqa-segments")
            # a version's corpus goes when the service switches away from it: so do its threads
            weakref.finalize(self, self._pool.shutdown, wait=False)
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
        """The block with its units' latent terms as a sparse matrix by feature (it is
        scored by every question)."""
        if block.term_ids is None or block.term_weights is None:
            return block
        from scipy.sparse import csc_matrix

        units, slots = np.nonzero(block.term_weights)
        matrix = csc_matrix(
            (block.term_weights[units, slots], (units, block.term_ids[units, slots])),
            shape=(len(block.term_ids), sparse.features()), dtype=np.float32)
        return replace(block, term_matrix=matrix)

    # -- gathering ---------------------------------------------------------------

    def gather(self, rows: Rows) -> Block:
        """The version's passages ``rows`` (sorted, distinct) with their units."""
        pieces = []
        cuts = np.searchsorted(rows, self.offsets)
        for part, a, b in zip(self.parts, cuts[:-1], cuts[1:], strict=True):
            if a < b:
                mine = rows[a:b]
                pieces.append((part, part.live[mine - part.offset], mine))
        if len(pieces) == 1:
            part, local, mine = pieces[0]
            whole = len(mine) == len(part.to_version) == len(part.live)
            return part.gather(local, mine, whole=whole)
        if not pieces:  # no rows: an empty block of any segment
            return self.parts[0].gather(rows, rows, whole=False) if self.parts else \
                _empty_block()
        return self._gather_pieces(pieces, len(rows))

    def _gather_pieces(self, pieces: list[tuple[_Part, Rows, Rows]], count: int) -> Block:
        """Rows of several segments as one block: each segment reads its rows into its
        slice of the block's arrays (no copy to join them). One segment after another: on
        threads, the reads' Python work contends for the GIL and took longer (10 ms against 8
        at 100,000 passages)."""
        dim = self.parts[0].vectors.shape[1]
        units = [int(np.sum(last - first)) for part, local, _ in pieces
                 for first, last in [part.unit_ranges(local)]]
        stored = next((p.terms for p in self.parts if p.terms is not None), None)
        total = sum(units)
        arrays: Arrays = {"passage": np.empty((count, dim), np.float32),
                          "units": np.empty((total, dim), np.float32)}
        if stored is not None:
            arrays["ids"] = np.empty((total, *stored.ids.shape[1:]), stored.ids.dtype)
            arrays["weights"] = np.empty((total, *stored.weights.shape[1:]),
                                         stored.weights.dtype)
        row_at = np.cumsum([0, *(len(mine) for _, _, mine in pieces)])
        unit_at = np.cumsum([0, *units])

        def read(i: int) -> Block:
            part, local, mine = pieces[i]
            rows, span = slice(row_at[i], row_at[i + 1]), slice(unit_at[i], unit_at[i + 1])
            into = {name: array[rows if name == "passage" else span]
                    for name, array in arrays.items()}
            return part.gather(local, mine, whole=False, into=into)

        blocks = [read(i) for i in range(len(pieces))]
        has_terms = stored is not None and all(b.term_ids is not None or not len(b.units)
                                               for b in blocks)
        return Block(
            rows=np.concatenate([b.rows for b in blocks]),
            passage=arrays["passage"],
            penalty=np.concatenate([b.penalty for b in blocks]),
            units=arrays["units"],
            unit_of=np.concatenate([b.unit_of + s for b, s in zip(blocks, row_at, strict=False)]),
            spans=np.concatenate([b.spans for b in blocks]),
            term_ids=arrays["ids"] if has_terms else None,
            term_weights=arrays["weights"] if has_terms else None,
        )

    def _map(self, work: Callable[[W], T], items: Sequence[W]) -> list[T]:
        """``work`` of each item, on the search threads when there are several."""
        if self._pool is None or len(items) < 2:
            return [work(i) for i in items]
        return list(self._pool.map(work, items))

    def candidates(self, queries: Scores, lexical: Sequence[Scores], width: int,
                   ef: int, unit_ef: int) -> Rows:
        """Sorted distinct rows: per query vector the ``width`` nearest passages and the
        passages of the ``width`` nearest units over all segments' graphs (each segment is
        asked for as many, the best of them kept: the candidates do not grow with the number
        of segments), every row of a segment without graphs, and each lexical score's
        ``width`` best passages. ``ef``, ``unit_ef``: efSearch in the passage and unit graphs."""
        found: list[Rows] = [part.offset + np.arange(len(part.live)) for part in self.parts
                             if part.passage_graph is None]
        walks = [(part, graph, units) for units in (False, True) for part in self.parts
                 if (graph := part.unit_graph if units else part.passage_graph) is not None]
        # the graphs are walked side by side (FAISS lets go of the GIL): with 2 cores, the
        # 10 walks of 5 segments take 5 ms instead of 9 (docs/SCALE.md)
        walked = self._map(lambda walk: walk[0].nearest(walk[1], queries, width,
                                                        unit_ef if walk[2] else ef, walk[2]),
                           walks)
        for units in (False, True):
            scores = [s for (_, _, kind), (s, _) in zip(walks, walked, strict=True)
                      if kind == units]
            rows = [r for (_, _, kind), (_, r) in zip(walks, walked, strict=True)
                    if kind == units]
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
            best = _best_of_units(passage.copy(), block.unit_of, units)
            dense = (1 - sentence_weight) * passage + sentence_weight * best
        terms = None
        if dense_terms is not None and block.term_ids is not None:
            assert block.term_weights is not None
            if block.term_matrix is not None:
                # by feature: only the columns of the question's own features are read (a
                # fifth of the time, 0.3 ms for the sample's 14,000 units)
                wanted = np.flatnonzero(dense_terms)
                product = block.term_matrix[:, wanted] @ dense_terms[wanted]
            else:
                product = _term_rows(block.term_ids, block.term_weights) @ dense_terms
            per_unit = np.asarray(product, dtype=np.float32)
            terms = _best_of_units(np.zeros(len(block), dtype=np.float32), block.unit_of,
                                   per_unit)
        return Signals(np.asarray(dense - block.penalty, dtype=np.float32), units, terms)

    @staticmethod
    def unit_spans(block: Block, position: int) -> tuple[Rows, npt.NDArray[np.int32]]:
        """The units of the block's passage at ``position``: their indexes in the block and
        their spans ``(start, end)`` in the passage's text (none where they are unknown)."""
        inside = np.flatnonzero(block.unit_of == position)
        spans = block.spans[inside]
        keep = spans[:, 0] >= 0
        return inside[keep], spans[keep]


def _best_of_units(best: Scores, unit_of: Rows, values: Scores) -> Scores:
    """``best`` raised, per passage, to the largest of its units' ``values``."""
    if not len(values):
        return best
    if len(values) == 1 or bool((unit_of[1:] >= unit_of[:-1]).all()):
        # each passage's units stand together (as gathered): one maximum per run, 15 times
        # faster than ``np.maximum.at`` on a question's 8,000 candidate units
        starts = np.flatnonzero(np.r_[True, unit_of[1:] != unit_of[:-1]])
        owners = unit_of[starts]
        best[owners] = np.maximum(best[owners], np.maximum.reduceat(values, starts))
    else:  # in any order (a reader's rows)
        np.maximum.at(best, unit_of, values)
    return best


def _term_rows(ids: npt.NDArray[np.integer[Any]], weights: Scores) -> Any:
    """Units' latent terms, ``(u, TOP_TERMS)`` ids and weights, as a sparse ``(u, features)``
    matrix that shares their memory: its product with a question's terms takes a third of
    the time of gathering the question's weight for every id (the padding, id 0 with weight
    0, adds nothing)."""
    from scipy.sparse import csr_matrix

    count, width = ids.shape
    return csr_matrix(
        (np.ascontiguousarray(weights, dtype=np.float32).reshape(-1),
         np.ascontiguousarray(ids, dtype=np.int32).reshape(-1),
         np.arange(0, count * width + 1, width, dtype=np.int64)),
        shape=(count, sparse.features()))


def _row_file(array: Any) -> RowFile | None:
    """A reader of a stored array's rows; None for one in memory (an index of format 1)."""
    if not isinstance(array, np.memmap) or array.filename is None or not len(array):
        return None
    return RowFile(array)


def _empty_block() -> Block:
    empty = np.zeros(0, dtype=np.int64)
    return Block(empty, np.zeros((0, 0), np.float32), np.zeros(0, np.float32),
                 np.zeros((0, 0), np.float32), empty, np.zeros((0, 2), np.int32), None, None)


def stats(values: Scores, rows: Rows | None = None) -> tuple[float, float]:
    """Mean and standard deviation (of ``values[rows]``, if given), as fusion normalises by
    them."""
    if rows is not None:
        values = values[rows]
    return (float(values.mean()), float(values.std())) if len(values) else (0.0, 0.0)
