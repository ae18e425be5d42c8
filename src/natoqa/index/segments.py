"""Segments: the immutable parts an index version is made of.

A segment holds some documents' passages with everything retrieval needs of them
(vectors, sentence units, lexicon, names, graphs). It is written once and never
changed. A version lists its segments and, per segment, the documents it no longer
serves (deleted or replaced by a newer segment): an edit writes one small segment
and a line in the manifest instead of the whole index, and the next version shares
every unchanged segment with the last one — as hard links, so each version's folder
stays complete on its own (pruning one never breaks another) while the bytes are on
disk once. Small segments are merged into one as they accumulate
(:func:`natoqa.index.builder.build_index`'s merge policy), and any of them on request
(:mod:`natoqa.index.merge`), the shape of Lucene's segments and commit points.

    versions/<version>/segments/<segment>/
        passages.jsonl        one Passage per line (row i)
        passage_vectors.npy   row i's vector
        sentence_*.npy        its sentence units (natoqa.index.units)
        lexicon*, names.json  natoqa.index.lexicon, natoqa.index.artifacts
        *.ann.faiss           nearest-neighbour graphs (natoqa.index.ann), large segments
"""

from __future__ import annotations

import json
import os
import shutil
import weakref
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, overload

import faiss
import numpy as np
import numpy.typing as npt

from natoqa.index.spill import is_spilled
from natoqa.models import Passage

SEGMENTS_DIR = "segments"
PASSAGE_VECTORS = "passage_vectors.npy"
PASSAGES = "passages.jsonl"
#: what a segment's artifacts may be called: plain file names of these kinds
ARTIFACT_SUFFIXES = (".npy", ".json", ".faiss")
#: files of at least this size are opened memory-mapped by FAISS
_MMAP_FAISS_BYTES = 1 << 20

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SegmentEntry:
    """What a version's manifest says of one of its segments."""

    name: str
    rows: int
    #: documents of the segment this version does not serve
    deleted: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SegmentEntry:
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise ValueError(f"not a segment entry: {data!r}")
        return cls(data["name"], int(data["rows"]), tuple(data.get("deleted", ())))

    def path(self, file: str) -> str:
        """A file's path relative to the version folder (the manifest's checksum key)."""
        return f"{SEGMENTS_DIR}/{self.name}/{file}"


