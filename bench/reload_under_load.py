"""A real server queried without pause through consecutive rebuild-and-switch cycles.

Starts ``natoqa serve`` on a loopback port (reload check every second, answer
cache off, rate limit off), runs ``--clients`` threads that POST questions from
the German XQuAD set to /api/v1/ask back to back, and meanwhile ``--cycles``
times: changes one document, rebuilds with the real builder (in this process)
and waits until the server reports the new version. Prints failed requests
(must be 0), how long each switch took to be picked up, and request latency
while steady, while a build runs (CPU shared with the build), and around the
switches (from the build's end to 0.5 s after the server reported the new
version, not overlapping a build).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/reload_under_load.py --workdir /tmp/natoqa-bench
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from make_corpus import make_corpus
from serving import start_server

from natoqa.config import load_settings
from natoqa.embed.base import load_embedder
from natoqa.evaluate.evaluation import percentile
from natoqa.index.builder import build_index
from natoqa.index.store import IndexStore

QUERIES = Path(__file__).resolve().parents[2] / "shared/benchmarks/xquad_de/queries.jsonl"
TOKEN = "bench-admin-token"


@dataclass
class Request:
    start: float
    end: float
    ok: bool
    detail: str = ""


@dataclass
class Cycle:
    build_start: float
    built: float = 0.0
    seen: float = 0.0
    version: str = ""
    embedded: int = 0


def start(index: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(index, log, {
        "NATOQA_RELOAD_INTERVAL": "1", "NATOQA_ADMIN_TOKEN": TOKEN, "NATOQA_RATE_LIMIT": "off",
        "NATOQA_CACHE_SIZE": "0", "NATOQA_LOG_LEVEL": "warning"}, timeout=120)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ms = sorted(v * 1000 for v in values)
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1), "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(ms[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/natoqa-bench"))
    parser.add_argument("--documents", type=int, default=320)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0, help="Seconds between cycles.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)

    corpus, index = args.workdir / "corpus", args.workdir / "index"
    if not corpus.is_dir():
        make_corpus(corpus, args.documents)
    docs = sorted(corpus.glob("*.txt"))
    embedder = load_embedder(load_settings())
    if not IndexStore(index).exists():
        print("building the index first (full build)…", flush=True)
        build_index(corpus, index, embedder)
    questions = [json.loads(line)["question"] for line in QUERIES.read_text().splitlines()]

    proc, url = start(index, args.workdir / "server.log")
    requests: list[Request] = []
    seen: list[tuple[float, str]] = []
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            i = n
            while not stop.is_set():
                i += args.clients
                t = time.monotonic()
                try:
                    r = http.post("/api/v1/ask", json={"question": questions[i % len(questions)]})
                    ok, detail = r.status_code == 200, f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, detail = False, repr(exc)
                requests.append(Request(t, time.monotonic(), ok, "" if ok else detail))

    def poll_version() -> None:
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            while not stop.is_set():
                version = http.get("/api/v1/admin/status").json()["version"]
                seen.append((time.monotonic(), version))
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    threads.append(threading.Thread(target=poll_version))
    for t in threads:
        t.start()
    cycles: list[Cycle] = []
    try:
        time.sleep(args.settle)  # steady load before the first build
        for c in range(args.cycles):
            doc = docs[(c * 37) % len(docs)]
            with doc.open("a", encoding="utf-8") as fh:
                fh.write(f"\nNachtrag {c}: Dieser Satz kam mit Zyklus {c} des Benchmarks.\n")
            cycle = Cycle(time.monotonic())
            report = build_index(corpus, index, embedder)
            cycle.built, cycle.version = time.monotonic(), report.version
            cycle.embedded = report.passages_embedded
            while not any(v == report.version for _, v in seen[-5:]):
                time.sleep(0.01)
            cycle.seen = time.monotonic()
            cycles.append(cycle)
            print(f"cycle {c + 1}: built {report.version} in {cycle.built - cycle.build_start:.2f}s"
                  f" ({report.passages_embedded} embedded), serving it "
                  f"{cycle.seen - cycle.built:.2f}s later", flush=True)
            time.sleep(args.settle)
    finally:
        stop.set()
        for t in threads:
            t.join(120)
        proc.terminate()
        proc.wait(30)

    def overlaps(r: Request, a: float, b: float) -> bool:
        return r.start < b and r.end > a

    switch: list[Request] = []
    building: list[Request] = []
    steady: list[Request] = []
    for r in requests:
        # a build competes for the CPU: requests that overlap one are counted apart, so that
        # "around_switch" shows what the server's load-and-swap itself costs
        if any(overlaps(r, c.build_start, c.built) for c in cycles):
            building.append(r)
        elif any(overlaps(r, c.built, c.seen + 0.5) for c in cycles):
            switch.append(r)
        else:
            steady.append(r)
    failures = [r for r in requests if not r.ok]
    delays = [c.seen - c.built for c in cycles]
    versions = {v for _, v in seen}
    summary: dict[str, Any] = {
        "cycles": len(cycles),
        "clients": args.clients,
        "documents": len(docs),
        "requests": len(requests),
        "failed": len(failures),
        "failures": [r.detail for r in failures[:5]],
        "versions_served": len(versions),
        "switch_seen_after_s": {"min": round(min(delays), 2),
                                "median": round(statistics.median(delays), 2),
                                "max": round(max(delays), 2)},
        "build_s": round(statistics.median(c.built - c.build_start for c in cycles), 2),
        "latency": {"all": percentiles([r.end - r.start for r in requests]),
                    "steady": percentiles([r.end - r.start for r in steady]),
                    "during_build": percentiles([r.end - r.start for r in building]),
                    "around_switch": percentiles([r.end - r.start for r in switch])},
    }
    print(json.dumps(summary, indent=1))
    print(f"{len(requests)} requests through {len(cycles)} rebuild-and-switch cycles: "
          f"{len(failures)} failed")
    sys.exit(1 if failures or len(cycles) < args.cycles else 0)


if __name__ == "__main__":
    main()
