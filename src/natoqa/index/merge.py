"""Merging a version's segments into fewer, without the model.

A build writes segments of at most ``segment_passages`` (what it holds in memory while
it embeds), and each question walks every segment's graphs: at 100,003 passages the
walks of six segments took 13 ms of a question, those of one segment 4.5 (docs/SCALE.md).
A merge writes the live rows of several segments as one. Vectors, sentence units and
their latent terms are copied in blocks (nothing is embedded again, no model is loaded);
what is derived from the rows — the lexicon, the names, the graphs — is built anew over
them. Deleted documents' rows are left behind. Lucene's ``forceMerge`` and
Elasticsearch's ``_forcemerge?max_num_segments=``, for an index after a bulk load.

The merged segment is a new version, written beside the current one and switched to
atomically like a build's: a running server switches to it without dropping a request,
and ``natoqa index rollback`` goes back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.index import artifacts
from natoqa.index import units as sentence_units
from natoqa.index.builder import build_lock, seconds_since, switch_to
from natoqa.index.rows import RowFile
from natoqa.index.segments import Segment
from natoqa.index.spill import SPILL_DIR, Spill
from natoqa.index.store import (
    IndexStore,
    NewSegment,
    VersionPassages,
    new_version_name,
    utc_now,
)

log = logging.getLogger(__name__)

#: the arrays with one row per sentence unit, copied as they are (the rows file is renumbered)
UNIT_ARRAYS = (sentence_units.VECTORS_FILE, sentence_units.SPANS_FILE,
               sentence_units.TERM_IDS_FILE, sentence_units.TERM_WEIGHTS_FILE)
#: rows copied at a time: a block of unit vectors is 77 MB
BLOCK = 50_000


@dataclass
class MergeReport:
    """What ``natoqa index merge`` did."""

    version: str
    previous_version: str
    switched: bool = False
    segments_before: int = 0
    segments: int = 0
    #: segments merged into one, and the live passages they held
    merged: int = 0
    passages_merged: int = 0
    #: deleted documents' rows left behind
    rows_dropped: int = 0
    seconds: float = 0.0
    #: copying the rows, building the lexicon, names and graphs, writing and checking
    timings: dict[str, float] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def merge_index(index_dir: Path, *, max_segments: int = 1, lock_timeout: float = 0.0,
                keep_versions: int = 5,
                ann_min_passages: int = artifacts.ANN_MIN_PASSAGES) -> MergeReport:
    """Merge the current version's smallest segments until at most ``max_segments`` are
    left, as a new version made current. Segments with deleted documents are rewritten
    even when there are few enough. Raises IndexNotFound without an index, IndexLocked
    while a build runs for longer than ``lock_timeout`` seconds, IndexStoreError when
    the version cannot be written."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    started = time.perf_counter()
    store = IndexStore(index_dir)
    with build_lock(index_dir, lock_timeout):
        current = store.load(graphs=False)  # the merged segment gets graphs of its own
        chosen = choose(current.segments, max_segments)
        report = MergeReport(version=current.version, previous_version=current.version,
                             segments_before=len(current.segments),
                             segments=len(current.segments))
        if not chosen:
            report.seconds = seconds_since(started)
            log.info("index %s: %d segments, nothing to merge", current.version,
                     len(current.segments))
            return report
        log.info("index %s: merging %d of its %d segments (%d live passages)",
                 current.version, len(chosen), len(current.segments),
                 sum(len(s.live) for s in chosen))
        names = {s.name for s in chosen}
        kept = [s for s in current.segments if s.name not in names]
        manifest = replace(current.manifest, version=new_version_name(), created=utc_now(),
                           checksums={}, edges={}, segments=[])
        with store.writer(manifest) as writer:
            for segment in kept:
                writer.keep(current.version, segment.entry)
            new = merged_segment(chosen, writer.folder / SPILL_DIR,
                                 artifacts.word_counts(current, {s.name for s in kept}),
                                 ann_min_passages, report.timings)
            t = time.perf_counter()
            writer.add(new)
            manifest.build_seconds = seconds_since(started)
            writer.commit(sorted(current.documents.values(), key=lambda r: r.doc_id))
        switch_to(store, manifest.version, dim=manifest.dim, model=manifest.model_id,
                  verified=[s.name for s in kept])
        report.timings["write_s"] = seconds_since(t)
        report.version, report.switched = manifest.version, True
        report.segments = len(kept) + 1
        report.merged = len(chosen)
        report.passages_merged = len(new.passages)
        report.rows_dropped = sum(len(s.passages) for s in chosen) - len(new.passages)
        report.pruned = store.prune(keep_versions)
        report.seconds = seconds_since(started)
        log.info("index %s is current (was %s): %d segments merged into one of %d passages",
                 report.version, report.previous_version, report.merged,
                 report.passages_merged)
        return report


