"""The synthesised-vector build of bench/scale.py with another segment size (one segment of
100,003 passages here), for docs/SCALE.md "One segment instead of six".

    HF_HUB_OFFLINE=1 PYTHONPATH=src .venv/bin/python \
        docs/bench-results/2026-12-07-segments/build_one.py /tmp/natoqa-scale/corpus-100000 \
        /tmp/natoqa-scale/index-100000-synthetic-one /tmp/natoqa-scale/index-10000-real 100000
"""

import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import scale  # noqa: E402

from natoqa.config import load_settings  # noqa: E402
from natoqa.embed.base import load_embedder  # noqa: E402
from natoqa.index.builder import build_index  # noqa: E402

logging.basicConfig(level=logging.WARNING)
corpus, index, seed = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
embedder = scale.synthetic_embedder(load_embedder(load_settings()), seed, corpus.parent)
start = time.time()
report = build_index(corpus, index, embedder, segment_passages=int(sys.argv[4]))
print(json.dumps({**report.to_dict(), "wall": time.time() - start}))
