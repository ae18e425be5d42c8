"""Median latency of 100 different questions asked one at a time to a running server.

    .venv/bin/natoqa serve --port 8765 &
    .venv/bin/python bench/ask_latency.py --url http://127.0.0.1:8765

Questions come from the development set (eval/), each asked once, so the
answer cache never serves them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def questions(n: int) -> list[str]:
    found: list[str] = []
    for name in ("devset.jsonl", "followups.jsonl"):
        with (ROOT / "eval" / name).open(encoding="utf-8") as fh:
            found.extend(json.loads(line)["question"] for line in fh if line.strip())
    unique = list(dict.fromkeys(found))
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} distinct questions in eval/")
    return unique[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("-n", type=int, default=100)
    args = parser.parse_args()
    client = httpx.Client(base_url=args.url, timeout=30)
    client.post("/api/v1/ask", json={"question": "Aufwärmen?"}).raise_for_status()
    wall, server = [], []
    for q in questions(args.n):
        started = time.perf_counter()
        response = client.post("/api/v1/ask", json={"question": q})
        wall.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        server.append(response.json()["took_ms"])
    wall.sort()
    print(
        f"{args.n} distinct questions, one at a time: median {statistics.median(wall):.1f} ms, "
        f"p95 {wall[int(0.95 * len(wall)) - 1]:.1f} ms (client wall clock); "
        f"server took_ms median {statistics.median(server):.1f} ms"
    )


if __name__ == "__main__":
    main()
