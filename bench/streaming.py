"""What a streamed answer gains a reader: time to the first event vs the whole JSON answer.

    .venv/bin/python bench/streaming.py --url http://127.0.0.1:8000 --rounds 3

Against a running server (``natoqa serve``), for each question of a fixed set,
``--rounds`` times each, alternating: the JSON answer (``/api/v1/ask``), and the
same question streamed (``"stream": true``) timed to its first byte, its
``citations`` event and its ``done`` event; plus ``/v1/chat/completions``.
Questions get a per-round suffix so the server's answer cache does not serve them.
Prints p50/max per measure in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import httpx
from httpx_sse import connect_sse

QUESTIONS = [
    "Was ist das New Force Model?",
    "Wie viele Menschen arbeiten im Internationalen Sekretariat?",
    "Was erbt Rutte von Stoltenberg?",
    "Who succeeded Jens Stoltenberg as NATO Secretary General?",
    "Wie groß soll die Allied Reaction Force sein?",
    "Welche Rolle spielt China für die NATO?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {
        k: [] for k in ("json", "sse_first_byte", "sse_citations", "sse_done", "openai")
    }
    with httpx.Client(base_url=args.url, timeout=120) as client:
        client.post("/api/v1/ask", json={"question": "Warm-up"}).raise_for_status()
        for r in range(args.rounds):
            for q in QUESTIONS:
                question = f"{q} ({r})"
                t0 = time.perf_counter()
                client.post("/api/v1/ask", json={"question": question + " j"}).raise_for_status()
                times["json"].append((time.perf_counter() - t0) * 1000)

                t0 = time.perf_counter()
                body = {"question": question + " s", "stream": True}
                with connect_sse(client, "POST", "/api/v1/ask", json=body) as source:
                    first = True
                    for event in source.iter_sse():
                        now = (time.perf_counter() - t0) * 1000
                        if first:
                            times["sse_first_byte"].append(now)
                            first = False
                        if event.event == "citations":
                            times["sse_citations"].append(now)
                        elif event.event == "done":
                            times["sse_done"].append(now)
                            json.loads(event.data)

                t0 = time.perf_counter()
                client.post(
                    "/v1/chat/completions",
                    json={"model": "natoqa", "messages": [{"role": "user", "content": question}]},
                ).raise_for_status()
                times["openai"].append((time.perf_counter() - t0) * 1000)
    n = len(times["json"])
    print(f"{n} questions per measure against {args.url}")
    for name, values in times.items():
        print(f"{name:>16}: p50 {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")


if __name__ == "__main__":
    main()
