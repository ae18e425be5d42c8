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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from natoqa.index import ann
from natoqa.index import units as sentence_units
from natoqa.index.lexicon import Lexicon
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
    metas: Mapping[str, DocumentMeta],
    units: Mapping[str, npt.NDArray[Any]],
    vectors: npt.NDArray[np.float32],
    *,
    ann_min_passages: int = ANN_MIN_PASSAGES,
) -> dict[str, Any]:
    """The artifacts for a version's ``extras`` (file name → array, bytes or FAISS index)."""
    out: dict[str, Any] = dict(Lexicon.build([p.text for p in passages]).files())
    names = sorted(set().union(*(identifiers(p.text) for p in passages)))
    out[NAMES_FILE] = json.dumps({"identifiers": names}, ensure_ascii=False).encode()
    if len(passages) >= ann_min_passages:
        out[ann.PASSAGES_FILE] = ann.build(vectors, ann.SPECS[ann.PASSAGES_FILE])
        unit_vectors = units.get(sentence_units.VECTORS_FILE)
        if unit_vectors is not None and len(unit_vectors):
            out[ann.UNITS_FILE] = ann.build(unit_vectors, ann.SPECS[ann.UNITS_FILE])
    return out


def corpus_language(passages: Sequence[Passage], metas: Mapping[str, DocumentMeta]) -> str:
    """The language most passages are in (their documents' metadata first)."""
    counts: dict[str, int] = {}
    for passage in passages:
        meta = metas.get(passage.doc_id)
        language = meta.language if meta and meta.language else None
        language = language or detect_language(passage.text[:500])
        counts[language] = counts.get(language, 0) + 1
    return max(sorted(counts), key=counts.__getitem__) if counts else DEFAULT_LANGUAGE


# -- reading them back (with fallbacks for versions built before they were stored) --

def lexicon(index: IndexVersion) -> Lexicon:
    try:
        return Lexicon.from_files(index.extras, len(index.passages))
    except ValueError as exc:
        if index.manifest.format > 1:
            log.warning("index %s: its lexicon is unusable (%s): rebuilding it in memory",
                        index.version, exc)
        return Lexicon.build([p.text for p in index.passages])


def passage_names(index: IndexVersion) -> set[str]:
    """The identifiers (acronyms, numbers) the version's passages contain."""
    raw = index.extras.get(NAMES_FILE)
    if raw is not None:
        try:
            return set(json.loads(raw)["identifiers"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("index %s: %s unreadable (%s): deriving it", index.version,
                        NAMES_FILE, exc)
    return set().union(*(identifiers(p.text) for p in index.passages))


def version_language(index: IndexVersion) -> str:
    return index.manifest.corpus_language or corpus_language(
        index.passages, {d: r.meta for d, r in index.documents.items()})


def graphs(index: IndexVersion) -> tuple[Any, Any]:
    """The version's (passage, unit) nearest-neighbour graphs; None where it has none."""
    return index.extras.get(ann.PASSAGES_FILE), index.extras.get(ann.UNITS_FILE)
