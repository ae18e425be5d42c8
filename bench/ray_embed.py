"""A build's passage embedding on Ray (natoqa.embed.ray_embedder) against the same work done here.

Embeds N passages (XQuAD's German paragraphs from shared/benchmarks/xquad_de, else the
bundled corpus's passages) as a build's passage loop does: longest first, in batches of
EMBED_CHUNK, handed over whole (``embed_batches``). Once with the model in this process,
then on a local Ray cluster (tests/engines/ray_cluster.py, started here with --cpus CPUs)
with each ``WORKERSxTHREADS`` of --ray (a worker reserves THREADS CPUs and runs the model
on as many threads). Prints texts/s for each and whether the vectors equal the local ones;
``--json FILE`` writes them. A Ray run's time includes its workers' model loading, which
every embedding loop of a build pays once (its actors live as long as the loop); the
model's load in this process is shown apart. Peak memory per worker is sampled from
the workers' processes (RSS, every 0.2 s).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/ray_embed.py --json /tmp/ray_embed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engines.ray_cluster import start_cluster, use_loopback  # noqa: E402

XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad_de" / "corpus.jsonl"


def passages(limit: int) -> tuple[str, list[str]]:
    """Up to ``limit`` passage texts and where they come from."""
    if XQUAD.exists():
        rows = [json.loads(line) for line in XQUAD.read_text("utf-8").splitlines() if line]
        return "XQuAD de paragraphs", [r["text"] for r in rows][:limit]
    from natoqa.ingest import passages as split
    from natoqa.ingest.cleaning import clean
    from natoqa.ingest.sources import scan_corpus

    texts = [p.text for raw in scan_corpus(ROOT / "corpus", None).documents
             for p in split.split(clean(raw), min_words=60, max_words=200)]
    return "bundled corpus passages", texts[:limit]


class PeakMemory:
    """The largest RSS seen of each Ray Data worker process (``ray::MapWorker…``)."""

    def __init__(self) -> None:
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            for proc in psutil.process_iter(["pid", "name", "cmdline"]):
                title = " ".join(proc.info["cmdline"] or []) or proc.info["name"] or ""
                if "MapWorker" not in title:
                    continue
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=240)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2,
                        help="CPUs of the local Ray cluster")
    parser.add_argument("--ray", nargs="+", default=["1x1", "2x1", "1x2"],
                        help="Ray runs as WORKERSxTHREADS")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    use_loopback()

    import ray

    from natoqa.config import load_settings
    from natoqa.embed.base import load_embedder
    from natoqa.embed.ray_embedder import connect
    from natoqa.index.builder import EMBED_CHUNK

    source, texts = passages(args.passages)
    texts.sort(key=len, reverse=True)  # as the builder hands them over
    batches = [texts[i : i + EMBED_CHUNK] for i in range(0, len(texts), EMBED_CHUNK)]
    print(f"{len(texts)} {source} ({sum(map(len, texts)) / len(texts):.0f} characters on "
          f"average) in {len(batches)} batches of up to {EMBED_CHUNK}", flush=True)
    rows: list[dict[str, Any]] = []

    t = time.perf_counter()
    local = load_embedder(load_settings())
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    reference = np.concatenate([out.vectors for out in
                                local.embed_batches(batches, kind="passage")])
    seconds = time.perf_counter() - t
    rows.append({"run": "local", "workers": 0, "threads": os.cpu_count(), "seconds": seconds,
                 "texts_per_s": len(texts) / seconds, "model_load_s": load_s})
    print(f"local ({os.cpu_count()} threads)  {len(texts) / seconds:6.2f} texts/s  "
          f"{seconds:6.1f} s  (model load {load_s:.1f} s apart)", flush=True)
    del local

    with start_cluster(cpus=args.cpus) as address:
        for spec in args.ray:
            workers, threads = (int(n) for n in spec.split("x"))
            settings = load_settings(ray_address=address, ray_workers=workers,
                                     torch_threads=threads)
            t = time.perf_counter()
            remote = connect(settings)
            describe_s = time.perf_counter() - t
            with PeakMemory() as memory:
                t = time.perf_counter()
                got = np.concatenate([out.vectors for out in
                                      remote.embed_batches(batches, kind="passage")])
                seconds = time.perf_counter() - t
            equal = bool(np.array_equal(got, reference))
            peak = max(memory.peak.values(), default=0) / 2**20
            rows.append({"run": f"ray {spec}", "workers": workers, "threads": threads,
                         "seconds": seconds, "texts_per_s": len(texts) / seconds,
                         "connect_s": describe_s, "equal_to_local": equal,
                         "max_abs_diff": float(np.abs(got - reference).max()),
                         "peak_rss_mb_per_worker": round(peak),
                         "worker_processes_seen": len(memory.peak)})
            print(f"ray {workers} worker(s) x {threads} thread(s)  "
                  f"{len(texts) / seconds:6.2f} texts/s  {seconds:6.1f} s  (worker startup "
                  f"included; connect {describe_s:.1f} s apart)  vectors equal: {equal}  "
                  f"peak RSS per worker {peak:.0f} MB ({len(memory.peak)} seen)", flush=True)
        ray.shutdown()

    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "ray": ray.__version__},
            "source": source, "passages": len(texts), "batch": EMBED_CHUNK,
            "cluster_cpus": args.cpus, "runs": rows,
        }, indent=2), "utf-8")


if __name__ == "__main__":
    main()
