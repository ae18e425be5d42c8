"""Approximate nearest-neighbour graphs over a version's passage and sentence-unit vectors.

Small versions have none: scoring every vector is exact and, below a few thousand
passages, cheaper than a graph walk, so retrieval does that. From ``min_rows``
vectors on, the builder adds an HNSW graph (FAISS) per kind of vector, which
retrieval asks for candidates that it then rescores exactly from the stored
vectors. HNSW rather than IVF: no training, and it reaches recall@50 ≥ 0.99 with
a modest ``efSearch`` (docs/SCALE.md has the measurements). Passage vectors are
stored in their graph as they are (Flat). Unit vectors, 14 per passage, are stored
as 4-bit scalar codes (an eighth of the bytes; the exact cosine is taken from the
``.npy`` afterwards): a graph is what a server keeps in memory, and with 8-bit codes
the 1.4 million units of 100,000 passages took 870 MB of it. Among their 200
nearest, 4-bit codes found the exact 50 nearest as often as 8-bit ones (0.997
against 0.966 on 280,000 synthesised units, 0.997 against 0.996 on 3,124 real
ones); over the whole search, recall@50 against exact search fell from 0.954 to
0.945 at 10,000 passages with both graphs 4-bit, dev-set R@5 unchanged (docs/SCALE.md).
"""

from __future__ import annotations

import os
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from natoqa.index.rows import RowFile

PASSAGES_FILE = "passages.ann.faiss"
UNITS_FILE = "sentence.ann.faiss"
#: FAISS factory strings by the vectors they index
SPECS = {PASSAGES_FILE: "HNSW32,Flat", UNITS_FILE: "HNSW32,SQ4"}
#: how widely a graph looks for each vector's neighbours as it is built: 80 left the 10,000
#: real passages' graphs finding 0.957 (passages) and 0.783 (units) of the 50 nearest among
#: the 200 asked for, 200 finds 0.970 and 0.897 (docs/SCALE.md); the graphs take three
#: times as long to build (28 s of a 900 s build at 10,000 passages)
EF_CONSTRUCTION = 200


#: rows copied at a time out of the vectors a graph is built over
CHUNK = 50_000


def build(vectors: npt.NDArray[np.float32], spec: str) -> Any:
    """An inner-product HNSW index over ``vectors`` (row ids = row numbers), read
    :data:`CHUNK` rows at a time (a memory map's from its file: :func:`rows`)."""
    index = faiss.index_factory(vectors.shape[1], spec, faiss.METRIC_INNER_PRODUCT)
    faiss.ParameterSpace().set_index_parameter(index, "efConstruction", EF_CONSTRUCTION)
    if not index.is_trained:
        # a scalar quantiser learns each dimension's minimum and maximum (RS_minmax, FAISS's
        # default): the two rows of them train it as every row would, read once in chunks
        low = np.full(vectors.shape[1], np.inf, dtype=np.float32)
        high = np.full(vectors.shape[1], -np.inf, dtype=np.float32)
        for start in range(0, len(vectors), CHUNK):
            chunk = rows(vectors, start, start + CHUNK)
            np.minimum(low, chunk.min(axis=0), out=low)
            np.maximum(high, chunk.max(axis=0), out=high)
        index.train(np.stack([low, high]))
    for start in range(0, len(vectors), CHUNK):
        index.add(rows(vectors, start, start + CHUNK))
    return index


def rows(vectors: npt.NDArray[np.float32], start: int, stop: int) -> npt.NDArray[np.float32]:
    """``vectors[start:stop]`` as a float32 copy. A whole ``.npy`` file's memory map is read
    from the file instead (:class:`RowFile`): its pages stay the page cache's, not this
    process's memory."""
    stop = min(stop, len(vectors))
    filename = getattr(vectors, "filename", None)
    if (isinstance(vectors, np.memmap) and filename is not None and vectors.ndim == 2
            and vectors.flags.c_contiguous and start < stop
            and vectors.offset + vectors.nbytes == os.path.getsize(filename)):
        chunk = RowFile(vectors).ranges(np.array([start]), np.array([stop]))
        return np.asarray(chunk, dtype=np.float32)
    return np.ascontiguousarray(vectors[start:stop], dtype=np.float32)


def search(index: Any, queries: npt.NDArray[np.float32], k: int,
           ef: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The inner products and rows of the ``k`` nearest vectors of each query, best first
    (row -1 where there are fewer)."""
    params = faiss.SearchParametersHNSW(efSearch=max(ef, k))  # type: ignore[attr-defined]
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), k,
                                params=params)
    return np.asarray(scores, dtype=np.float32), np.asarray(rows, dtype=np.int64)