class PassageRows(Sequence[Passage]):
    """Passages by row number, each produced when asked for (:meth:`_row`)."""

    @abstractmethod
    def _row(self, i: int) -> Passage:
        """Row ``i``, ``0 <= i < len(self)``."""

    @overload
    def __getitem__(self, i: int) -> Passage: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Passage]: ...
    def __getitem__(self, i: int | slice) -> Passage | Sequence[Passage]:
        if isinstance(i, slice):
            return [self._row(j) for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self._row(i % len(self))


class PassageTable(PassageRows):
    """A segment's passages: what is needed of every one of them (ids, documents, kinds,
    text lengths) as compact columns, a whole passage read from its line when asked for.

    At 100,000 passages the passages as objects took 250 MB of the server's memory and a
    second of every load; a question needs a handful of them.
    """

    def __init__(self, ids: list[str], doc_ids: list[str], kinds: list[str],
                 ordinals: list[int], lengths: list[int], fetch: Callable[[int], Passage]) -> None:
        self.ids = ids
        self.doc_ids = doc_ids
        self.kinds = np.asarray(kinds, dtype=str)
        self.ordinals = np.asarray(ordinals, dtype=np.int64)
        #: each passage's text length in characters
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self._fetch = fetch

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> PassageTable:
        """Passages already in memory."""
        kept = tuple(passages)
        return cls([p.passage_id for p in kept], [p.doc_id for p in kept],
                   [p.kind for p in kept], [p.ordinal for p in kept],
                   [len(p.text) for p in kept], kept.__getitem__)

    @classmethod
    def read(cls, path: Path) -> PassageTable:
        """A ``passages.jsonl``: parsed once for the columns, then read line by line."""
        data = path.read_bytes()
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
        starts = np.r_[0, ends[:-1] + 1] if len(ends) else np.zeros(0, dtype=np.int64)
        if data[(ends[-1] + 1 if len(ends) else 0):].strip():
            raise ValueError(f"{path.name}: the last line is not terminated")
        ids: list[str] = []
        doc_ids: list[str] = []
        kinds: list[str] = []
        ordinals: list[int] = []
        lengths: list[int] = []
        docs: dict[str, str] = {}  # one string per document, not one per passage
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            row = json.loads(data[a:b])
            ids.append(row["passage_id"])
            doc_ids.append(docs.setdefault(row["doc_id"], row["doc_id"]))
            kinds.append(row.get("kind", "body"))
            ordinals.append(row["ordinal"])
            lengths.append(len(row["text"]))
        del data
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        bounds = np.stack([starts, ends]).T.astype(np.int64)

        def fetch(i: int) -> Passage:
            a, b = bounds[i].tolist()
            return passage_from_json(os.pread(fd, b - a, a))

        table = cls(ids, doc_ids, kinds, ordinals, lengths, fetch)
        weakref.finalize(table, os.close, fd)
        return table

    def __len__(self) -> int:
        return len(self.ids)

    def _row(self, i: int) -> Passage:
        return self._fetch(i)

    def __iter__(self) -> Iterator[Passage]:
        return (self._fetch(i) for i in range(len(self)))


@dataclass(frozen=True)
class Segment:
    """One loaded segment: passages as a table, vectors and artifacts mapped."""

    entry: SegmentEntry
    passages: PassageTable
    vectors: Vectors
    #: artifacts by file name: arrays (memory-mapped), bytes (JSON), FAISS indexes
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.entry.name

    @cached_property
    def live(self) -> npt.NDArray[np.int64]:
        """The rows this version serves, in order."""
        deleted = set(self.entry.deleted)
        if not deleted:
            return np.arange(len(self.passages), dtype=np.int64)
        return np.fromiter((i for i, d in enumerate(self.passages.doc_ids) if d not in deleted),
                           dtype=np.int64)

    @property
    def documents(self) -> set[str]:
        return set(self.passages.doc_ids)


def new_segment_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return "s" + now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(3).hex()


def is_artifact_name(name: str) -> bool:
    """A plain ``*.npy``/``*.json``/``*.faiss`` file name: no folders, not hidden."""
    return (name.endswith(ARTIFACT_SUFFIXES) and not name.startswith(".")
            and not set(name) & {"/", "\\"})


def write(folder: Path, passages: Any, vectors: Vectors, extras: dict[str, Any],
          dim: int) -> list[str]:
    """Write a new segment's files into ``folder``; returns their names."""
    folder.mkdir(parents=True)
    if is_spilled(vectors):  # written as they were copied (natoqa.index.merge)
        os.replace(str(vectors.filename), folder / PASSAGE_VECTORS)
    else:
        np.save(folder / PASSAGE_VECTORS, np.ascontiguousarray(vectors, dtype=np.float32)
                .reshape(-1, dim), allow_pickle=False)
    with (folder / PASSAGES).open("w", encoding="utf-8") as fh:
        for p in passages:
            fh.write(passage_to_json(p) + "\n")
    for name, artifact in extras.items():
        path = folder / name
        if path.suffix == ".npy" and is_spilled(artifact):
            os.replace(str(artifact.filename), path)  # written as it was embedded
        elif path.suffix == ".npy":
            np.save(path, np.ascontiguousarray(artifact), allow_pickle=False)
        elif path.suffix == ".faiss" and isinstance(artifact, Path):
            os.replace(artifact, path)  # written as it was built (natoqa.index.artifacts)
        elif path.suffix == ".faiss":
            faiss.write_index(artifact, str(path))
        else:
            path.write_bytes(artifact)
    return [PASSAGE_VECTORS, PASSAGES, *extras]


def link(source: Path, folder: Path) -> list[str]:
    """Share an existing segment's files: hard links (a copy where the file system has none)."""
    folder.mkdir(parents=True)
    names = []
    for file in sorted(source.iterdir()):
        try:
            os.link(file, folder / file.name)
        except OSError:
            shutil.copy2(file, folder / file.name)
        names.append(file.name)
    return names


def read(folder: Path, entry: SegmentEntry, files: list[str]) -> Segment:
    """Open a (verified) segment; ValueError, OSError or RuntimeError when it does not parse."""
    passages = PassageTable.read(folder / PASSAGES)
    vectors = np.load(folder / PASSAGE_VECTORS, mmap_mode="r", allow_pickle=False)
    extras = {name: open_artifact(folder / name) for name in files
              if name not in (PASSAGES, PASSAGE_VECTORS) and is_artifact_name(name)}
    if len(passages) != entry.rows:
        raise ValueError(f"segment {entry.name}: {len(passages)} passages, the manifest says "
                         f"{entry.rows}")
    return Segment(entry, passages, vectors, extras)


def open_artifact(path: Path) -> Any:
    """An array memory-mapped, a FAISS index (memory-mapped when large), or a file's bytes."""
    if path.suffix == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if path.suffix == ".faiss":
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY
        return faiss.read_index(str(path), flags if path.stat().st_size >= _MMAP_FAISS_BYTES
                                else 0)
    return path.read_bytes()


def passage_to_json(passage: Passage) -> str:
    """A passage as one line of ``passages.jsonl`` (:func:`passage_from_json` reads it)."""
    return json.dumps(asdict(passage), ensure_ascii=False)


def passage_from_json(line: str | bytes) -> Passage:
    data = json.loads(line)
    data["footnote_refs"] = tuple(data.get("footnote_refs", ()))
    return Passage(**data)
