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
from pathlib import Path
from typing import Any

import faiss
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
    spill: Path | None = None,
) -> dict[str, Any]:
    """A segment's artifacts (file name → array, bytes, FAISS index, or the path of a file
    in ``spill``). ``word_counts``: the words of the segments it joins, so its compounds
    split as theirs do. With ``spill``, each graph is written there as soon as it is built
    and dropped: the unit graph (800 MB at 100,000 passages) is then built without the
    texts or the passage graph in memory."""
    out = _lexical(passages, word_counts)
    if len(passages) >= ann_min_passages:
        out[ann.PASSAGES_FILE] = _graph(vectors, ann.PASSAGES_FILE, spill)
        unit_vectors = units.get(sentence_units.VECTORS_FILE)
        if unit_vectors is not None and len(unit_vectors):
            out[ann.UNITS_FILE] = _graph(unit_vectors, ann.UNITS_FILE, spill)
    return out


def _lexical(passages: Sequence[Passage], word_counts: Counter[str] | None) -> dict[str, Any]:
    """The lexicon's and the names' files (the texts are let go when it returns)."""
    texts = [p.text for p in passages]
    out: dict[str, Any] = dict(Lexicon.build(texts, word_counts=word_counts).files())
    names = sorted(set().union(*(identifiers(text) for text in texts)))
    out[NAMES_FILE] = json.dumps({"identifiers": names}, ensure_ascii=False).encode()
    return out


def _graph(vectors: npt.NDArray[np.float32], name: str, spill: Path | None) -> Any:
    graph = ann.build(vectors, ann.SPECS[name])
    if spill is None:
        return graph
    spill.mkdir(parents=True, exist_ok=True)
    faiss.write_index(graph, str(spill / name))
    return spill / name


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


def word_counts(index: IndexVersion, names: set[str]) -> Counter[str]:
    """The words of the segments ``names``: a new segment's compounds are split by them
    as well as by its own, so they split alike in all."""
    counts: Counter[str] = Counter()
    for lexicon, _ in lexicons(index, names):
        counts.update(lexicon.word_counts)
    return counts


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
