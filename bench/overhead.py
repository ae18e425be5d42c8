"""What a request costs besides the model: the real app with the model replaced by a lookup.

    .venv/bin/python bench/overhead.py                 # wrk at 1 and 16 connections
    .venv/bin/python bench/overhead.py --connections 16,16 --duration 8

Starts this same script as a server (``--serve``): the app of ``natoqa serve``
(middlewares, limits, metrics, access log, retrieval over the bench index, answer
composition, JSON) with an embedder that returns precomputed question vectors, so
the model costs nothing. ``wrk`` then posts the question pool; the server's CPU
time per request (user + system, from /proc) is what HTTP, FastAPI and natoqa's
own Python cost. Compare with the model's CPU per question (``bench/service.py``'s
capacity: cores ÷ q/s) to see how much of the cores a request leaves the model.
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving import start_server

from service import ensure_index, load_questions, wrk


def serve(port: int, index: Path) -> None:
    import numpy as np
    import uvicorn

    from natoqa.api.app import create_app
    from natoqa.config import load_settings
    from natoqa.embed.base import Embedded, Embedder, Kind, Vectors, load_embedder
    from natoqa.index.store import IndexStore
    from natoqa.logs import configure_logging
    from natoqa.service.service import QAService

    class Lookup(Embedder):
        """One of 300 real question vectors (and latent terms), chosen by the text's checksum."""

        def __init__(self, real: Embedder, questions: list[str]) -> None:
            self.model_id, self.dim = real.model_id, real.dim
            self.language_means = real.language_means
            self.real = real.embed_batch_terms(questions, kind="query")
            self.vectors = self.real.vectors

        @property
        def has_terms(self) -> bool:
            return True

        def embed_batch(self, texts: Sequence[str], *, kind: Kind) -> Vectors:
            return self.embed_batch_terms(texts, kind=kind).vectors

        def embed_batch_terms(self, texts: Sequence[str], *, kind: Kind) -> Embedded:
            rows = [zlib.crc32(t.encode()) % len(self.vectors) for t in texts]
            return Embedded(np.ascontiguousarray(self.vectors[rows]), self.real.term_ids[rows],
                            self.real.term_weights[rows])

    settings = load_settings(index_dir=index, rate_limit="off", max_concurrent=1024,
                             reload_interval=0, cache_size=0)
    configure_logging(settings.log_level, as_json=settings.log_json)
    service = QAService(Lookup(load_embedder(settings), load_questions()[:300]),
                        IndexStore(index), settings.retrieval)
    service.load()
    uvicorn.run(create_app(settings, service=service), host="127.0.0.1", port=port,
                log_config=None, access_log=False)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--index", type=Path)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    index = ensure_index(args.index)
    if args.serve:
        serve(args.port, index)
        return
    log = Path(f"/tmp/natoqa-overhead-{os.getpid()}.log")
    proc, url = start_server(index, log, {}, ready="/readyz",
                             command=[sys.executable, __file__, "--index", str(index), "--serve"])
    try:
        pool = load_questions()[300:]
        wrk(url, pool[:200], 16, 3)  # warm-up
        for c in (int(x) for x in args.connections.split(",")):
            before = cpu_seconds(proc.pid)
            run: dict[str, Any] = wrk(url, pool, c, args.duration)
            used = cpu_seconds(proc.pid) - before
            p50 = run["latency_ms"].get("p50", 0)
            print(f"wrk -c{c}: {run['rps']:.0f} req/s, p50 {p50:.1f} ms; "
                  f"server CPU {1000 * used / run['requests']:.2f} ms per request "
                  f"({used / args.duration:.2f} cores), non-2xx {run['non_2xx']}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