def choose(segments: Sequence[Segment], max_segments: int) -> list[Segment]:
    """The segments to merge, in row order: the smallest (by live passages) until
    ``max_segments`` remain, and every segment with deleted documents; none when that
    would rewrite a single segment that has none."""
    excess = len(segments) - max_segments + 1 if len(segments) > max_segments else 0
    smallest = sorted(segments, key=lambda s: len(s.live))[:excess]
    names = {s.name for s in smallest} | {s.name for s in segments if s.entry.deleted}
    chosen = [s for s in segments if s.name in names]
    if len(chosen) == 1 and not chosen[0].entry.deleted:
        return []
    return chosen


def merged_segment(segments: Sequence[Segment], spill: Path,
                   word_counts: Counter[str], ann_min_passages: int,
                   timings: dict[str, float]) -> NewSegment:
    """The live rows of ``segments`` as one new segment, its large arrays written to
    ``spill`` as they are copied (the version writer moves them into the segment); the
    time of each step goes to ``timings``."""
    t = time.perf_counter()
    units = [_unit_rows(s) for s in segments]
    present = [set(UNIT_ARRAYS) & set(s.extras) for s in segments]
    if any(p != present[0] for p in present):
        raise ValueError("the segments to merge store different sentence-unit arrays: "
                         "rebuild the index (natoqa build --force)")
    offsets = np.cumsum([0, *(len(s.live) for s in segments)]).astype(np.int64)
    passages = VersionPassages(segments, offsets)  # their live rows, one after the other
    vectors = _copy(spill / "passage_vectors.npy", [(s.vectors, s.live) for s in segments])
    extras: dict[str, Any] = {}
    if sentence_units.ROWS_FILE in segments[0].extras:
        # each unit's passage, numbered in the merged segment
        extras[sentence_units.ROWS_FILE] = np.concatenate(
            [renumber[rows[keep]] + offset for (rows, keep, renumber), offset
             in zip(units, offsets[:-1].tolist(), strict=True)]).astype(np.int32)
        for name in sorted(present[0]):
            extras[name] = _copy(spill / name, [(s.extras[name], keep)
                                                for s, (_, keep, _) in zip(segments, units,
                                                                           strict=True)])
    timings["copy_s"] = seconds_since(t)
    log.info("copied %d passages' vectors and units in %.1f s; building the lexicon and "
             "graphs", len(passages), timings["copy_s"])
    t = time.perf_counter()
    extras |= artifacts.build(passages, extras, vectors, ann_min_passages=ann_min_passages,
                              word_counts=word_counts, spill=spill)
    timings["artifacts_s"] = seconds_since(t)
    return NewSegment(passages, vectors, extras)


def _unit_rows(segment: Segment) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_],
                                          npt.NDArray[np.int64]]:
    """A segment's units' passage rows, which of its units are live, and each row's
    number among the live rows."""
    raw = segment.extras.get(sentence_units.ROWS_FILE)
    rows = np.asarray(raw if raw is not None else np.zeros(0), dtype=np.int64)
    alive = np.zeros(len(segment.passages), dtype=np.bool_)
    alive[segment.live] = True
    renumber = np.cumsum(alive) - 1
    return rows, alive[rows], renumber


def _copy(path: Path, parts: list[tuple[npt.NDArray[Any], npt.NDArray[Any]]]
          ) -> np.memmap[Any, Any]:
    """The rows of each (2-D) array that its second item selects (row numbers or a mask),
    one array after the other, written to a new ``.npy`` file ``path`` a block at a time."""
    picks = [np.flatnonzero(keep) if keep.dtype == np.bool_ else np.asarray(keep, np.int64)
             for _, keep in parts]
    first = parts[0][0]
    out = Spill(path, sum(len(p) for p in picks), first.shape[1], first.dtype)
    at = 0
    for (array, _), pick in zip(parts, picks, strict=True):
        reader = _reader(array)
        for start in range(0, len(pick), BLOCK):
            rows = pick[start : start + BLOCK]
            block = reader.take(rows) if reader is not None else np.asarray(array[rows])
            out.put(at, block)
            at += len(rows)
    return out.array()


def _reader(array: npt.NDArray[Any]) -> RowFile | None:
    """Rows read with ``pread``, not through the map (its pages would stay resident)."""
    try:
        return RowFile(array) if isinstance(array, np.memmap) else None
    except ValueError:
        return None
