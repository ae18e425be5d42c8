"""What retrieval needs of a version beyond its vectors, computed once when it is built.

A server opens these instead of deriving them from every passage at start-up and
at every live switch: the inverted index (:mod:`natoqa.index.lexicon`), the names
the passages contain (acronyms, numbers: abstention asks whether a question names
something the corpus never does), the corpus's language, and, for large versions,
the nearest-neighbour graphs (:mod:`natoqa.index.ann`). A version built before they
were stored gets them derived at load, with a warning (slow at scale, as before).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.index import ann
from natoqa.index import units as sentence_units
from natoqa.index.lexicon import Lexicon
from natoqa.index.reader import VersionReader
from natoqa.index.store import IndexVersion
from natoqa.models import DocumentMeta, Passage
from natoqa.text.analyzer import identifiers
from natoqa.text.language import DEFAULT as DEFAULT_LANGUAGE
from natoqa.text.language import detect_language

log = logging.getLogger(__name__)

NAMES_FILE = "names.json"
#: passages from which a version gets nearest-neighbour graphs (below: exact search)
ANN_MIN_PASSAGES = 5_000


def build(
    passages: Sequence[Passage],
    units: Mapping[str, npt.NDArray[Any]],
    vectors: npt.NDArray[np.float32],
    *,
    ann_min_passages: int = ANN_MIN_PASSAGES,
    word_counts: Counter[str] | None = None,
) -> dict[str, Any]:
    """A segment's artifacts (file name → array, bytes or FAISS index). ``word_counts``: the
    words of the segments it joins, so its compounds split as theirs do."""
    texts = [p.text for p in passages]
    out: dict[str, Any] = dict(Lexicon.build(texts, word_counts=word_counts).files())
    names = sorted(set().union(*(identifiers(p.text) for p in passages)))
    out[NAMES_FILE] = json.dumps({"identifiers": names}, ensure_ascii=False).encode()
    if len(passages) >= ann_min_passages:
        out[ann.PASSAGES_FILE] = ann.build(vectors, ann.SPECS[ann.PASSAGES_FILE])
        unit_vectors = units.get(sentence_units.VECTORS_FILE)
        if unit_vectors is not None and len(unit_vectors):
            out[ann.UNITS_FILE] = ann.build(unit_vectors, ann.SPECS[ann.UNITS_FILE])
    return out


def corpus_language(passages: Iterable[Passage], metas: Mapping[str, DocumentMeta]) -> str:
    """The language most passages are in (their documents' metadata first)."""
    counts: dict[str, int] = {}
    for passage in passages:
        meta = metas.get(passage.doc_id)
        language = meta.language if meta and meta.language else None
        language = language or detect_language(passage.text[:500])
        counts[language] = counts.get(language, 0) + 1
    return max(sorted(counts), key=counts.__getitem__) if counts else DEFAULT_LANGUAGE


# -- reading them back (with fallbacks for versions built before they were stored) --

def lexicons(index: IndexVersion, names: set[str] | None = None,
             ) -> list[tuple[Lexicon, npt.NDArray[np.int64]]]:
    """Each segment's lexicon (of the segments ``names``, if given) with its live rows."""
    out = []
    for segment in index.segments:
        if names is not None and segment.name not in names:
            continue
        try:
            lexicon = Lexicon.from_files(segment.extras, len(segment.passages))
        except ValueError as exc:
            if index.manifest.format > 1:
                log.warning("index %s: the lexicon of segment %s is unusable (%s): rebuilding "
                            "it in memory", index.version, segment.name, exc)
            lexicon = Lexicon.build([p.text for p in segment.passages])
        out.append((lexicon, segment.live))
    return out


def passage_names(index: IndexVersion) -> set[str]:
    """The identifiers (acronyms, numbers) the version's passages contain (a deleted
    document's too, until its segment is merged)."""
    names: set[str] = set()
    for segment in index.segments:
        raw = segment.extras.get(NAMES_FILE)
        if raw is not None:
            try:
                names.update(json.loads(raw)["identifiers"])
                continue
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("index %s: %s unreadable (%s): deriving it", index.version,
                            NAMES_FILE, exc)
        names.update(*(identifiers(p.text) for p in segment.passages))
    return names


def version_language(index: IndexVersion | VersionReader) -> str:
    return index.manifest.corpus_language or corpus_language(
        index.passages, {d: r.meta for d, r in index.documents.items()})
