"""What retrieval reads of a version stored elsewhere than in files (issue 20).

The files store's versions (:class:`natoqa.index.store.IndexVersion`) are read by
:class:`natoqa.retrieve.candidates.Corpus` through their segments. A version in a
database (:class:`natoqa.index.postgres_reader.PostgresVersion`) implements
:class:`VersionReader` instead: the per-version tables a server holds (passages' columns,
documents, BM25's postings, names), the nearest passages and units of query vectors, and
the rows of some passages (vectors, units, latent terms) for rescoring.
:class:`natoqa.retrieve.reader_corpus.ReaderCorpus` turns the last two into what
:class:`~natoqa.retrieve.candidates.Corpus` gives the retriever (docs/SCALE-OUT.md §2b).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from natoqa.index.lexicon import Lexicon
from natoqa.index.segments import PassageTable
from natoqa.index.store import DocumentRecord, Manifest
from natoqa.models import Passage

Vectors = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StoredRows:
    """Some passages' rows, as rescoring needs them (the passages in the order asked)."""

    passage: Vectors  # (m, d)
    units: Vectors  # (u, d) their units, passage by passage
    unit_of: Rows  # (u,) each unit's position among the m passages
    spans: npt.NDArray[np.int32]  # (u, 2) where each unit stands in its passage's text
    term_ids: npt.NDArray[np.signedinteger[Any]] | None  # (u, T) latent terms, if stored
    term_weights: Vectors | None


class VersionReader(Protocol):
    """One version of a store, opened for questions; row ``i`` is ``passages[i]``."""

    version: str
    manifest: Manifest
    documents: dict[str, DocumentRecord]
    passages: PassageTable
    #: the version's sentence units, and whether all of them have latent terms
    unit_count: int
    stored_terms: bool

    def __len__(self) -> int: ...

    def lexicons(self) -> list[tuple[Lexicon, Rows]]:
        """BM25's postings, as :func:`natoqa.index.artifacts.lexicons` gives a files
        version's."""
        ...

    def names(self) -> set[str]:
        """The identifiers the passages contain (:func:`natoqa.index.artifacts.passage_names`)."""
        ...

    def nearest(self, queries: Vectors, width: int, ef: int, *,
                units: bool | None = None, unit_ef: int | None = None) -> Rows:
        """The rows of the ``width`` nearest passages and of the passages of the ``width``
        nearest units (``units`` True or False: only these, or only passages) of every
        query vector, flattened, repeats allowed; ``ef`` and ``unit_ef`` (default: ``ef``)
        say how widely the passages' and the units' searches look."""
        ...

    def fetch(self, rows: Rows) -> StoredRows:
        """The rows ``rows`` (sorted, distinct) with their units and terms."""
        ...

    def passage(self, passage_id: str) -> Passage:
        """A passage by id; NotFound when the version has none of that id."""
        ...

    def document_rows(self, doc_id: str) -> list[int]:
        """Rows of a document's passages in reading order (:class:`ReadingOrder`)."""
        ...

    def neighbours(self, passage_id: str, window: int = 1) -> tuple[list[Passage], list[Passage]]:
        """The passages just before and after one, of the same kind, in reading order."""
        ...

    def close(self) -> None:
        """Release what the version holds (connections) once requests on it are done."""
        ...
